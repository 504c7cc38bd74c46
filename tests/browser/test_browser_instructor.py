"""An instructor in a plain JupyterLab at the course folder (after `autograder configure`): nbgrader's
Formgrader, opened from its menu, lists every active assignment of course.yml with its due date."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from .lab_ui import ENABLE, choose

expect = pytest.importorskip("playwright.sync_api", reason=ENABLE).expect


def test_formgrader_lists_the_course_assignments(lab, page, shot, configured_course: Path) -> None:
    from autograder.course import load_course

    assignments = load_course(configured_course / "course.yml").active
    server = lab(configured_course)
    page.goto(server.url("lab"))
    page.locator(".lm-MenuBar-itemLabel:text-is('Nbgrader')").wait_for(timeout=90_000)
    shot(page, "instructor-lab")
    choose(page, "Nbgrader", "Formgrader")
    formgrader = page.frame_locator(".jp-MainAreaWidget iframe")  # Lab 4 opens Formgrader in a tab
    table = formgrader.locator("table.table")
    for assignment in assignments:  # formgrader shows due dates in UTC
        row = table.locator("tr", has=formgrader.locator("td:first-child", has_text=assignment.id))
        expect(row).to_contain_text(assignment.due.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M"),
                                    timeout=60_000)
    shot(page, "formgrader-assignments")

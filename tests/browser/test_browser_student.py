"""A student in JupyterLab, in a student environment (`autograder student-env`): the released assignment runs
top to bottom without a traceback, a part answered by typing into its cell passes its check, nbgrader's
Validate answers, and none of nbgrader's instructor tools is offered."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from .lab_ui import (ENABLE, NOTEBOOK, code_cell, commands, menu_bar, notebook_text, open_menu, open_notebook,
                     replace_source, run_all, save, sidebar_tabs, tracebacks, wait_until_done)
from .scratch_course import NOTEBOOK as PATH

expect = pytest.importorskip("playwright.sync_api", reason=ENABLE).expect

# What a student types for the first part (char_encode); the check cell below it is `check("char-encode", ...)`.
ANSWER = '''SPECIALS = ["<pad>", "<bos>", "<eos>"]


def char_encode(text: str, alphabet: str) -> list[int]:
    vocabulary = sorted(set(alphabet))
    return [len(SPECIALS) + vocabulary.index(ch) for ch in text]
'''
INSTRUCTOR_TOOLS = ("Formgrader", "Create Assignment", "Course List", "Assignment List")
INSTRUCTOR_COMMANDS = {"nbgrader:open-formgrader", "nbgrader:open-formgrader-local", "nbgrader:open-create-assignment",
                       "nbgrader:open-course-list", "nbgrader:open-assignment-list"}


def test_run_all_answer_a_part_and_validate(lab, page, shot, student_home: Path, student_config: Path) -> None:
    server = lab(student_home, student_config)
    open_notebook(page, server, PATH)
    shot(page, "notebook-open-kernel-idle")

    run_all(page)
    shot(page, "after-run-all")
    save(page)
    cells = json.loads((student_home / PATH).read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    not_run = ["".join(c["source"])[:60] for c in code if c["execution_count"] is None]
    assert not not_run, f"Run All stopped before these cells: {not_run}"
    errors = [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, f"Run All raised: {[e['ename'] + ': ' + e['evalue'] for e in errors]}"
    assert not tracebacks(page)
    assert "not answered yet" in notebook_text(page)

    answer = code_cell(page, "def char_encode")
    replace_source(page, answer, ANSWER)
    shot(page, "answer-typed")
    page.keyboard.press("Shift+Enter")  # runs the answer and moves to its check cell
    page.keyboard.press("Shift+Enter")  # runs the check
    wait_until_done(page)
    check = code_cell(page, 'check("char-encode"')
    expect(check.locator(".jp-OutputArea")).to_contain_text("✓ char-encode: all visible checks pass")
    check.scroll_into_view_if_needed()
    shot(page, "check-passes")

    page.locator(f"{NOTEBOOK} .validate-button").click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog.locator(".jp-Dialog-header")).to_have_text("Validation Results", timeout=300_000)
    shot(page, "validate-result")
    message = dialog.locator("#validation-message")
    assert "error running the validate command" not in dialog.text_content()
    assert 'check("char-encode"' not in message.text_content(), "Validate reports the answered part as failing"
    assert 'check("merge-pair"' in message.text_content(), "Validate lists a part not answered yet"
    dialog.get_by_role("button", name="Ok").click()


def test_student_lab_offers_validate_and_no_instructor_tool(lab, page, shot, student_home: Path,
                                                           student_config: Path) -> None:
    server = lab(student_home, student_config)
    open_notebook(page, server, PATH)
    expect(page.locator(f"{NOTEBOOK} .validate-button")).to_be_visible()
    assert not INSTRUCTOR_COMMANDS & set(commands(page)), "the student's Lab registers instructor commands"
    assert page.request.get(server.url("formgrader")).status == 404, "the student's server serves formgrader"
    offered = sidebar_tabs(page)
    if "Nbgrader" in menu_bar(page):
        offered += open_menu(page, "Nbgrader")
        shot(page, "nbgrader-menu")
        page.keyboard.press("Escape")
    shot(page, "student-lab")
    shown = [tool for tool in INSTRUCTOR_TOOLS if any(tool.lower() in label.lower() for label in offered)]
    assert not shown, f"the student's Lab offers {shown}"

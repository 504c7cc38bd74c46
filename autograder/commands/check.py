"""`autograder check NOTEBOOK`: the notebook's visible checks from the command line, with the same messages."""
from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from ..course import Assignment, Course

HELP = "run a notebook's visible self-checks from the command line"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("notebook", type=Path)


def assignment_of(course: Course, notebook: Path) -> tuple[Assignment, Path]:
    for a in course.assignments:
        for source in a.notebooks:
            if source.name == notebook.name:
                return a, source
    raise SystemExit(f"error: {notebook.name} is not a notebook of any assignment in course.yml")


def check_notebook(course: Course, notebook: Path) -> int:
    from ..content import bind_parts  # these import torch and nbformat: not at start-up
    from ..grading.intake import inspect
    from ..notebook import code_to_run, graded_cells, read_notebook
    from ..student_files import write_support_files
    from ..workers.client import Worker

    assignment, source = assignment_of(course, notebook)
    source_nb = read_notebook(course.root / source)
    intake = inspect(notebook, source_nb)
    for note in intake.notes:
        print(f"{notebook.name}: {note}")
    if intake.nb is None:
        return 1
    failures = 0
    with tempfile.TemporaryDirectory(prefix="check-") as scratch:
        support = Path(scratch)
        release_support = course.root / "release" / assignment.id
        if (release_support / "fixtures").is_dir():
            shutil.copytree(release_support / "fixtures", support / "fixtures")
            shutil.copytree(release_support / "coursekit", support / "coursekit")
        else:
            write_support_files(support, assignment, course)
        with Worker(code_to_run(intake.nb), assignment.limits.check_timeout_s, cwd=scratch) as worker:
            for cell, part in bind_parts(course, assignment, graded_cells(source_nb)):
                if cell.cell_type == "markdown":
                    continue
                problem = part.self_check(worker, support / "fixtures")
                failures += problem is not None
                print(f"✗ {part.id}: {problem}" if problem else f"✓ {part.id}: all visible checks pass")
    return 1 if failures else 0


def run(course: Course, args: argparse.Namespace) -> int:
    return check_notebook(course, args.notebook)

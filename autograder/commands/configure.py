"""`autograder configure`: the course folder set up for a plain `jupyter lab` in it. nbgrader_config.py from
course.yml (formgrader and nbgrader's command line read it), every active assignment with its due date in the
gradebook, and coursekit/, fixtures/, data/ beside each source notebook so that it runs in place (these
folders are generated and gitignored; a release keeps only nbgrader's notebooks and writes its own copies)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..course import Assignment, Course
from ..nbgrader_run import write_config

HELP = "write nbgrader_config.py, register assignments and due dates, and let source notebooks run in place"


def write_support_folders(course: Course, assignments: tuple[Assignment, ...] | list[Assignment]) -> None:
    """coursekit/, fixtures/ and data/ in each assignment's source folder, written afresh."""
    from ..content import folder_of  # imports torch: not at start-up
    from ..student_files import rewrite_support_files

    for assignment in assignments:
        rewrite_support_files(folder_of(course, assignment), assignment, course)


def register_assignments(course: Course) -> None:
    """Every active assignment in nbgrader's gradebook with course.yml's due date (formgrader lists them)."""
    from ..records.gradebook import open_gradebook  # imports nbgrader and SQLAlchemy: not at start-up

    with open_gradebook(course) as gb:
        for assignment in course.active:
            gb.update_or_create_assignment(assignment.id, duedate=assignment.due)


def configure(course: Course) -> Path:
    """Everything `autograder configure` does; returns the path of nbgrader_config.py."""
    path = write_config(course)
    register_assignments(course)
    write_support_folders(course, course.active)
    return path


def run(course: Course, args: argparse.Namespace) -> int:
    from ..content import folder_of

    path = configure(course)
    print(f"wrote {path}")
    for assignment in course.active:
        print(f"{assignment.id}: due {assignment.due:%Y-%m-%d %H:%M %Z}, runs in place in "
              f"{folder_of(course, assignment).relative_to(course.root)}/")
    return 0

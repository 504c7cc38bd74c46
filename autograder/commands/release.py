"""`autograder release [ASSIGNMENT...]`: the student release, built by nbgrader, plus coursekit and fixtures."""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from ..course import Assignment, Course
from ..nbgrader_run import run_nbgrader

HELP = "build the student release of assignments (all active ones by default)"
SUPPORT = ("coursekit", "fixtures", "data")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("assignments", nargs="*")


def release(course: Course, assignment: Assignment) -> Path:
    """release/<assignment>/: nbgrader's student version of each notebook, plus coursekit, fixtures and the data
    files course.yml lists. Nothing else of the source folder goes out (checks, stand-ins, typical mistakes)."""
    from ..student_files import write_support_files  # imports torch: not at start-up

    result = run_nbgrader(course, "generate_assignment", assignment.id, "--force")
    if result.returncode != 0:
        raise RuntimeError(f"nbgrader generate_assignment {assignment.id} failed:\n{result.stdout}{result.stderr}")
    folder = course.root / "release" / assignment.id
    for path in folder.iterdir():
        if not (path.is_file() and path.suffix == ".ipynb"):  # support folders are written afresh below
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    write_support_files(folder, assignment, course)
    return folder


def unexpected_files(folder: Path) -> list[str]:
    """What a release folder holds besides notebooks, coursekit/, fixtures/ and data/ (the release scan)."""
    return sorted(p.name for p in folder.iterdir()
                  if p.name not in SUPPORT and not (p.is_file() and p.suffix == ".ipynb"))


def run(course: Course, args: argparse.Namespace) -> int:
    for aid in args.assignments or [a.id for a in course.active]:
        print(f"released {aid} -> {release(course, course.assignment(aid))}")
    return 0

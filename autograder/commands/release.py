"""`autograder release [ASSIGNMENT...]`: the student release, built by nbgrader, plus coursekit and fixtures."""
from __future__ import annotations

import argparse
import ast
import json
import re
import shutil
from pathlib import Path
from typing import Any

from ..course import Assignment, Course
from ..nbgrader_run import run_nbgrader

HELP = "build the student release of assignments (all active ones by default)"
SOLUTION = re.compile(r"^[ \t]*### BEGIN SOLUTION\n(.*?)^[ \t]*### END SOLUTION", re.S | re.M)
STUB = re.compile(r"^# YOUR CODE HERE\nraise NotImplementedError\(\)$", re.M)  # nbgrader's, at top level


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
    listed = {source.name for source in assignment.notebooks}
    for path in folder.iterdir():  # support folders are written afresh below; a scratch notebook never goes out
        if not (path.is_file() and path.name in listed):
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    write_support_files(folder, assignment, course)
    for source in assignment.notebooks:
        leave_choices_unanswered(course.root / source, folder / source.name, folder / "fixtures")
    return folder


def answer_variable(source: str) -> str | None:
    """The variable a source cell answers with, when its only solution region is `name = <literal>` at top level
    (a multiple-choice answer); None for any other cell."""
    regions = SOLUTION.findall(source)
    try:
        body = ast.parse(regions[0]).body if len(regions) == 1 else []
    except SyntaxError:  # an indented region: the body of a function, not an answer variable
        return None
    if len(body) != 1 or not isinstance(body[0], ast.Assign) or len(body[0].targets) != 1 \
            or not isinstance(body[0].targets[0], ast.Name):
        return None
    try:
        ast.literal_eval(body[0].value)
    except ValueError:
        return None
    return body[0].targets[0].id


def leave_choices_unanswered(source: Path, released: Path, fixtures: Path) -> None:
    """In the released notebook, each multiple-choice answer cell (its solution region sets a variable that a
    multiple-choice fixture names) sets it to None, with the offered letters in a comment, instead of nbgrader's
    raising stub, so that Run All goes on and the check cell says "not answered yet". A cell whose stub is not
    nbgrader's default (another ClearSolutions.code_stub) is an error: Run All would stop there."""
    import nbformat
    from nbgrader.utils import compute_checksum

    options = {}
    for path in fixtures.glob("*.json"):
        meta: dict[str, Any] = json.loads(path.read_text())
        if "options" in meta:
            options[meta["target"]] = meta["options"]
    answers = {cell.metadata["nbgrader"]["grade_id"]: name for cell in nbformat.read(str(source), as_version=4).cells
               if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution")
               and (name := answer_variable(cell.source)) in options}
    nb = nbformat.read(str(released), as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        name = answers.get(grade_id)
        if name is None:
            continue
        if len(STUB.findall(cell.source)) != 1:
            raise RuntimeError(f"{released}: cell {grade_id!r} has no '# YOUR CODE HERE / raise NotImplementedError()' "
                               f"stub to replace with {name} = None (is ClearSolutions.code_stub changed?)")
        offered = ", ".join(json.dumps(o) for o in options[name])
        cell.source = STUB.sub(f"{name} = None  # your answer: one of {offered}", cell.source)
        cell.metadata["nbgrader"]["checksum"] = compute_checksum(cell)
    nbformat.write(nb, str(released))


def unexpected_files(folder: Path) -> list[str]:
    """What a release folder holds besides notebooks, coursekit/, fixtures/ and data/ (the release scan)."""
    from ..student_files import SUPPORT

    return sorted(p.name for p in folder.iterdir()
                  if p.name not in SUPPORT and not (p.is_file() and p.suffix == ".ipynb"))


def run(course: Course, args: argparse.Namespace) -> int:
    for aid in args.assignments or [a.id for a in course.active]:
        print(f"released {aid} -> {release(course, course.assignment(aid))}")
    return 0

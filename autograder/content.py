"""An assignment is a folder: assignments/<id>/ holds its notebooks, checks.py (its graded parts: a list PARTS),
standins.py (trusted versions of its parts for later parts to build on) and mistakes.py (typical mistakes as
edits of the solution, for the tests). The engine finds them by this convention; no registry names them.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import sys
import threading
from pathlib import Path
from types import ModuleType

from .course import Assignment, Course
from .grading.parts import ChoiceCheck, ManualPart, Part, PartCheck
from .notebook import GradedCell

_lock = threading.Lock()


class ContentError(Exception):
    """An assignment folder that the engine cannot use, with the file and what is wrong."""


def folder_of(course: Course, assignment: Assignment) -> Path:
    return course.root / "assignments" / assignment.id


def _package(folder: Path) -> str:
    """A package for the folder (its name need not be an identifier), so that checks.py can import .standins."""
    name = "course_content_" + hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:12]
    if name not in sys.modules:
        spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
        spec.submodule_search_locations = [str(folder)]
        sys.modules[name] = importlib.util.module_from_spec(spec)
    return name


def load_module(folder: Path, name: str) -> ModuleType | None:
    """assignments/<id>/<name>.py imported once, or None where the folder has none."""
    path = folder / f"{name}.py"
    if not path.is_file():
        return None
    with _lock:
        try:
            return importlib.import_module(f"{_package(folder)}.{name}")
        except Exception as err:
            raise ContentError(f"{path}: cannot be imported: {type(err).__name__}: {err}") from err


def checks_of(course: Course, assignment: Assignment) -> dict[str, PartCheck | ChoiceCheck]:
    """grade_id -> check, from the PARTS list of the assignment's checks.py (empty where it has none)."""
    module = load_module(folder_of(course, assignment), "checks")
    if module is None:
        return {}
    parts = getattr(module, "PARTS", None)
    path = folder_of(course, assignment) / "checks.py"
    if not isinstance(parts, (list, tuple)) or not all(isinstance(p, (PartCheck, ChoiceCheck)) for p in parts):
        raise ContentError(f"{path}: must define PARTS, a list of PartCheck and ChoiceCheck")
    ids = [p.id for p in parts]
    if len(set(ids)) != len(ids):
        raise ContentError(f"{path}: PARTS lists a part id twice: {sorted({i for i in ids if ids.count(i) > 1})}")
    return {p.id: p for p in parts}


def part_for(checks: dict[str, PartCheck | ChoiceCheck], cell: GradedCell) -> Part | None:
    """The part that grades a grade cell: prose answers are graded by hand; code cells need a check."""
    if cell.cell_type == "markdown":
        return ManualPart(cell.grade_id)
    return checks.get(cell.grade_id)


def bind_parts(course: Course, assignment: Assignment, cells: list[GradedCell]) -> list[tuple[GradedCell, Part]]:
    """Every grade cell with its part; a cell without one is the instructor's mistake, named with the file."""
    checks = checks_of(course, assignment)
    bound = []
    for cell in cells:
        part = part_for(checks, cell)
        if part is None:
            raise ContentError(f"{folder_of(course, assignment) / 'checks.py'}: no part with id {cell.grade_id!r} "
                               f"grades that grade cell of {assignment.id}")
        bound.append((cell, part))
    return bound

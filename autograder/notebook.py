"""Reading notebooks and their nbgrader roles: which cells are solutions, tests, answers and keys."""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)


@dataclass(frozen=True)
class GradedCell:
    grade_id: str
    points: float
    cell_type: str  # "code": autograded; "markdown": answered in prose, graded by hand
    source: str
    solution: bool = False  # the student writes in this cell


def nbgrader_meta(cell: Any) -> dict[str, Any]:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def is_test_cell(cell: Any) -> bool:
    """A locked grade cell with no solution: it checks the student's work and is never run by the grader."""
    meta = nbgrader_meta(cell)
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def graded_cells(nb: Any) -> list[GradedCell]:
    out = []
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if meta.get("grade"):
            out.append(GradedCell(meta["grade_id"], float(meta.get("points", 0)), cell.cell_type, cell.source,
                                  bool(meta.get("solution"))))
    return out


SKIP_TAG = "skip-when-grading"  # training runs and plots that depend on them: the grader needs none of it


def skipped_when_grading(cell: Any) -> bool:
    tags = cell.get("metadata", {}).get("tags", [])
    return isinstance(tags, list) and SKIP_TAG in tags


def code_to_run(nb: Any) -> list[str]:
    """The code a grader executes: every code cell except the test cells and those tagged SKIP_TAG, in order.
    A student who removes the tag only makes their own grading slower; one who adds it only loses code."""
    return [c.source for c in nb.cells
            if c.get("cell_type") == "code" and not is_test_cell(c) and not skipped_when_grading(c)]


def answer_key(cell: GradedCell) -> Any:
    """The ANSWER = ... literal in a cell's hidden-tests region (source notebooks only)."""
    match = HIDDEN.search(cell.source)
    if match:
        for node in ast.parse(match.group(1)).body:
            if isinstance(node, ast.Assign) and [t.id for t in node.targets if isinstance(t, ast.Name)] == ["ANSWER"]:
                return ast.literal_eval(node.value)
    raise ValueError(f"grade cell {cell.grade_id!r} has no ANSWER = ... in its hidden tests")


def read_notebook(path: Path) -> Any:
    return nbformat.read(str(path), as_version=nbformat.NO_CONVERT)

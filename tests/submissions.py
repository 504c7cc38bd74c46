"""Making submissions for the grading tests: the source notebook with edits, in nbgrader's folder layout."""
from __future__ import annotations

from pathlib import Path

import nbformat

from autograder.course import Assignment
from autograder.results import SubmissionResult
from autograder.notebook import read_notebook

ROOT = Path(__file__).resolve().parents[1]


def submit(tmp_path: Path, assignment: Assignment, student: str, edits: list[tuple[str, str]]) -> Path:
    """submitted/<student>/<assignment>/<notebook>: the source with each (old, new) edit made in the one cell holding old."""
    source = assignment.notebooks[0]
    nb = read_notebook(ROOT / source)
    for old, new in edits:
        hits = [c for c in nb.cells if old in c.source]
        assert len(hits) == 1, f"edit target not found exactly once: {old!r}"
        hits[0].source = hits[0].source.replace(old, new)
    path = tmp_path / "submitted" / student / assignment.id / source.name
    path.parent.mkdir(parents=True)
    nbformat.write(nb, str(path))
    return path


def by_part(result: SubmissionResult) -> dict[str, tuple[float | None, list[str]]]:
    return {p.grade_id: (p.score, p.messages) for p in result.parts}

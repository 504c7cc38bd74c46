"""Recording results in nbgrader's gradebook, so formgrader, feedback and exports see them."""
from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

from nbgrader.api import Grade, GradeCell
from nbgrader.api import Gradebook as _Gradebook
from sqlalchemy.exc import SAWarning

from ..course import Course
from ..results import SubmissionResult


def open_gradebook(course: Course) -> _Gradebook:
    """nbgrader's gradebook for the course. A new database is migrated by running `alembic`, which lives
    next to this interpreter: make sure it is found even when that folder is not on PATH."""
    here = str(Path(sys.executable).parent)
    if here not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = here + os.pathsep + os.environ.get("PATH", "")
    return _Gradebook(course.db_url, course_id=course.id)


class Recorder:
    """One gradebook session for a batch; each notebook's scores are committed as soon as they are recorded,
    so a later failure loses nothing already graded."""

    def __init__(self, course: Course) -> None:
        self.course = course

    def __enter__(self) -> "Recorder":
        self.warnings = warnings.catch_warnings()
        self.warnings.__enter__()
        warnings.simplefilter("ignore", SAWarning)  # raised inside nbgrader's own submission bookkeeping
        self.gb = open_gradebook(self.course).__enter__()
        return self

    def record(self, result: SubmissionResult) -> None:
        """auto_score per autograded part; prose answers wait for formgrader."""
        gb, notebook = self.gb, result.notebook.removesuffix(".ipynb")
        gb.update_or_create_student(result.student)
        kwargs = {"timestamp": result.submitted_at} if result.submitted_at else {}
        gb.update_or_create_submission(result.assignment, result.student, **kwargs)
        nb = gb.find_submission_notebook(notebook, result.assignment, result.student)
        found = dict(gb.db.query(GradeCell.name, Grade).join(Grade, Grade.cell_id == GradeCell.id)
                     .filter(Grade.notebook_id == nb.id))  # one query, not one per part
        for part in result.parts:
            grade = found.get(part.grade_id) or gb.find_grade(part.grade_id, notebook, result.assignment, result.student)
            grade.auto_score = part.score
            grade.needs_manual_grade = part.score is None
        nb.late_submission_penalty = round(result.raw_score - result.score, 2) or None
        gb.db.commit()

    def __exit__(self, *exc: object) -> None:
        self.gb.__exit__(*exc)
        self.warnings.__exit__(*exc)


def gradebook_scores(course: Course, assignment: str) -> dict[str, float]:
    """student -> total score of the assignment, as the gradebook has it."""
    with open_gradebook(course) as gb:
        return {s.student.id: s.score for s in gb.find_assignment(assignment).submissions}

"""grades.csv: one row per student and assignment, with a column per part, for a spreadsheet or an LMS."""
from __future__ import annotations

import csv
from pathlib import Path

from ..results import SubmissionResult

NOT_GRADED = "needs regrade"  # the score of a submission the machine kept us from grading: no number to misread
COLUMNS = ["student", "assignment", "notebook", "score", "max_score", "status", "late_multiplier"]


def write_csv(path: Path, results: list[SubmissionResult]) -> None:
    """grades.csv holds every graded assignment: a batch's rows replace the earlier rows of its assignment.
    Rows are sorted by assignment and student, so the same grades always give the same file."""
    rows = [{"student": r.student, "assignment": r.assignment, "notebook": r.notebook,
             "score": NOT_GRADED if r.needs_regrade else f"{r.score:g}", "max_score": f"{r.max_score:g}",
             "status": r.status, "late_multiplier": f"{r.late_multiplier:g}",
             **{p.grade_id: "" if p.score is None or r.needs_regrade else f"{p.score:g}" for p in r.parts}}
            for r in results]
    if path.exists():
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or "assignment" not in reader.fieldnames:
                raise ValueError(f"{path}: not a grades file written by the autograder (no assignment column); "
                                 "move it away and grade again")
            graded = {r.assignment for r in results}
            rows += [row for row in reader if row["assignment"] not in graded]
    rows.sort(key=lambda row: (row["assignment"], row["student"]))
    parts = list(dict.fromkeys(k for row in rows for k in row if k not in COLUMNS))
    with path.open("w", newline="", encoding="utf-8", errors="backslashreplace") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS + parts, restval="")
        writer.writeheader()
        writer.writerows(rows)

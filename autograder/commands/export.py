"""`autograder export`: the gradebook as one CSV for an LMS, or as Gradescope results.json files."""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from ..course import Course

HELP = "export the gradebook"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=["csv", "gradescope"], default="csv")
    p.add_argument("--out", type=Path, default=None)


def export(course: Course, fmt: str, out: Path | None = None) -> Path:
    from ..records.gradebook import open_gradebook  # nbgrader: not at start-up

    with open_gradebook(course) as gb:
        rows = []
        for assignment in gb.assignments:
            for sub in assignment.submissions:
                grades = [(g.name, g.score, g.max_score, g.needs_manual_grade) for nb in sub.notebooks for g in nb.grades]
                rows.append((sub.student.id, assignment.name, sub.score, sub.max_score, grades))
    if fmt == "csv":
        path = out or course.root / "gradebook_export.csv"
        with path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["student", "assignment", "score", "max_score", "needs_manual_grade"])
            for student, assignment, score, max_score, grades in rows:
                w.writerow([student, assignment, f"{score:g}", f"{max_score:g}", any(g[3] for g in grades)])
        return path
    folder = out or course.root / "gradescope"
    for student, assignment, score, max_score, grades in rows:
        tests = [{"name": name, "score": s, "max_score": m, "visibility": "visible",
                  "output": "graded by hand" if manual else ""} for name, s, m, manual in grades]
        target = folder / assignment / student / "results.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps({"score": score, "tests": tests}, indent=1))
    return folder


def run(course: Course, args: argparse.Namespace) -> int:
    print(export(course, args.format, args.out))
    return 0

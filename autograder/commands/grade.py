"""`autograder grade ASSIGNMENT`: grade every submission, record them, print the summary."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..course import Course
from ..results import SubmissionResult

HELP = "grade every submission of an assignment"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("assignment")
    p.add_argument("--submissions", type=Path, default=None, help="folder of <student>/<assignment>/ (default: submitted/)")
    p.add_argument("--jobs", type=int, default=None, help="submissions graded at once on this machine (default 1)")
    p.add_argument("--dask", metavar="ADDRESS", default=None,
                   help="grade on a Dask cluster: a scheduler's address (tcp://host:8786) or local:N for N worker "
                        "processes here; this machine still reads the submissions and records every grade")
    p.add_argument("--unsafe", action="store_true", help="grade even where student code cannot be kept from the course files")


def summary(results: list[SubmissionResult]) -> str:
    lines = [f"{'student':<20} {'notebook':<22} {'score':>12}  {'by hand':>7}  status"]
    for r in results:
        manual = sum(p.max_score for p in r.parts if p.score is None)
        score = f"{'needs regrade':>13}" if r.needs_regrade else f"{r.score:>6g} / {r.max_score:<4g}"
        lines.append(f"{r.student:<20} {r.notebook:<22} {score}  {manual:>7g}  {r.status}"
                     + ("" if r.late_multiplier == 1 else f" (late x{r.late_multiplier:g})"))
    regrade = [r for r in results if r.needs_regrade]
    if regrade:
        lines.append(f"\n{len(regrade)} submission(s) not graded, nothing recorded for them; grade again: "
                     + "; ".join(f"{r.student}: {r.notes[0] if r.notes else 'see feedback'}" for r in regrade[:5]))
    return "\n".join(lines)


def run(course: Course, args: argparse.Namespace) -> int:
    from ..content import ContentError
    from ..grading.batch import grade_batch
    from .doctor import safe_to_grade

    if args.jobs is not None and args.dask is not None:
        print("error: --jobs grades on this machine and --dask on a cluster: give one of them", file=sys.stderr)
        return 2
    safe, why = safe_to_grade() if args.dask is None else (True, "")  # on Dask each worker checks itself
    if not safe and not args.unsafe:
        print(f"error: {why}", file=sys.stderr)
        return 3
    try:
        assignment = course.assignment(args.assignment)
        results = grade_batch(course, assignment, args.submissions or course.root / "submitted", args.jobs or 1,
                              dask=args.dask, unsafe=args.unsafe)
    except (KeyError, FileNotFoundError, RuntimeError, ValueError, ContentError) as err:
        print(f"error: {err.args[0]}", file=sys.stderr)
        return 2
    print(summary(results))
    print(f"\ngrades: {course.root / 'grades.csv'}   feedback: {course.root / 'feedback'}")
    return 0

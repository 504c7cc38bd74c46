"""`autograder similarity ASSIGNMENT`: the most similar pairs of graded submissions, on the code students wrote."""
from __future__ import annotations

import argparse
import sys

from ..course import Course
from ..text import shown

HELP = "rank the most similar pairs of an assignment's graded submissions"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("assignment")
    p.add_argument("--top", type=int, default=20, help="pairs to report (default 20)")


def run(course: Course, args: argparse.Namespace) -> int:
    from ..similarity import similarity, write_similarity
    from ..similarity.pairs import lines_of

    if args.top < 1:
        print("error: --top must be at least 1", file=sys.stderr)
        return 2
    try:
        assignment = course.assignment(args.assignment)
    except KeyError as err:
        print(f"error: {err.args[0]}", file=sys.stderr)
        return 2
    result = similarity(course, assignment, top=args.top)
    for note in result.notes:
        print(f"skipped: {note}", file=sys.stderr)
    if not result.students:
        print(f"error: no graded submissions of {assignment.id} to compare under {course.root / 'autograded'} "
              f"(grade them first: autograder grade {assignment.id})", file=sys.stderr)
        return 2
    print(f"{len(result.students)} submissions of {assignment.id} compared")
    print(f"{'score':>5}  {'student':<24} {'student':<24} matched lines")
    for p in result.pairs:
        lines = f"{len(lines_of(p.spans_a))} and {len(lines_of(p.spans_b))}"
        cells = ", ".join(dict.fromkeys(s.cell for s in p.spans_a))
        print(f"{p.score:5.2f}  {shown(p.a, 24):<24} {shown(p.b, 24):<24} {lines} in {shown(cells, 100)}")
    if not result.pairs:
        print("no similar pairs")
    for path in write_similarity(course, result):
        print(f"wrote {path}")
    return 0

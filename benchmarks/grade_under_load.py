"""Honest students keep full marks on a busy machine: batches graded with `--jobs 2` while CPU-bound processes
(and, with --memory-gb, a process holding memory) run beside the grader. Prints, per run, the lowest score of
an honest submission against full marks, the statuses, and the seconds the batch took with and without the load.

    python benchmarks/grade_under_load.py [--runs 5] [--submissions 10] [--assignment a3-transformer] [--hogs 2]
"""
from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from collections import Counter
from pathlib import Path

from grade_throughput import make_course

from autograder.course import load_course
from autograder.grading.batch import grade_batch


def spin() -> None:
    while True:
        pass


def hold(gb: int) -> None:
    blocks = [bytearray(1 << 30) for _ in range(gb)]
    for block in blocks:
        block[::4096] = b"\1" * len(range(0, len(block), 4096))  # touch every page
    time.sleep(10**6)


def batch(course_file: Path, assignment_id: str) -> tuple[float, float, Counter, float]:
    """(lowest autograded score, full marks, statuses, seconds) of one batch."""
    course = load_course(course_file)
    assignment = course.assignment(assignment_id)
    t0 = time.perf_counter()
    results = grade_batch(course, assignment, course.root / "submitted", jobs=2, progress=False)
    seconds = time.perf_counter() - t0
    full = sum(p.max_score for p in results[0].parts if p.score is not None)
    return min(r.raw_score for r in results), full, Counter(r.status for r in results), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--submissions", type=int, default=10)
    parser.add_argument("--assignment", default="a3-transformer")
    parser.add_argument("--hogs", type=int, default=2, help="CPU-bound processes beside the grader")
    parser.add_argument("--memory-gb", type=int, default=0, help="memory held by another process meanwhile")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        course_file = make_course(Path(folder), args.submissions, args.assignment, mistakes=False)
        _, _, _, quiet = batch(course_file, args.assignment)
        print(f"{args.submissions} honest submissions of {args.assignment}, --jobs 2: {quiet:.1f} s on an idle machine")
        context = multiprocessing.get_context("fork")
        load = [context.Process(target=spin, daemon=True) for _ in range(args.hogs)]
        load += [context.Process(target=hold, args=(args.memory_gb,), daemon=True)] if args.memory_gb else []
        for process in load:
            process.start()
        try:
            failures = 0
            for run in range(1, args.runs + 1):
                low, full, statuses, seconds = batch(course_file, args.assignment)
                failures += low < full
                print(f"run {run}: lowest honest score {low:g} / {full:g}, statuses {dict(statuses)}, "
                      f"{seconds:.1f} s ({seconds / quiet:.1f}x the idle time) beside {args.hogs} CPU hog(s)"
                      + (f" and {args.memory_gb} GB held" if args.memory_gb else ""))
        finally:
            for process in load:
                process.kill()
        print(f"runs where an honest student lost points: {failures} of {args.runs}")


if __name__ == "__main__":
    main()

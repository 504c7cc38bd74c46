"""Seconds per submission: our grader against stock `nbgrader autograde`, on every active assignment, in one run.

Both grade the same submissions (every other one with the assignment's typical mistake), each folder holding
what a student submits (notebook, coursekit/, fixtures/). nbgrader executes every cell in a Jupyter kernel and
so runs only the notebook's visible checks (and, for assignment 3, its training cells, which ours skips:
skip-when-grading); ours runs the notebook's code once per submission in a sandboxed fork and grades every part
on hidden cases drawn per student.

Per submission is the slope, not the average, so that the batch's start (imports, nbgrader's database, our fork
server) is apart, printed beside it: for nbgrader (T(n) - T(1)) / (n - 1), with T(k) the wall time of a batch of
k submissions; for ours, the time between the first and the last submission recorded, over n - 1. Ours is also timed without a user of its own per worker (AUTOGRADER_SANDBOX=users=off), to show
what that isolation costs. The breakdown (--jobs 1) is each step's mean time on the grading path: the hidden
cases are drawn while the worker sets up and runs the notebook's code, so "run_code" is only what is left to wait.

    python benchmarks/grade_throughput.py [--submissions 8] [--assignment ID ...] [--no-stock]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import nbformat

from autograder.commands.demo import demo_mistake
from autograder.commands.release import release
from autograder.course import copy_course, load_course
from autograder.grading import batch
from autograder.nbgrader_run import nbgrader_args
from autograder.results import SubmissionResult
from autograder.sandbox.switches import ENV

ROOT = Path(__file__).resolve().parents[1]
OURS_PER_STOCK = 4  # ours grades this many times the submissions (cheap, and a steadier slope)


def make_course(folder: Path, n: int, assignment_id: str, mistakes: bool = True) -> Path:
    """n submissions: every other one has the demo's typical bug for this assignment (none without `mistakes`)."""
    copy_course(ROOT, folder)
    course = load_course(folder / "course.yml")
    assignment = course.assignment(assignment_id)
    released = release(course, assignment)
    source = course.root / assignment.notebooks[0]
    mistake = demo_mistake(course, assignment) if mistakes else None
    for i in range(n):
        target = folder / "submitted" / f"student{i:03d}" / assignment_id
        shutil.copytree(released, target)  # coursekit/ and fixtures/ come along, as in a real submission
        nb = nbformat.read(str(source), as_version=4)
        for old, new in mistake[1] if mistake and i % 2 else []:
            for cell in nb.cells:
                cell.source = cell.source.replace(old, new)
        nbformat.write(nb, str(target / source.name))
    return folder / "course.yml"


def time_nbgrader(course_file: Path, assignment_id: str) -> float:
    course = load_course(course_file)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    t0 = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", assignment_id, "--force", *nbgrader_args(course)],
                         capture_output=True, text=True, env=env, cwd=course.root)
    elapsed = time.perf_counter() - t0
    if run.returncode != 0:
        raise RuntimeError(run.stdout[-2000:] + run.stderr[-2000:])
    return elapsed


def time_ours(n: int, assignment_id: str, jobs: int, switches: str = "") -> tuple[tuple[float, float], list[SubmissionResult]]:
    """(seconds per submission, seconds of the batch's start) of a batch of n submissions, and its results."""
    before, keep, recorded = os.environ.get(ENV), batch.keep, []

    def timed_keep(*args: object) -> None:
        keep(*args)
        recorded.append(time.perf_counter())

    os.environ[ENV], batch.keep = switches, timed_keep  # when each submission is recorded, as it is
    try:
        with tempfile.TemporaryDirectory() as folder:
            course = load_course(make_course(Path(folder), n, assignment_id))
            t0 = time.perf_counter()
            results = batch.grade_batch(course, course.assignment(assignment_id), course.root / "submitted", jobs=jobs,
                                        progress=False)
    finally:
        batch.keep = keep
        if before is None:
            del os.environ[ENV]
        else:
            os.environ[ENV] = before
    per = (recorded[-1] - recorded[0]) / (n - 1)
    return (per, recorded[0] - t0 - per), results


def slope(one: float, many: float, n: int) -> tuple[float, float]:
    """(seconds per submission, seconds of the batch's start) from the times of batches of 1 and n."""
    per = (many - one) / (n - 1)
    return per, one - per


def breakdown(results: list[SubmissionResult]) -> list[tuple[str, float]]:
    """Each step's mean seconds per submission, in the order grading takes them, each followed by its parts
    ("grade_parts: <part>"); the worker's own waits ("worker: fork", ...), which fall within the steps, come last."""
    sums: dict[str, float] = defaultdict(float)
    for result in results:
        for step, seconds in result.timings.items():
            sums[step] += seconds
    steps = sorted(sums, key=lambda s: (s.startswith("worker:"), list(sums).index(s.split(":")[0] if s.split(":")[0]
                                                                                 in sums else s), ":" in s))
    return [(step, sums[step] / len(results)) for step in steps]


def main() -> None:
    shipped = load_course(ROOT / "course.yml")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=8, help="stock nbgrader's batch (ours grades 4 times as many)")
    parser.add_argument("--assignment", action="append", choices=[a.id for a in shipped.active],
                        help="only this assignment (repeatable; default: every active one)")
    parser.add_argument("--no-stock", action="store_true", help="time ours only")
    args = parser.parse_args()
    n, ours_n = args.submissions, args.submissions * OURS_PER_STOCK
    print(f"{os.cpu_count()} cores; stock nbgrader grades {n} submissions per assignment, ours {ours_n}; seconds per "
          "submission (the batch's start in brackets); ratio: stock's per submission over ours", flush=True)
    print(f"{'assignment':16s} {'stock nbgrader':>16s} {'ours --jobs 1':>16s} {'ratio':>6s} {'--jobs 2':>16s} "
          f"{'ratio':>6s} {'--jobs 1, users=off':>20s}", flush=True)
    breakdowns = {}
    for assignment_id in args.assignment or [a.id for a in shipped.active]:
        stock = None
        if not args.no_stock:
            with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
                one = time_nbgrader(make_course(Path(a), 1, assignment_id), assignment_id)
                stock = slope(one, time_nbgrader(make_course(Path(b), n, assignment_id), assignment_id), n)
        time_ours(2, assignment_id, 1)  # imports the assignment's checks: once per process, in no timing
        jobs1, results = time_ours(ours_n, assignment_id, 1)
        breakdowns[assignment_id] = breakdown(results)
        jobs2 = time_ours(ours_n, assignment_id, 2)[0]
        plain = time_ours(ours_n, assignment_id, 1, "users=off")[0]
        cells = [f"{assignment_id:16s}", f"{stock[0]:7.3f} ({stock[1]:4.1f} s)" if stock else f"{'-':>16s}"]
        for per, start in (jobs1, jobs2):
            cells += [f"{per:7.3f} ({start:4.1f} s)", f"{stock[0] / per:5.1f}x" if stock else f"{'-':>6s}"]
        cells.append(f"{plain[0]:11.3f} ({plain[1]:4.1f} s)")
        print(" ".join(cells), flush=True)  # row by row: a run cut short keeps what it measured
    for assignment_id, steps in breakdowns.items():
        print(f"\n{assignment_id}: where a submission's time goes with --jobs 1 (ms, mean of {ours_n})")
        for step, seconds in steps:
            print(f"  {'  ' if ':' in step else ''}{step:44s} {seconds * 1e3:7.1f}")


if __name__ == "__main__":
    main()

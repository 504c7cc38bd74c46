"""Seconds per submission: our grader against stock `nbgrader autograde`, same notebooks, one run.

Both grade the same N submissions of one assignment (a mix of correct and buggy ones), each
folder holding what a student submits (notebook, coursekit/, fixtures/). nbgrader executes every cell
in a Jupyter kernel, one submission at a time, and so runs only the notebook's visible checks; ours runs
the notebook's code once per submission and grades every part on hidden cases drawn per student.

For assignment 3, nbgrader also runs the training cells, which our grader skips (skip-when-grading).

    python benchmarks/grade_throughput.py [--submissions 8] [--jobs 2] [--assignment a2-attention]
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from autograder.commands.demo import demo_mistake
from autograder.commands.release import release
from autograder.content import checks_of
from autograder.course import copy_course, load_course
from autograder.grading.batch import grade_batch
from autograder.grading.parts import PartCheck
from autograder.nbgrader_run import nbgrader_args
from autograder.notebook import GradedCell

ROOT = Path(__file__).resolve().parents[1]


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


def per_check_ms(course_file: Path, assignment_id: str, repeats: int = 5) -> tuple[float, float, float]:
    """(ms to fork a warm worker and run the notebook's code, ms per hidden case: call, reference, diagnosis;
    the same for parts graded with stand-ins, which run in one fork of the worker per part)."""
    import torch

    from autograder.notebook import code_to_run, read_notebook
    from autograder.student_files import write_support_files
    from autograder.workers.client import ForkServer, Worker

    @dataclasses.dataclass
    class Grader:
        worker: Worker
        devices: list[str]

        def seed(self, grade_id: str) -> int:
            return 1

    course = load_course(course_file)
    assignment = course.assignment(assignment_id)
    cells = code_to_run(read_notebook(course.root / assignment.notebooks[0]))
    parts = [c for c in checks_of(course, assignment).values() if isinstance(c, PartCheck)]

    def uses_standins(check: PartCheck) -> bool:
        return bool(check.cases(torch.Generator().manual_seed(1), True)[0].call.substitute)
    with tempfile.TemporaryDirectory() as scratch, ForkServer() as server:
        write_support_files(Path(scratch), assignment, course)
        t0 = time.perf_counter()
        for _ in range(repeats):
            with Worker(cells, 30, scratch, server=server) as w:
                w.ensure()
        start = (time.perf_counter() - t0) / repeats
        per_case = []
        for group in ([c for c in parts if not uses_standins(c)], [c for c in parts if uses_standins(c)]):
            with Worker(cells, 30, scratch, server=server) as w:
                w.ensure()
                t0, n = time.perf_counter(), 0
                for _ in range(repeats):
                    for check in group:
                        check.grade(Grader(w, ["cpu"]), GradedCell(check.id, 1.0, "code", ""))
                        n += len(check.cases(torch.Generator().manual_seed(1), True))
                per_case.append((time.perf_counter() - t0) / max(n, 1) * 1e3)
    return start * 1e3, per_case[0], per_case[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=2)
    shipped = load_course(ROOT / "course.yml")
    parser.add_argument("--assignment", default="a2-attention", choices=[a.id for a in shipped.active])
    args = parser.parse_args()
    n, assignment_id = args.submissions, args.assignment
    checks = checks_of(shipped, shipped.assignment(assignment_id))
    import torch
    hidden = sum(len(c.cases(torch.Generator().manual_seed(0), True)) for c in checks.values() if isinstance(c, PartCheck))
    visible = sum(len(c.cases(torch.Generator().manual_seed(0), False)) for c in checks.values() if isinstance(c, PartCheck))
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        stock = time_nbgrader(make_course(Path(a), n, assignment_id), assignment_id) / n
        course = load_course(make_course(Path(b), n, assignment_id))
        timings = {}
        for jobs in sorted({1, args.jobs}):
            t0 = time.perf_counter()
            grade_batch(course, course.assignment(assignment_id), course.root / "submitted", jobs=jobs, progress=False)
            timings[jobs] = (time.perf_counter() - t0) / n
    print(f"{n} submissions of {assignment_id}, {os.cpu_count()} cores")
    print(f"stock nbgrader autograde       {stock:6.2f} s per submission   ({visible} visible cases, in the student's kernel)")
    for jobs, t in timings.items():
        print(f"autograder grade --jobs {jobs}       {t:6.2f} s per submission   ({hidden} hidden cases)   "
              f"{stock / t:4.1f}x faster")
    with tempfile.TemporaryDirectory() as c:
        start_ms, case_ms, standin_ms = per_check_ms(make_course(Path(c), 0, assignment_id), assignment_id)
    print(f"warm worker start + the notebook's code (training cells skipped): {start_ms:.0f} ms")
    print(f"per hidden case (call, reference, diagnosis): {case_ms:.1f} ms; in parts graded with stand-ins (one fork of the "
          f"worker per part): {standin_ms:.1f} ms")


if __name__ == "__main__":
    main()

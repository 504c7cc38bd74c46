"""Grading one submission: a pipeline of named steps, each decided in the grader's process.

read the submission -> run its code in a worker -> grade every part on fresh inputs -> apply the late policy.
The submitted file is only ever read.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .checks.registry import checks_for
from .checks.spec import ChoiceCheck, PartCheck
from .course import Assignment, Course
from .coursekit.diagnose import diagnose
from .intake import inspect
from .notebook import GradedCell, answer_key, code_to_run, graded_cells, read_notebook
from .release import write_support_files
from .runner import ForkServer, Worker, WorkerFailure


@dataclass
class PartResult:
    grade_id: str
    score: float | None  # None: left to manual grading
    max_score: float
    messages: list[str] = field(default_factory=list)


@dataclass
class SubmissionResult:
    student: str
    assignment: str
    notebook: str
    parts: list[PartResult]
    status: str = "graded"
    notes: list[str] = field(default_factory=list)
    late_multiplier: float = 1.0
    submitted_at: dt.datetime | None = None
    graded_file: Path | None = None  # the submitted file that was read (its name may differ from `notebook`)

    @property
    def max_score(self) -> float:
        return sum(p.max_score for p in self.parts)

    @property
    def raw_score(self) -> float:
        return sum(p.score or 0.0 for p in self.parts)

    @property
    def score(self) -> float:
        return round(self.raw_score * self.late_multiplier, 2)


SECRET_FILE = ".grading-secret"


def course_secret(course: Course) -> str:
    """A random key kept next to the gradebook and never released. The kit is open source, so seeds made from
    public names alone would let a student recompute their hidden inputs; with the key they cannot."""
    path = course.root / SECRET_FILE
    if not path.exists():
        try:
            with path.open("x") as f:  # two graders starting at once: only one writes the key
                f.write(secrets.token_hex(32))
            path.chmod(0o600)
        except FileExistsError:
            pass
    return path.read_text().strip()


def student_seed(course: Course, assignment: str, student: str, part: str) -> int:
    """The same seed for the same student, assignment and part: a regrade reproduces the score."""
    digest = hashlib.sha256(f"{course_secret(course)}/{course.id}/{assignment}/{student}/{part}".encode()).hexdigest()
    return int(digest[:12], 16)


def grading_devices(course: Course) -> list[str]:
    """The CPU always; the GPU too when course.yml asks for it ('cuda', or 'auto' on a machine that has one)."""
    if course.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("course.yml sets device: cuda, but this machine has no CUDA device; "
                           "use device: auto to grade on the CPU here")
    return ["cpu", "cuda"] if course.device != "cpu" and torch.cuda.is_available() else ["cpu"]


def run_case(worker: Worker, check: PartCheck, data: Any, device: str) -> str | None:
    """None when the student's answer on this case is right; otherwise what is wrong."""
    try:
        result = worker.call(check.target, check.kind, data.tensors, {**data.spec, "device": device})
    except WorkerFailure as err:
        return str(err)
    if result.error is not None:
        return result.error
    verdict = diagnose(result.outputs, data.expected, data.variants, check.messages, check.op, check.outputs)
    return None if verdict.passed else verdict.message


def grade_part(worker: Worker, check: PartCheck, seed: int, max_score: float, devices: list[str]) -> PartResult:
    """Partial credit: the fraction of hidden cases answered right (on every grading device)."""
    cases = check.cases(torch.Generator().manual_seed(seed), True)
    passed, messages = 0, []
    for case in cases:
        data = check.evaluate(case)
        problems = {d: run_case(worker, check, data, d) for d in devices}
        wrong = {d: p for d, p in problems.items() if p is not None}
        if not wrong:
            passed += 1
        else:
            device, problem = next(iter(wrong.items()))
            messages.append(f"{case.label}: {problem}" + (" (on the GPU)" if device == "cuda" and len(wrong) < len(devices) else ""))
    return PartResult(check.id, round(max_score * passed / len(cases), 2), max_score, messages)


def grade_choice(worker: Worker, check: ChoiceCheck, cell: GradedCell) -> PartResult:
    try:
        value, error = worker.get(check.target)
    except WorkerFailure as err:
        value, error = None, str(err)
    if error is not None:
        return PartResult(check.id, 0.0, cell.points, [f"no answer: {error}"])
    right = value == answer_key(cell)
    return PartResult(check.id, cell.points if right else 0.0, cell.points, [] if right else [f"{value!r} is not the right answer"])


def read_timestamp(submission_dir: Path) -> dt.datetime | None:
    """nbgrader's timestamp.txt next to the submitted notebooks, when present."""
    stamp = submission_dir / "timestamp.txt"
    if not stamp.is_file():
        return None
    from dateutil.parser import parse

    when = parse(stamp.read_text().strip())
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def grade_notebook(course: Course, assignment: Assignment, source_path: Path, submission: Path, student: str,
                   support: Path | None = None, server: ForkServer | None = None) -> SubmissionResult:
    """Grade one submitted notebook. `support` is a folder of release support files (coursekit, fixtures)
    prepared once per batch; each submission runs in its own copy of it. `server` forks warm workers."""
    devices = grading_devices(course)
    source_nb = read_notebook(course.root / source_path)
    source_cells = graded_cells(source_nb)
    checks = checks_for(assignment.id)
    result = SubmissionResult(student, assignment.id, source_path.name,
                              [PartResult(c.grade_id, 0.0, c.points) for c in source_cells])
    intake = inspect(submission, source_nb)
    result.status, result.notes, result.graded_file = intake.status, list(intake.notes), submission
    if intake.nb is None:
        return result
    nb = intake.nb

    with tempfile.TemporaryDirectory(prefix="grade-") as scratch:
        if support is None:
            write_support_files(Path(scratch), assignment, course)
        else:
            shutil.copytree(support, scratch, dirs_exist_ok=True)
        with Worker(code_to_run(nb), assignment.limits.check_timeout_s, cwd=scratch, server=server,
                    limits=assignment.limits.for_worker()) as worker:
            try:
                worker.ensure()
            except WorkerFailure as err:
                result.notes.append(str(err))
            result.notes += [f"code cell {e['cell'] + 1} raised {e['error']}" for e in worker.cell_errors]
            parts = []
            for cell in source_cells:
                check = checks.get(cell.grade_id)
                if cell.cell_type == "markdown":
                    parts.append(PartResult(cell.grade_id, None, cell.points, ["graded by hand"]))
                elif isinstance(check, ChoiceCheck):
                    parts.append(grade_choice(worker, check, cell))
                elif isinstance(check, PartCheck):
                    seed = student_seed(course, assignment.id, student, cell.grade_id)
                    parts.append(grade_part(worker, check, seed, cell.points, devices))
                else:
                    raise KeyError(f"no check is registered for grade cell {cell.grade_id!r} of {assignment.id}")
            result.parts = parts

    result.submitted_at = read_timestamp(submission.parent)
    if result.submitted_at is not None:
        result.late_multiplier = assignment.late_policy.multiplier(assignment.due, result.submitted_at)
        if result.late_multiplier < 1:
            result.notes.append(f"submitted late: {result.late_multiplier:.0%} of the score is kept")
    return result

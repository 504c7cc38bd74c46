"""Grading one submission: named steps over one context, each decided in the grader's process.

    STEPS = read_submission -> start_code -> draw_cases -> run_code -> grade_parts -> apply_late_policy

A step returns False to end grading early (an unreadable file has nothing to run). The submitted file is
only ever read; the student's code runs in a worker process, never here. On a cluster, a machine of its own
runs CODE_STEPS on the bytes and seeds the client sends, and the client applies the late policy.
"""
from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from dateutil.parser import parse as parse_date

from ..content import bind_parts
from ..course import Assignment, Course
from ..notebook import GradedCell, code_to_run, graded_cells, read_notebook
from ..results import NEEDS_REGRADE, PartResult, SubmissionResult
from ..student_files import SupportFiles, support_files
from ..workers.client import ForkServer, Worker, WorkerFailure
from ..workers.scratch import scratch_folder
from .intake import REFUSED, Read, inspect, read_submitted_file
from .parts import Drawn, Part, PartCheck
from .seeds import student_seed
from .stopwatch import timed


def grading_devices(course: Course) -> list[str]:
    """The CPU always; the GPU too when course.yml asks for it ('cuda', or 'auto' on a machine that has one)."""
    if course.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("course.yml sets device: cuda, but this machine has no CUDA device; "
                           "use device: auto to grade on the CPU here")
    return ["cpu", "cuda"] if course.device != "cpu" and torch.cuda.is_available() else ["cpu"]


@dataclass
class Grading:
    """Everything known about one submission while it is graded."""

    course: Course
    assignment: Assignment
    student: str
    source: Path  # the source notebook, relative to the course folder
    path: Path  # the submitted file
    parts: list[tuple[GradedCell, Part]]  # the source's grade cells, each with what grades it
    result: SubmissionResult
    devices: list[str]
    support: SupportFiles | None = None  # coursekit, fixtures and data, made once per batch (None: made here)
    server: ForkServer | None = None  # forks warm workers (None: a fresh interpreter)
    source_nb: Any = None
    read: Read | None = None  # the submitted bytes where the client read them (None: read `path` here)
    seeds: dict[str, int] | None = None  # each part's seed where the client drew them (None: drawn here)
    nb: Any = None  # the submitted notebook once read
    worker: Worker | None = None
    drawn: dict[str, Drawn] = field(default_factory=dict)  # grade_id -> a part's hidden cases, evaluated
    cleanup: ExitStack = field(default_factory=ExitStack)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step, kept in the result

    def seed(self, grade_id: str) -> int:
        if self.seeds is not None:
            return self.seeds[grade_id]
        return student_seed(self.course, self.assignment.id, self.student, grade_id)


def read_submission(g: Grading) -> bool:
    """Intake: the file as untrusted data (see intake.py); what cannot be read fairly is not run."""
    intake = inspect(g.path, g.source_nb, g.read)
    g.result.status, g.result.notes, g.result.graded_file = intake.status, list(intake.notes), g.path
    g.nb = intake.nb
    return intake.status not in REFUSED


def start_code(g: Grading) -> bool:
    """A worker of its own is forked and sent the notebook's code cells and the support files (which it writes into
    its scratch folder); it runs them while the grader goes on."""
    scratch = g.cleanup.enter_context(scratch_folder("grade"))
    files = g.support if g.support is not None else support_files(g.assignment, g.course)
    g.worker = g.cleanup.enter_context(Worker(code_to_run(g.nb), g.assignment.limits.check_timeout_s, cwd=scratch,
                                              server=g.server, limits=g.assignment.limits.for_worker(), files=files))
    try:
        g.worker.start()
    except WorkerFailure:
        pass  # said by run_code
    return True


def draw_cases(g: Grading) -> bool:
    """Each part's hidden cases, drawn from the student's seed, with their expected outputs: the grader's own work,
    done while the worker sets up its sandbox and runs the notebook's code."""
    g.drawn = {cell.grade_id: part.draw(g.seed(cell.grade_id)) for cell, part in g.parts if isinstance(part, PartCheck)}
    return True


def run_code(g: Grading) -> bool:
    """Wait for the worker to have run the notebook's code; a failure is noted, and each part says what it costs."""
    try:
        g.worker.ensure()
    except WorkerFailure as err:
        g.result.notes.append(str(err))
    g.result.notes += [f"code cell {e['cell'] + 1} raised {e['error']}" for e in g.worker.cell_errors]
    return True


def grade_parts(g: Grading) -> bool:
    """Each graded cell grades itself: a part on hidden cases, a choice against its key, prose by hand."""
    g.result.parts = []
    for cell, part in g.parts:
        with timed(g.timings, f"grade_parts: {cell.grade_id}"):
            g.result.parts.append(part.grade(g, cell))
    return True


TIMESTAMP = "timestamp.txt"


def arrival(submitted: Path) -> dt.datetime:
    """When the notebook arrived on this machine: its inode change time, which no user can set."""
    return dt.datetime.fromtimestamp(os.lstat(submitted).st_ctime, dt.timezone.utc)


def read_timestamp(submitted: Path) -> tuple[dt.datetime | None, str | None]:
    """The submission time from nbgrader's timestamp.txt beside the submitted notebook: (time, note). Missing:
    (None, None), graded as on time. A link, special or oversized file, or text that is not a date, is never
    followed or quoted: the notebook's arrival time stands in, and the note says so."""
    stamp = submitted.parent / TIMESTAMP
    if not os.path.lexists(stamp):
        return None, None
    data, problem = read_submitted_file(stamp, 256)
    if data is not None:
        try:
            when = parse_date(data.decode("utf-8").strip())
            return (when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)), None
        except (UnicodeDecodeError, ValueError, OverflowError):
            problem = f"{TIMESTAMP} does not hold a date"
    arrived = arrival(submitted)
    return arrived, f"{problem}; the notebook's arrival time ({arrived:%Y-%m-%d %H:%M} UTC) was used instead"


def late_policy(course: Course, assignment: Assignment, submitted: Path, result: SubmissionResult) -> None:
    """course.yml's submission_time says where the time comes from: nbgrader's timestamp.txt (written by
    whatever collected the submission), or the notebook's arrival on this machine."""
    if course.submission_time == "arrival":
        result.submitted_at, note = arrival(submitted), None
    else:
        result.submitted_at, note = read_timestamp(submitted)
    if note:
        result.notes.append(note)
    if result.submitted_at is not None:
        result.late_multiplier = assignment.late_policy.multiplier(assignment.due, result.submitted_at)
        if result.late_multiplier < 1:
            result.notes.append(f"submitted late: {result.late_multiplier:.0%} of the score is kept")


def apply_late_policy(g: Grading) -> bool:
    """The submission folder is read on the machine that holds it: the grader's, or a cluster's client."""
    late_policy(g.course, g.assignment, g.path, g.result)
    return True


CODE_STEPS: list[Callable[[Grading], bool]] = [read_submission, start_code, draw_cases, run_code, grade_parts]  # a cluster's workers
STEPS = CODE_STEPS + [apply_late_policy]


ATTEMPTS = 2  # a submission whose worker the machine killed is graded again, from the start, once

_sources: dict[tuple[str, int, int, str], tuple[Any, list[tuple[GradedCell, Part]]]] = {}
_sources_lock = threading.Lock()
KEPT_SOURCES = 16


def source_parts(course: Course, assignment: Assignment, source: Path) -> tuple[Any, list[tuple[GradedCell, Part]]]:
    """The source notebook and its grade cells, each with what grades it: read once per version of the file (its
    modification time and size), not once per submission."""
    path = course.root / source
    info = path.stat()
    key = (str(path.resolve()), info.st_mtime_ns, info.st_size, assignment.id)
    with _sources_lock:
        if key not in _sources:
            source_nb = read_notebook(path)
            _sources[key] = source_nb, bind_parts(course, assignment, graded_cells(source_nb))
            while len(_sources) > KEPT_SOURCES:
                del _sources[next(iter(_sources))]
        return _sources[key]


def grade_notebook(course: Course, assignment: Assignment, source: Path, submission: Path, student: str,
                   support: SupportFiles | None = None, server: ForkServer | None = None, read: Read | None = None,
                   seeds: dict[str, int] | None = None, steps: list[Callable[[Grading], bool]] = STEPS,
                   devices: list[str] | None = None) -> SubmissionResult:
    """Grade one submitted notebook against the source notebook `source` (relative to the course folder).
    A worker killed from outside (nothing in the student's code explains it) is no grade: the submission is
    graded again, and if that happens again too, its status is "error" (needs regrade), never a zero.
    A cluster's worker passes the bytes, seeds and devices the client chose (`read`, `seeds`, `devices`) and runs
    CODE_STEPS."""
    timings: dict[str, float] = {}
    with timed(timings, "source notebook"):
        source_nb, parts = source_parts(course, assignment, source)
    devices = devices or grading_devices(course)
    for _ in range(ATTEMPTS):
        result = SubmissionResult(student, assignment.id, source.name, [PartResult(c.grade_id, 0.0, c.points) for c, _ in parts],
                                  timings=timings)
        g = Grading(course, assignment, student, source, submission, parts, result, devices, support,
                    server, source_nb, read, seeds, timings=timings)
        try:
            for step in steps:
                with timed(timings, step.__name__):
                    if not step(g):
                        break
        finally:
            with timed(timings, "cleanup"):  # the worker stopped, its scratch folder removed
                g.cleanup.close()
        if g.worker is not None:
            g.result.troubles = sorted(g.worker.troubles)
            for step, seconds in g.worker.timings.items():
                timings[f"worker: {step}"] = timings.get(f"worker: {step}", 0.0) + seconds
        faults = g.worker.machine_faults if g.worker is not None else []
        if not faults:
            return g.result
    g.result.status = NEEDS_REGRADE
    g.result.notes.insert(0, f"not graded: the notebook's process {faults[0]}, on each of {ATTEMPTS} attempts; this is "
                             "the machine's doing, not the student's: grade this submission again")
    return g.result

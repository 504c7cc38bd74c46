"""Grading a batch: every submission of an assignment, several at once, recorded and reported.

Steps per batch: find submissions -> grade each (jobs in parallel here, or on a Dask cluster) -> record in the
gradebook -> write feedback -> write grades.csv -> print the summary. One broken submission never stops the batch.
"""
from __future__ import annotations

import shutil
import traceback
import warnings
from collections.abc import Iterator
from contextlib import closing
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from tqdm import tqdm

from ..content import checks_of
from ..course import Assignment, Course
from ..nbgrader_run import run_nbgrader
from ..notebook import graded_cells, read_notebook
from ..records.feedback import write_feedback
from ..records.gradebook import Recorder, open_gradebook
from ..records.grades_csv import write_csv
from ..records.stored_results import write_result
from ..results import NEEDS_REGRADE, PartResult, SubmissionResult
from ..student_files import SupportFiles, support_files
from ..text import is_plain_name, shown
from ..workers.client import ForkServer
from .pipeline import grade_notebook, grading_devices
from .stopwatch import timed


def find_submissions(folder: Path, assignment: Assignment) -> list[tuple[str, Path, Path]]:
    """(student, source notebook, submitted path) for every student folder that has this assignment."""
    if not folder.is_dir():
        raise FileNotFoundError(f"no submissions folder {folder} (expected <student>/{assignment.id}/*.ipynb inside)")
    out = []
    for student_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        if (student_dir / assignment.id).is_dir():
            out += [(student_dir.name, nb, student_dir / assignment.id / nb.name) for nb in assignment.notebooks]
    return out


BAD_NAME = "bad-name"  # a student folder whose name cannot be stored or shown as it is: reported, not recorded


def missing(course: Course, assignment: Assignment, source: Path, student: str) -> SubmissionResult:
    parts = [PartResult(c.grade_id, 0.0, c.points) for c in graded_cells(read_notebook(course.root / source))]
    return SubmissionResult(student, assignment.id, source.name, parts, status="missing",
                            notes=[f"{source.name} was not found in the submission"])


def locate(path: Path, source: Path, assignment: Assignment) -> tuple[Path | None, str | None]:
    """The file to grade for `source`, or why there is none. A lone notebook under another name is accepted."""
    folder = path.parent
    if folder.is_symlink() or folder.parent.is_symlink():
        return None, "the submission folder is a symbolic link; submit the files themselves"
    if path.exists() or path.is_symlink():
        return path, None
    expected = {nb.name for nb in assignment.notebooks}
    others = sorted(p for p in folder.glob("*.ipynb") if p.name not in expected)
    if len(assignment.notebooks) == 1 and len(others) == 1:
        return others[0], f"{source.name} was submitted as {shown(others[0].name, 200)}"
    listing = f" (found: {shown(', '.join(p.name for p in others), 300)})" if others else ""
    return None, f"{source.name} was not found in the submission{listing}"


def prepare(course: Course, assignment: Assignment, student: str, source: Path,
            path: Path) -> SubmissionResult | tuple[Path, str | None]:
    """On the machine that holds the submissions: the file to grade and a note about it, or the result of a
    submission that has nothing to grade (a folder name that cannot be recorded, a missing notebook)."""
    if not is_plain_name(student):
        result = missing(course, assignment, source, shown(student, 200))
        result.status, result.notes = BAD_NAME, ["the student folder's name is not plain UTF-8 text: rename it and grade again"]
        return result
    found, note = locate(path, source, assignment)
    if found is None:
        result = missing(course, assignment, source, student)
        result.notes = [note]
        return result
    return found, note


def failed(course: Course, assignment: Assignment, source: Path, student: str, err: BaseException) -> SubmissionResult:
    """A bug of ours, or a submission we did not foresee: reported with where it happened, never a zero."""
    result = missing(course, assignment, source, student)
    where = traceback.extract_tb(err.__traceback__)[-1] if err.__traceback__ else None
    result.status, result.notes = NEEDS_REGRADE, [f"grading failed: {type(err).__name__}: {err}"
                                                  + (f" (in {Path(where.filename).name}:{where.lineno})" if where else "")]
    return result


def grade_one(course: Course, assignment: Assignment, support: SupportFiles | None, student: str, source: Path,
              path: Path, server: ForkServer | None = None) -> SubmissionResult:
    prepared = prepare(course, assignment, student, source, path)
    if isinstance(prepared, SubmissionResult):
        return prepared
    found, note = prepared
    try:
        result = grade_notebook(course, assignment, source, found, student, support, server)
    except Exception as err:  # report it, carry on
        return failed(course, assignment, source, student, err)
    result.notes = ([note] if note else []) + result.notes
    return result


def ensure_in_gradebook(course: Course, assignment: Assignment) -> None:
    """The gradebook must know the assignment's grade cells; nbgrader registers them when it generates a release
    (`autograder configure` registers the assignment and its due date only, without notebooks)."""
    from nbgrader.api import MissingEntry

    with open_gradebook(course) as gb:
        try:
            if gb.find_assignment(assignment.id).notebooks:
                return
        except MissingEntry:
            pass
    result = run_nbgrader(course, "generate_assignment", assignment.id, "--force")
    if result.returncode != 0:
        raise RuntimeError(f"nbgrader could not register {assignment.id}:\n{result.stderr}")


def grade_here(course: Course, assignment: Assignment, todo: list[tuple[str, Path, Path]],
               jobs: int) -> Iterator[SubmissionResult]:
    """Grade on this machine, `jobs` submissions at once, each in a fork of one warm fork server (which keeps
    `jobs` spare workers ready)."""
    support = support_files(assignment, course)
    with ForkServer(spares=max(1, jobs)) as server, ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(grade_one, course, assignment, support, *item, server) for item in todo]
        for future in as_completed(futures):
            yield future.result()


def grade_batch(course: Course, assignment: Assignment, submissions: Path, jobs: int = 1,
                progress: bool = True, dask: str | None = None, unsafe: bool = False) -> list[SubmissionResult]:
    """Grade every submission of `assignment`, here (`jobs` at once) or on the Dask cluster at `dask`. Either way
    this process alone records: the gradebook, feedback and grades.csv come out the same. `unsafe`: Dask workers
    grade even where they cannot isolate student code (this machine's own check is the caller's)."""
    if dask is None:
        grading_devices(course)  # refuse before any work when course.yml asks for a GPU this machine lacks
    else:
        from ..cluster.client import grade_on_cluster, local_workers  # Dask is imported only when asked for

        local_workers(dask)  # a malformed local:N, likewise (the cluster's own refusals come when it is reached)
    checks_of(course, assignment)  # import the assignment's checks once, before the threads start
    todo = find_submissions(submissions, assignment)
    ensure_in_gradebook(course, assignment)
    graded = grade_here(course, assignment, todo, jobs) if dask is None else \
        grade_on_cluster(course, assignment, todo, dask, unsafe)
    results: list[SubmissionResult] = []
    with closing(graded), Recorder(course) as recorder:  # closing: a local cluster stops even if recording fails
        for result in tqdm(graded, total=len(todo), disable=not progress, desc=f"grading {assignment.id}"):
            results.append(result)
            if result.status != BAD_NAME:
                keep(course, recorder, result)  # as each finishes: a later failure loses nothing graded
    results.sort(key=lambda r: (r.student, r.notebook))
    write_csv(course.root / "grades.csv", [r for r in results if r.status != BAD_NAME])
    return results


def keep(course: Course, recorder: Recorder, result: SubmissionResult) -> None:
    """Record one result in the gradebook, write its feedback and the copy formgrader shows (an earlier copy goes
    when this submission has none), then store what grading found for the class report. A submission that needs
    regrading records no score: whatever the gradebook held for it stays, no zero is written, and only the stored
    result says that it needs regrading."""
    if not result.needs_regrade:
        with timed(result.timings, "gradebook"):
            recorder.record(result)
        with timed(result.timings, "feedback"):
            write_feedback(course.root / "feedback", result)
            copy = course.root / "autograded" / result.student / result.assignment / result.notebook
            if result.graded_file is not None and result.status in ("graded", "modified"):
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(result.graded_file, copy)  # the submission itself stays untouched
            elif copy.is_file() and not copy.is_symlink():  # similarity must not compare the code of an earlier grading
                copy.unlink()
    try:
        with timed(result.timings, "stored result"):
            write_result(course.root, result)
    except OSError as err:  # the grade is recorded; only the report misses it
        warnings.warn(f"{result.student}: the class report's copy of this result was not written: {err}")

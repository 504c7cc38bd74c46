"""`autograder grade`: every submission of an assignment, several at once, recorded and reported.

Steps per batch: find submissions -> grade each (jobs in parallel) -> record in the gradebook ->
write feedback -> write grades.csv -> print the summary. One broken submission never stops the batch.
"""
from __future__ import annotations

import csv
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from tqdm import tqdm

from .course import Assignment, Course
from .feedback import write_feedback
from .gradebook import open_gradebook, record
from .grading import PartResult, SubmissionResult, grade_notebook, grading_devices
from .notebook import graded_cells, read_notebook
from .release import run_nbgrader, write_support_files
from .runner import ForkServer


def find_submissions(folder: Path, assignment: Assignment) -> list[tuple[str, Path, Path]]:
    """(student, source notebook, submitted path) for every student folder that has this assignment."""
    if not folder.is_dir():
        raise FileNotFoundError(f"no submissions folder {folder} (expected <student>/{assignment.id}/*.ipynb inside)")
    out = []
    for student_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        if (student_dir / assignment.id).is_dir():
            out += [(student_dir.name, nb, student_dir / assignment.id / nb.name) for nb in assignment.notebooks]
    return out


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
        return others[0], f"{source.name} was submitted as {others[0].name}"
    listing = f" (found: {', '.join(p.name for p in others)})" if others else ""
    return None, f"{source.name} was not found in the submission{listing}"


def grade_one(course: Course, assignment: Assignment, support: Path | None, student: str, source: Path,
              path: Path, server: ForkServer | None = None) -> SubmissionResult:
    found, note = locate(path, source, assignment)
    if found is None:
        result = missing(course, assignment, source, student)
        result.notes = [note]
        return result
    try:
        result = grade_notebook(course, assignment, source, found, student, support, server)
        result.notes = ([note] if note else []) + result.notes
        return result
    except Exception as err:  # a bug of ours, or a submission we did not foresee: report it, carry on
        result = missing(course, assignment, source, student)
        result.status, result.notes = "error", [f"grading failed: {type(err).__name__}: {err}"]
        return result


def ensure_in_gradebook(course: Course, assignment: Assignment) -> None:
    """The gradebook must know the assignment's grade cells; nbgrader registers them when it generates a release."""
    from nbgrader.api import MissingEntry

    with open_gradebook(course) as gb:
        try:
            gb.find_assignment(assignment.id)
            return
        except MissingEntry:
            pass
    result = run_nbgrader(course, "generate_assignment", assignment.id, "--force")
    if result.returncode != 0:
        raise RuntimeError(f"nbgrader could not register {assignment.id}:\n{result.stderr}")


COLUMNS = ["student", "assignment", "notebook", "score", "max_score", "status", "late_multiplier"]


def write_csv(path: Path, results: list[SubmissionResult]) -> None:
    """grades.csv holds every graded assignment: a batch's rows replace the earlier rows of its assignment.
    Rows are sorted by assignment and student, so the same grades always give the same file."""
    rows = [{"student": r.student, "assignment": r.assignment, "notebook": r.notebook, "score": f"{r.score:g}",
             "max_score": f"{r.max_score:g}", "status": r.status, "late_multiplier": f"{r.late_multiplier:g}",
             **{p.grade_id: "" if p.score is None else f"{p.score:g}" for p in r.parts}} for r in results]
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
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS + parts, restval="")
        writer.writeheader()
        writer.writerows(rows)


def summary(results: list[SubmissionResult]) -> str:
    lines = [f"{'student':<20} {'notebook':<22} {'score':>12}  {'by hand':>7}  status"]
    for r in results:
        manual = sum(p.max_score for p in r.parts if p.score is None)
        lines.append(f"{r.student:<20} {r.notebook:<22} {r.score:>6g} / {r.max_score:<4g}  {manual:>7g}  {r.status}"
                     + ("" if r.late_multiplier == 1 else f" (late x{r.late_multiplier:g})"))
    return "\n".join(lines)


def grade_batch(course: Course, assignment: Assignment, submissions: Path, jobs: int = 1,
                progress: bool = True) -> list[SubmissionResult]:
    grading_devices(course)  # refuse before any work when course.yml asks for a GPU this machine lacks
    todo = find_submissions(submissions, assignment)
    ensure_in_gradebook(course, assignment)
    results: list[SubmissionResult] = []
    with tempfile.TemporaryDirectory(prefix="support-") as support, ForkServer() as server, \
            ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        write_support_files(Path(support), assignment, course)
        futures = [pool.submit(grade_one, course, assignment, Path(support), *item, server) for item in todo]
        for future in tqdm(as_completed(futures), total=len(futures), disable=not progress, desc=f"grading {assignment.id}"):
            results.append(future.result())
    results.sort(key=lambda r: (r.student, r.notebook))
    record(course, results)
    for r in results:
        write_feedback(course.root / "feedback", r)
        if r.graded_file is not None and r.status in ("graded", "modified"):
            copy = course.root / "autograded" / r.student / r.assignment / r.notebook
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(r.graded_file, copy)  # formgrader shows this copy; the submission stays untouched
    write_csv(course.root / "grades.csv", results)
    return results

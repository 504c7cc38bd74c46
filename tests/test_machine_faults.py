"""A worker the machine kills is never a grade. On a busy machine the kernel's OOM killer (or an operator) can
SIGKILL a student's worker in the middle of grading; before, every part then scored 0 with status "graded"
("the notebook's process stopped (the pipe closed; exit code None)"). Here a fork server plays the OOM killer:
it kills the worker's processes from outside, as the kernel does, while a CPU hog runs beside the batch."""
from __future__ import annotations

import csv
import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from autograder.course import load_course
from autograder.grading.batch import grade_batch
from autograder.grading.pipeline import grade_notebook
from autograder.workers.client import ForkServer
from submissions import by_part, submit

ROOT = Path(__file__).resolve().parents[1]
AID = "a2-attention"


def student_process(pid: int) -> int:
    """The process that runs the student's code: the child in the worker's pid namespace where there is one
    (what the OOM killer picks: it holds the memory), else the worker itself."""
    for _ in range(500):  # until the worker has made its namespace (it does so before running any cell)
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return pid
        if children:
            return int(children[0])
        time.sleep(0.01)
    return pid


class OomKiller(ForkServer):
    """Kills the student process of the first `kills` workers it forks (all of them with kills=None)."""

    def __init__(self, kills: int | None) -> None:
        super().__init__()
        self.kills, self.killed = kills, 0

    def fork(self, cwd, log):
        forked = super().fork(cwd, log)
        if self.kills is None or self.killed < self.kills:
            self.killed += 1
            victim = student_process(forked[0])
            os.kill(victim, signal.SIGKILL)
        return forked


def spin() -> None:
    while True:
        pass


@pytest.fixture
def cpu_hog():
    """Two busy processes beside the grader, one per core of a CI machine."""
    hogs = [multiprocessing.get_context("fork").Process(target=spin, daemon=True) for _ in range(2)]
    for hog in hogs:
        hog.start()
    yield
    for hog in hogs:
        hog.kill()
        hog.join()


def test_a_worker_killed_once_is_graded_again_and_earns_full_marks(tmp_path: Path, grade, cpu_hog) -> None:
    course = load_course(ROOT / "course.yml")
    assignment = course.assignment(AID)
    path = submit(tmp_path, assignment, "ada", [])
    honest = grade(course, assignment, path, "ada")
    with OomKiller(kills=1) as server:
        result = grade_notebook(course, assignment, assignment.notebooks[0], path, "ada", server=server)
    assert server.killed == 1
    assert result.status == "graded", result.notes
    assert by_part(result) == by_part(honest)


def test_a_worker_killed_every_time_needs_regrade_and_records_no_zero(tmp_path: Path, cpu_hog) -> None:
    import shutil

    from nbgrader.api import MissingEntry

    from autograder.commands.grade import summary
    from autograder.records.gradebook import open_gradebook

    shutil.copytree(ROOT / "assignments", tmp_path / "assignments")
    shutil.copy(ROOT / "course.yml", tmp_path / "course.yml")
    course = load_course(tmp_path / "course.yml")
    assignment = course.assignment(AID)
    submit(tmp_path, assignment, "bea", [])
    original = ForkServer
    import autograder.grading.batch as batch

    batch.ForkServer = lambda: OomKiller(kills=None)
    try:
        results = grade_batch(course, assignment, tmp_path / "submitted", jobs=2, progress=False)
    finally:
        batch.ForkServer = original
    (result,) = results
    assert result.status == "error" and result.needs_regrade
    assert "killed from outside" in result.notes[0] and "grade this submission again" in result.notes[0]
    with (tmp_path / "grades.csv").open() as f:
        (row,) = list(csv.DictReader(f))
    assert row["score"] == "needs regrade" and row["status"] == "error"
    assert all(row[p.grade_id] == "" for p in result.parts)
    with open_gradebook(course) as gb, pytest.raises(MissingEntry):
        gb.find_submission(AID, "bea")
    assert not (tmp_path / "feedback" / "bea").exists()
    assert "1 submission(s) not graded" in summary(results)


def test_a_student_who_exits_on_purpose_still_gets_the_zero(tmp_path: Path, grade) -> None:
    """The worker's namespace parent reports an exit of its own (os._exit): that is the student's, not a fault."""
    course = load_course(ROOT / "course.yml")
    assignment = course.assignment(AID)
    path = submit(tmp_path, assignment, "cid", [("def make_causal_mask(n: int) -> torch.Tensor:",
                                                 "def make_causal_mask(n: int) -> torch.Tensor:\n    import os; os._exit(5)")])
    result = grade(course, assignment, path, "cid")
    assert result.status == "graded"
    assert by_part(result)["causal-mask"][0] == 0
    assert any("exited with status 5" in m for m in dict((p.grade_id, p) for p in result.parts)["causal-mask"].messages)

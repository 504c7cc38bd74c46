"""A worker the machine kills is never a grade, and a student cannot pass their own death off as the machine's.

On a busy machine the kernel's OOM killer can pick the grader's fork server (or a worker under its own memory
limit) in the middle of a batch; before, every part then scored 0 with status "graded" ("the notebook's
process stopped (the pipe closed; exit code None)"). Here a fork server is killed from outside, as the OOM
killer does, while a CPU hog runs beside the batch. A SIGKILL only counts as the machine's on evidence (the
fork server died, or the OOM killer struck a worker under its own limit): a student whose code kills itself
(a CPU limit it lowered, os._exit) keeps the zero."""
from __future__ import annotations

import csv
import multiprocessing
import os
import signal
from pathlib import Path

import pytest

from autograder.course import copy_course, load_course
from autograder.grading.batch import grade_batch
from autograder.grading.pipeline import grade_notebook
from autograder.sandbox.cgroups import oom_kill
from autograder.workers.client import ForkServer
from submissions import by_part, submit

ROOT = Path(__file__).resolve().parents[1]
AID = "a2-attention"


class ServerKiller(ForkServer):
    """The OOM killer's pick: the fork server itself is killed right after each of its first `kills` forks
    (every fork with kills=None), and its workers die with it."""

    def __init__(self, kills: int | None, **options) -> None:
        super().__init__(**options)
        self.kills, self.killed = kills, 0

    def fork(self, log):
        forked = super().fork(log)
        if self.kills is None or self.killed < self.kills:
            self.killed += 1
            os.kill(self.proc.pid, signal.SIGKILL)
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


def test_a_batch_whose_fork_server_is_killed_grades_again_and_gives_full_marks(tmp_path: Path, grade, cpu_hog) -> None:
    course = load_course(ROOT / "course.yml")
    assignment = course.assignment(AID)
    path = submit(tmp_path, assignment, "ada", [])
    honest = grade(course, assignment, path, "ada")
    with ServerKiller(kills=1) as server:
        result = grade_notebook(course, assignment, assignment.notebooks[0], path, "ada", server=server)
        assert server.killed == 1 and server.generation == 1, "the server was started again after it was killed"
    assert result.status == "graded", result.notes
    assert by_part(result) == by_part(honest)


def test_a_submission_the_machine_never_lets_finish_needs_regrade_and_records_no_zero(tmp_path: Path, cpu_hog) -> None:
    from nbgrader.api import MissingEntry

    import autograder.grading.batch as batch
    from autograder.commands.grade import summary
    from autograder.records.gradebook import open_gradebook

    copy_course(ROOT, tmp_path)
    course = load_course(tmp_path / "course.yml")
    assignment = course.assignment(AID)
    submit(tmp_path, assignment, "bea", [])
    original = batch.ForkServer
    batch.ForkServer = lambda **options: ServerKiller(kills=None)  # no spares: each fork is the submission's own
    try:
        results = grade_batch(course, assignment, tmp_path / "submitted", jobs=2, progress=False)
    finally:
        batch.ForkServer = original
    (result,) = results
    assert result.status == "error" and result.needs_regrade
    assert "fork server was killed" in result.notes[0] and "grade this submission again" in result.notes[0]
    with (tmp_path / "grades.csv").open() as f:
        (row,) = list(csv.DictReader(f))
    assert row["score"] == "needs regrade" and row["status"] == "error"
    assert all(row[p.grade_id] == "" for p in result.parts)
    with open_gradebook(course) as gb, pytest.raises(MissingEntry):
        gb.find_submission(AID, "bea")
    assert not (tmp_path / "feedback" / "bea").exists()
    assert "1 submission(s) not graded" in summary(results)


@pytest.mark.parametrize("death,words", [
    ("import os; os._exit(5)", "exited with status 5"),
    # a CPU limit the student lowers: the kernel's SIGKILL at the hard limit is the student's doing
    ("import resource\n    resource.setrlimit(resource.RLIMIT_CPU, (1, 1))\n    while True:\n        pass", "SIGKILL"),
])
def test_a_student_whose_code_kills_itself_keeps_the_zero(tmp_path: Path, grade, death: str, words: str) -> None:
    course = load_course(ROOT / "course.yml")
    assignment = course.assignment(AID)
    path = submit(tmp_path, assignment, "cid", [("def make_causal_mask(n: int) -> torch.Tensor:",
                                                 f"def make_causal_mask(n: int) -> torch.Tensor:\n    {death}")])
    result = grade(course, assignment, path, "cid")
    assert result.status == "graded"
    score, messages = by_part(result)["causal-mask"]
    assert score == 0 and all(words in m for m in messages), messages
    assert by_part(result)["padding-mask"][0] == 3, "the other parts are graded as usual"


@pytest.mark.parametrize("files,verdict", [
    ({"memory.events": "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n"}, "own"),
    ({"memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 1\n"}, "host"),
    ({"memory.events": "low 0\nhigh 0\nmax 3\noom 0\noom_kill 0\n"}, None),
    ({"memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n", "memory.failcnt": "40\n"}, "own"),
    ({"memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n", "memory.failcnt": "0\n"}, "host"),
    ({"memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n", "memory.failcnt": "0\n"}, None),
])
def test_an_oom_kill_is_the_students_only_when_their_group_reached_its_limit(tmp_path: Path, files, verdict) -> None:
    """The kernel counts every OOM kill in a group, the machine-wide OOM killer's too (cgroup v2 and v1 files)."""
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert oom_kill(tmp_path) == verdict

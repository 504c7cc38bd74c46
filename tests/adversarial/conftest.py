"""Every hostile submission is graded twice: here (a fork server of this process) and on a real Dask cluster
(a scheduler and `dask worker` processes on loopback), and must earn the same on both."""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
from dask_cluster import Cluster, workers_may_grade

from autograder.course import Assignment, Course
from autograder.grading.batch import grade_batch as grade_batch_of
from autograder.results import SubmissionResult


class Grading:
    """Where a test grades: `here`, or on the Dask cluster `cluster` (None here)."""

    def __init__(self, where: str, cluster: Cluster | None) -> None:
        self.where = where
        self.cluster = cluster

    @property
    def address(self) -> str | None:
        """The scheduler's address on Dask, None here."""
        return self.cluster.address if self.cluster is not None else None

    @contextmanager
    def environment(self, name: str, value: str) -> Iterator[None]:
        """`name`=`value` in the environment of the processes that grade, as an instructor's shell would have it:
        this process here, each Dask worker's process on Dask (the fork servers a batch starts inherit from it)."""
        if self.cluster is None:
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv(name, value)
                yield
            return
        from distributed import Client

        def put() -> None:
            os.environ[name] = value

        def drop() -> None:
            os.environ.pop(name, None)

        with Client(self.address, timeout="60s") as client:
            client.run(put)
            try:
                yield
            finally:
                client.run(drop)

    def grader_processes(self) -> list[psutil.Process]:
        """The processes that grade and outlive a batch: this one; on Dask also each worker's nanny and worker
        process, started before the test and kept after it (without what a batch starts inside them)."""
        out = [psutil.Process()]
        for proc in self.cluster.workers if self.cluster is not None else []:
            nanny = psutil.Process(proc.pid)
            out += [nanny] + [p for p in nanny.children(recursive=True) if not started_by_grading(p)]
        return out

    @staticmethod
    def processes() -> set[int]:
        """This process's descendants (a Dask worker's fork servers among them) and any orphaned fork server or
        worker on the machine; another grader's own fork servers (a neighbour's test run) are not ours to count."""
        pids = {p.pid for p in psutil.Process().children(recursive=True)}
        return pids | {p.pid for p in psutil.process_iter(["ppid"]) if p.info["ppid"] == 1 and started_by_grading(p)}

    @classmethod
    def leftovers(cls, before: set[int]) -> list[list[str]]:
        """The command lines of processes() that were not there `before` and still run after a grace of 30 s
        (the kernel, or a Dask worker tearing its batch down, may take a moment)."""
        new = []
        for pid in cls.processes() - before:
            try:
                new.append(psutil.Process(pid))
            except psutil.Error:
                pass
        left = []
        for proc in psutil.wait_procs(new, timeout=30)[1]:
            try:
                if proc.status() != psutil.STATUS_ZOMBIE:
                    left.append(proc.cmdline())
            except psutil.Error:
                pass
        return left


def started_by_grading(proc: psutil.Process) -> bool:
    """A process a batch starts (a fork server, a worker, a student's child): none should outlive the batch."""
    try:
        return any("autograder.workers" in part for part in proc.cmdline())
    except psutil.Error:
        return False


@pytest.fixture(scope="module", params=["here", pytest.param("dask", marks=[pytest.mark.dask, pytest.mark.skipif(
    not workers_may_grade(), reason="a Dask worker here would refuse to grade: no file or network isolation")])])
def grading(request: pytest.FixtureRequest) -> Grading:
    """The path a test grades on; the Dask cluster starts only when a "dask" test first needs it."""
    return Grading(request.param, request.getfixturevalue("dask_cluster") if request.param == "dask" else None)


@pytest.fixture(scope="module")
def grade(grading: Grading, request: pytest.FixtureRequest) -> Callable[[Course, Assignment, Path, str], SubmissionResult]:
    """grade(course, assignment, path, student) -> SubmissionResult on the test's path: here through the session's
    fork server (tests/conftest.py's `grade`), on Dask as a batch of one that records nothing."""
    if grading.address is None:
        return request.getfixturevalue("grade")
    from autograder.cluster.client import grade_on_cluster

    def grade_one(course: Course, assignment: Assignment, path: Path, student: str) -> SubmissionResult:
        (result,) = grade_on_cluster(course, assignment, [(student, assignment.notebooks[0], path)], grading.address)
        return result

    return grade_one


@pytest.fixture(scope="module")
def grade_batch(grading: Grading) -> Callable[..., list[SubmissionResult]]:
    """grade_batch(course, assignment, submissions, jobs=1, progress=True) on the test's path (jobs count here)."""

    def batch(course: Course, assignment: Assignment, submissions: Path, jobs: int = 1,
              progress: bool = True) -> list[SubmissionResult]:
        return grade_batch_of(course, assignment, submissions, jobs, progress, dask=grading.address)

    return batch

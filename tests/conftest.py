"""Shared test settings: the tolerances every cross-check states, and the devices to run on."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# Cross-check tolerances (absolute, relative) by dtype. float32 differences come only from the
# order of floating-point operations; bfloat16 keeps 8 bits of mantissa (~0.4% per rounding).
TOL = {
    torch.float32: dict(atol=1e-5, rtol=1e-4),
    torch.bfloat16: dict(atol=3e-2, rtol=3e-2),
}
# Whole models stack several layers, so rounding differences accumulate a little more.
MODEL_TOL = dict(atol=1e-4, rtol=1e-4)
SEEDS = [0, 1, 2]

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # cross-checks build models from configs; nothing is downloaded
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> torch.device:
    return torch.device(request.param)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA; none here")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def fork_server():
    """One warm fork server for every grading test (each submission still gets a fresh fork of it)."""
    from autograder.workers.client import ForkServer

    with ForkServer() as server:
        yield server


@pytest.fixture(scope="session")
def grade(fork_server, tmp_path_factory: pytest.TempPathFactory):
    """grade(course, assignment, path, student) -> SubmissionResult, as a batch grades: through the session's
    fork server, with the assignment's support files made once per course folder."""
    from autograder.grading.pipeline import grade_notebook
    from autograder.student_files import support_files

    support: dict[tuple[Path, str], dict[str, bytes]] = {}

    def grade_one(course, assignment, path: Path, student: str):
        key = (course.root, assignment.id)
        if key not in support:
            support[key] = support_files(assignment, course)
        return grade_notebook(course, assignment, assignment.notebooks[0], path, student, support[key], fork_server)

    return grade_one


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory):
    """A real scheduler and two `dask worker` processes on loopback, shared by the tests that grade on Dask."""
    from dask_cluster import dask_cluster as start

    with start(tmp_path_factory.mktemp("dask")) as cluster:
        yield cluster


# The generated class of the report tests: honest students in their own styles, planted mistakes (most common
# first), three planted copies, two late submissions; graded once per session.
PLANTED_MISTAKES = {"no scaling": 5, "softmax over the wrong axis": 3, "causal mask without the diagonal": 2,
                    "wrong answer: why scale": 4}
LATE = {"s002": "2027-02-02T10:00:00+00:00", "s004": "2027-02-09T10:00:00+00:00"}  # a2 is due 2027-02-01 23:59 UTC


@pytest.fixture(scope="session")
def graded_class(tmp_path_factory: pytest.TempPathFactory):
    """(course folder, GeneratedClass): a scratch course whose a2-attention was graded for a generated class."""
    from autograder.course import copy_course, load_course
    from autograder.grading.batch import grade_batch
    from generated_class import generate_class

    root = tmp_path_factory.mktemp("class-course")
    copy_course(Path(__file__).resolve().parents[1], root)
    course = load_course(root / "course.yml")
    assignment = course.assignment("a2-attention")
    made = generate_class(root / "submitted", assignment, n_honest=14, mistake_counts=PLANTED_MISTAKES)
    for student, when in LATE.items():
        (root / "submitted" / student / assignment.id / "timestamp.txt").write_text(when)
    grade_batch(course, assignment, root / "submitted", jobs=2, progress=False)
    return root, made

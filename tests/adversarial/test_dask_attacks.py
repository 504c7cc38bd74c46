"""Attacks that only the Dask path invites. Student code there runs beside a Dask worker that can reach the
scheduler, and the worker holds a copy of the course. Each attack below would earn full marks if it worked.
A worker whose sandbox cannot stop such attacks refuses to grade. And the client, not a worker, says who a
result is about."""
from __future__ import annotations

import glob
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from autograder.course import copy_course, load_course
from autograder.grading.batch import grade_batch
from autograder.sandbox.landlock import abi_version
from dask_cluster import dask_cluster as start_cluster
from dask_cluster import workers_may_grade

pytestmark = [pytest.mark.dask, pytest.mark.skipif(not workers_may_grade(), reason="a Dask worker here would "
                                                    "refuse to grade: no file or network isolation for student code")]

ROOT = Path(__file__).resolve().parents[2]
AID = "a2-attention"
SDPA = "def scaled_dot_product_attention("
STUB = "def scaled_dot_product_attention(q, k, v, mask=None):\n        raise NotImplementedError()"
HONEST = 30.0  # a2's autograded points; the other 2 are graded by hand


def solution_of_sdpa() -> str:
    nb = nbformat.read(str(ROOT / "assignments" / AID / "attention.ipynb"), as_version=4)
    return next(c.source for c in nb.cells if c.source.startswith(SDPA))


def stub_unless(condition_code: str) -> str:
    """A cell whose attention is the solution only when `condition_code` (which sets `reached`) succeeds."""
    return (f"{condition_code}\n"
            f"if reached:\n" + "\n".join("    " + line for line in solution_of_sdpa().splitlines()) + "\n"
            f"else:\n    {STUB}\n")


REACH_SCHEDULER = """import socket
reached = False
try:
    socket.create_connection(("{host}", {port}), timeout=5).close()
    reached = True
except OSError:
    pass"""

BUNDLED_SOURCE = f"{tempfile.gettempdir()}/autograder-bundle-*/course/assignments/{AID}/attention.ipynb"
READ_BUNDLE = f"""import glob, json
reached = False
for path in glob.glob({BUNDLED_SOURCE!r}):
    try:
        json.load(open(path))
        reached = True
    except OSError:
        pass"""


def course_with(root: Path, students: dict[str, str]) -> tuple:
    """A scratch course whose submissions replace a2's attention cell with each student's code."""
    course = load_course(copy_course(ROOT, root))
    source = ROOT / "assignments" / AID / "attention.ipynb"
    for student, code in students.items():
        nb = nbformat.read(str(source), as_version=4)
        next(c for c in nb.cells if c.source.startswith(SDPA)).source = code
        path = root / "submitted" / student / AID / "attention.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(nb, str(path))
    return course, course.assignment(AID)


def test_student_code_on_a_worker_reaches_neither_the_scheduler_nor_the_course_copy(tmp_path: Path,
                                                                                     dask_cluster) -> None:
    host, port = dask_cluster.address.removeprefix("tcp://").rsplit(":", 1)
    course, assignment = course_with(tmp_path, {
        "caller": stub_unless(REACH_SCHEDULER.format(host=host, port=port)),
        "reader": stub_unless(READ_BUNDLE),
        "control": stub_unless("reached = True"),  # the same code earns its points where the attack succeeds
        "honest": solution_of_sdpa(),
    })
    with ThreadPoolExecutor(1) as pool:
        batch = pool.submit(grade_batch, course, assignment, tmp_path / "submitted", progress=False,
                            dask=dask_cluster.address)
        seen = False  # a control: the worker's copy of the course is where the attack looks, while it grades
        while not batch.done():
            seen = seen or bool(glob.glob(BUNDLED_SOURCE))
            time.sleep(0.05)
        results = {r.student: r for r in batch.result()}
    assert seen, f"no worker's course copy matched {BUNDLED_SOURCE} during the batch"
    assert results["honest"].score == HONEST, results["honest"]
    sdpa = {s: next(p for p in results[s].parts if p.grade_id == "scaled-dot-product-attention") for s in results}
    assert sdpa["honest"].score == sdpa["control"].score == sdpa["honest"].max_score > 0
    assert sdpa["caller"].score == 0, "student code connected to the Dask scheduler"
    assert sdpa["reader"].score == 0, "student code read the worker's copy of the course"


@pytest.mark.skipif(abi_version() < 1, reason="the kernel has no Landlock: no worker here is safe to grade")
@pytest.mark.parametrize("switches, why", [
    ("landlock=0", "cannot hide the reference implementation"),
    pytest.param("landlock=3,bubblewrap=off,namespaces=off", "could open TCP connections",
                 marks=pytest.mark.skipif(os.geteuid() != 0, reason="without root and pid namespaces, the worker "
                                          "refuses for another reason first (students not kept apart)")),
], ids=["files", "network"])
def test_a_worker_that_cannot_isolate_student_code_refuses_to_grade(tmp_path: Path, switches: str, why: str) -> None:
    course, assignment = course_with(tmp_path / "course", {"honest": solution_of_sdpa()})
    with start_cluster(tmp_path / "cluster", workers=0) as cluster:
        cluster.start_worker("weak", env={"AUTOGRADER_SANDBOX": switches})
        cluster.wait_for_workers(1)
        (refused,) = grade_batch(course, assignment, tmp_path / "course" / "submitted", progress=False,
                                 dask=cluster.address)
        assert refused.needs_regrade and why in refused.notes[0], refused.notes
        assert not (tmp_path / "course" / "feedback").exists(), "a refusal records nothing"
        (graded,) = grade_batch(course, assignment, tmp_path / "course" / "submitted", progress=False,
                                dask=cluster.address, unsafe=True)
        assert graded.status == "graded" and graded.score == HONEST, graded.notes


def test_the_client_says_who_a_result_is_about(dask_cluster) -> None:
    """A worker's answer naming another student, another assignment or other parts is not recorded as given."""
    from distributed import Client

    from autograder.cluster.client import received
    from autograder.results import PartResult, SubmissionResult

    course = load_course(ROOT / "course.yml")
    assignment = course.assignment(AID)
    source = assignment.notebooks[0]
    parts = [("scaled-dot-product-attention", 8.0)]
    forged = SubmissionResult("victim", "a1-embeddings", "other.ipynb", [PartResult("scaled-dot-product-attention", 8.0, 8.0)],
                              late_multiplier=3.0)
    with Client(dask_cluster.address, timeout="60s") as client:
        future = client.submit(lambda r: r, forged, pure=False)
        future.result()
        stamp = SubmissionResult("mallory", AID, source.name, [])
        result = received(course, assignment, future, ("mallory", source, Path("attention.ipynb"), None, stamp), parts)
        assert (result.student, result.assignment, result.notebook, result.late_multiplier) == \
            ("mallory", AID, source.name, 1.0)
        other = client.submit(lambda r: r, forged, pure=False)
        other.result()
        wrong = received(course, assignment, other, ("mallory", source, Path("attention.ipynb"), None, stamp),
                         parts + [("causal-mask", 3.0)])
        assert wrong.needs_regrade and "not this submission's grade" in wrong.notes[0]

"""The client's side of grading on a Dask cluster: connect (or start a local cluster), send one task per
submission, collect the results as they finish. Deadlines, seeds and every record are decided here, on the
machine that holds the submissions; a task whose workers keep dying is reported, never recorded as a zero."""
from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..course import Assignment, Course
from ..grading.batch import failed, missing, prepare
from ..grading.intake import MAX_BYTES, REFUSED, read_submitted_file
from ..grading.pipeline import late_policy
from ..grading.seeds import student_seed
from ..notebook import graded_cells, read_notebook
from ..results import NEEDS_REGRADE, SubmissionResult

LOCAL = re.compile(r"local:(\d+)")
CONNECT_TIMEOUT_S = 30
ALLOWED_FAILURES = 3  # a local cluster's deaths per task before it gives up (Dask's default, said explicitly)


@contextmanager
def connect(address: str) -> Iterator["distributed.Client"]:
    """A client of the scheduler at `address` (tcp://host:port, tls://...), or of a LocalCluster of N worker
    processes for local:N; closed (and the local cluster stopped) on exit."""
    import dask
    from distributed import Client, LocalCluster

    local = LOCAL.fullmatch(address)
    if address.startswith("local") and (local is None or int(local[1]) < 1):
        raise ValueError(f"--dask {address}: write local:N with N the number of worker processes, e.g. local:2")
    if local:
        with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}), \
                LocalCluster(n_workers=int(local[1]), threads_per_worker=1, processes=True, dashboard_address=None,
                             silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
            yield client
        return
    try:
        client = Client(address, timeout=f"{CONNECT_TIMEOUT_S}s")
    except (OSError, TimeoutError, ValueError) as err:
        raise RuntimeError(f"cannot reach the Dask scheduler at {address}: {err}") from None
    with client:
        yield client


def gpu_resources(course: Course, client: "distributed.Client") -> dict[str, float] | None:
    """course.yml's device: cuda sends every task to a worker that offers a GPU (dask worker --resources GPU=1);
    auto grades on whatever each worker has, cpu on the CPU."""
    if course.device != "cuda":
        return None
    if not any(w.get("resources", {}).get("GPU") for w in client.scheduler_info()["workers"].values()):
        raise RuntimeError("course.yml sets device: cuda, but no Dask worker offers a GPU: start GPU workers with "
                           "`dask worker ADDRESS --resources GPU=1`")
    return {"GPU": 1}


def seeds_for(course: Course, assignment: Assignment, source: Path, student: str) -> dict[str, int]:
    """Every part's seed, drawn here: the grading secret never leaves the client."""
    return {c.grade_id: student_seed(course, assignment.id, student, c.grade_id)
            for c in graded_cells(read_notebook(course.root / source))}


def grade_on_cluster(course: Course, assignment: Assignment, todo: list[tuple[str, Path, Path]],
                     address: str) -> Iterator[SubmissionResult]:
    """Grade on the Dask cluster at `address`; yield each result as it finishes, late policy applied."""
    from distributed import as_completed

    from .bundle import make_bundle
    from .site import GradingPlugin, Job, grade_job, sweep_leftovers

    with connect(address) as client:
        resources = gpu_resources(course, client)
        plugin = GradingPlugin(make_bundle(course, assignment))
        client.register_plugin(plugin, name=plugin.name)
        try:
            sent = {}
            for student, source, path in todo:
                prepared = prepare(course, assignment, student, source, path)
                if isinstance(prepared, SubmissionResult):
                    yield prepared
                    continue
                found, note = prepared
                job = Job(student, str(source), found.name, read_submitted_file(found, MAX_BYTES),
                          seeds_for(course, assignment, source, student))
                future = client.submit(grade_job, plugin.name, job, key=f"grade-{uuid.uuid4().hex}", pure=False,
                                       resources=resources)
                sent[future] = (student, source, found, note)
            for future in as_completed(sent):
                student, source, found, note = sent.pop(future)
                yield received(course, assignment, future, student, source, found, note)
                future.release()
        finally:
            client.unregister_worker_plugin(plugin.name)
            client.run(sweep_leftovers)


def received(course: Course, assignment: Assignment, future: "distributed.Future", student: str, source: Path,
             found: Path, note: str | None) -> SubmissionResult:
    """A task's result as the local path would have made it: the client's note first, its late policy last."""
    from distributed import KilledWorker

    try:
        result = future.result()
    except KilledWorker as err:
        result = missing(course, assignment, source, student)
        result.status, result.notes = NEEDS_REGRADE, [
            f"not graded: each Dask worker that graded it died ({err}); this is the machine's doing, not the "
            "student's: grade this submission again"]
        return result
    except Exception as err:  # a bug of ours on the worker, or a worker that cannot grade: reported, never a zero
        return failed(course, assignment, source, student, err)
    result.graded_file = found
    result.notes = ([note] if note else []) + result.notes
    if result.status not in REFUSED:  # as the local pipeline, which stops at a refused file
        late_policy(course, assignment, found, result)
    return result

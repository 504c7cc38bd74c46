"""The client's side of grading on a Dask cluster: connect (or start a local cluster), send one task per
submission, collect the results as they finish. Deadlines, seeds and every record are decided here, on the
machine that holds the submissions; a task whose workers keep dying is reported, never recorded as a zero."""
from __future__ import annotations

import logging
import re
import uuid
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ..course import Assignment, Course
from ..grading.batch import failed, missing, prepare
from ..grading.intake import MAX_BYTES, REFUSED, read_submitted_file
from ..grading.pipeline import late_policy
from ..grading.seeds import student_seed
from ..notebook import graded_cells, read_notebook
from ..results import NEEDS_REGRADE, SubmissionResult

if TYPE_CHECKING:
    import distributed

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


def seeds_for(course: Course, assignment: Assignment, source: Path, student: str,
              cells: dict[Path, list[str]]) -> dict[str, int]:
    """Every part's seed, drawn here: the grading secret never leaves the client. `cells` caches each source's ids."""
    if source not in cells:
        cells[source] = [c.grade_id for c in graded_cells(read_notebook(course.root / source))]
    return {grade_id: student_seed(course, assignment.id, student, grade_id) for grade_id in cells[source]}


IN_FLIGHT_PER_THREAD = 4  # tasks sent ahead per worker thread: the cluster never idles, nor holds every submission


def grade_on_cluster(course: Course, assignment: Assignment, todo: list[tuple[str, Path, Path]],
                     address: str) -> Iterator[SubmissionResult]:
    """Grade on the Dask cluster at `address`; yield each result as it finishes, late policy applied. Submissions
    are read and sent a window at a time, so neither this process nor the scheduler holds the whole batch."""
    from distributed import as_completed

    from .bundle import make_bundle
    from .site import GradingPlugin, Job, grade_job, sweep_leftovers

    with connect(address) as client:
        resources = gpu_resources(course, client)
        plugin = GradingPlugin(make_bundle(course, assignment))
        client.register_plugin(plugin, name=plugin.name)
        try:
            waiting, sent, cells = iter(todo), {}, {}
            running = as_completed()

            def send_more() -> Iterator[SubmissionResult]:
                """Send submissions until the window is full; yield those with nothing to grade."""
                window = IN_FLIGHT_PER_THREAD * max(1, sum(client.nthreads().values()))
                while len(sent) < window:
                    item = next(waiting, None)
                    if item is None:
                        return
                    student, source, path = item
                    prepared = prepare(course, assignment, student, source, path)
                    if isinstance(prepared, SubmissionResult):
                        yield prepared
                        continue
                    found, note = prepared
                    job = Job(student, str(source), found.name, read_submitted_file(found, MAX_BYTES),
                              seeds_for(course, assignment, source, student, cells))
                    future = client.submit(grade_job, plugin.name, job, key=f"grade-{uuid.uuid4().hex}", pure=False,
                                           resources=resources)
                    sent[future] = (student, source, found, note)
                    running.add(future)

            yield from send_more()
            for future in running:
                student, source, found, note = sent.pop(future)
                yield received(course, assignment, future, student, source, found, note)
                future.release()
                yield from send_more()
        finally:
            cleanup(client, plugin.name, sweep_leftovers)


def cleanup(client: "distributed.Client", plugin: str, sweep: Callable[[], int]) -> None:
    """Stop the batch's fork servers and remove its folders on every worker, and what killed workers left. Best
    effort: a scheduler that is gone has nothing left to clean, and the grades already kept stay kept."""
    try:
        client.unregister_worker_plugin(plugin)
        client.run(sweep)
    except Exception as err:  # noqa: BLE001 - reported, not raised over the batch's own outcome
        warnings.warn(f"the Dask workers could not be cleaned up after grading: {err}", stacklevel=2)


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
    except (Exception, CancelledError) as err:  # a bug of ours, a worker that cannot grade, a lost scheduler
        return failed(course, assignment, source, student, err)
    result.graded_file = found
    result.notes = ([note] if note else []) + result.notes
    if result.status not in REFUSED:  # as the local pipeline, which stops at a refused file
        late_policy(course, assignment, found, result)
    return result

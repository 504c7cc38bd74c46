"""The client's side of grading on a Dask cluster: connect (or start a local cluster), send one task per
submission, collect the results as they finish. Deadlines, seeds, devices and every record are decided here, on
the machine that holds the submissions; a task whose workers keep dying is reported, never recorded as a zero."""
from __future__ import annotations

import asyncio
import logging
import re
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ..course import Assignment, Course
from ..grading.batch import failed, missing, prepare
from ..grading.intake import MAX_BYTES, REFUSED, read_submitted_file
from ..grading.pipeline import late_policy
from ..grading.seeds import student_seed
from ..notebook import graded_cells, read_notebook
from ..results import NEEDS_REGRADE, PartResult, SubmissionResult

if TYPE_CHECKING:
    import distributed

    from .worker_plugin import Job

LOCAL = re.compile(r"local:(\d+)")
CONNECT_TIMEOUT_S = 30
ALLOWED_FAILURES = 3  # a local cluster's deaths per task before it gives up (Dask's default, said explicitly)
IN_FLIGHT_PER_THREAD = 4  # tasks sent ahead per worker thread: the cluster never idles, nor holds every submission
STATUSES = {"graded", "modified", "unreadable", "wrong-notebook", NEEDS_REGRADE}  # what a worker may answer


def local_workers(address: str) -> int | None:
    """N for local:N, None for a scheduler's address; a malformed local address is refused before any work."""
    local = LOCAL.fullmatch(address)
    if (address == "local" or address.startswith("local:")) and (local is None or int(local[1]) < 1):
        raise ValueError(f"--dask {address}: write local:N with N the number of worker processes, e.g. local:2")
    return int(local[1]) if local else None


@contextmanager
def connect(address: str) -> Iterator["distributed.Client"]:
    """A client of the scheduler at `address` (tcp://host:port, or tls://host:port with Dask's TLS settings), or
    of a LocalCluster of N worker processes for local:N, which talk TLS with keys made for this run only."""
    import dask
    from distributed import Client, LocalCluster
    from distributed.security import Security

    local = local_workers(address)
    if local:
        import torch

        security = Security.temporary()
        gpu = {"resources": {"GPU": 1}} if torch.cuda.is_available() else {}  # as --jobs grades: on this GPU too
        with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}), \
                LocalCluster(n_workers=local, threads_per_worker=1, processes=True, host="127.0.0.1",
                             security=security, dashboard_address=":0", worker_dashboard_address=None,
                             silence_logs=logging.ERROR, **gpu) as cluster, \
                Client(cluster, security=security) as client:
            yield client
        return
    if not address.startswith("tls://"):
        warnings.warn(f"{address} is not TLS: whoever can reach the scheduler can run code on its workers, and "
                      "through their answers on this machine. Keep the cluster on a private network, or use "
                      "tls:// (see the README)", stacklevel=3)
    try:
        client = Client(address, timeout=f"{CONNECT_TIMEOUT_S}s")
    except (OSError, TimeoutError, ValueError, TypeError) as err:
        raise RuntimeError(f"cannot reach the Dask scheduler at {address}: {err}") from None
    with client:
        try:
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
        except TimeoutError:
            raise RuntimeError(f"no Dask worker is connected to the scheduler at {address}") from None
        yield client


def devices_and_resources(course: Course, client: "distributed.Client") -> tuple[list[str], dict[str, float] | None]:
    """The devices every submission is graded on, decided once for the batch, and what its tasks ask of a worker.
    The GPU is used when course.yml allows it (cuda, auto) and some worker offers one (`dask worker --resources
    GPU=1`); then every task goes to such a worker, so that no grade depends on where it ran."""
    offered = client.run_on_scheduler(gpu_offered)
    if course.device == "cuda" and not offered:
        raise RuntimeError("course.yml sets device: cuda, but no Dask worker offers a GPU: start GPU workers with "
                           "`dask worker ADDRESS --resources GPU=1`")
    if course.device != "cpu" and offered:
        return ["cpu", "cuda"], {"GPU": 1}
    return ["cpu"], None


def gpu_offered(dask_scheduler: "distributed.Scheduler") -> bool:
    """Run on the scheduler: whether any worker offers a GPU (it knows them all; scheduler_info may list a few)."""
    return any(w.resources.get("GPU") for w in dask_scheduler.workers.values())


def expected_parts(course: Course, source: Path, cache: dict[Path, list[tuple[str, float]]]) -> list[tuple[str, float]]:
    """(grade id, points) of each graded cell of a source notebook, read once per batch."""
    if source not in cache:
        cache[source] = [(c.grade_id, c.points) for c in graded_cells(read_notebook(course.root / source))]
    return cache[source]


def grade_on_cluster(course: Course, assignment: Assignment, todo: list[tuple[str, Path, Path]],
                     address: str, unsafe: bool = False) -> Iterator[SubmissionResult]:
    """Grade on the Dask cluster at `address`; yield each result as it finishes, late policy applied. Submissions
    are read and sent a window at a time, so neither this process nor the scheduler holds the whole batch.
    `unsafe`: let workers grade that cannot isolate student code (autograder grade --unsafe)."""
    from distributed import as_completed

    from .bundle import make_bundle
    from ..workers.client import sweep_leftovers
    from .worker_plugin import GradingPlugin, grade_job

    with connect(address) as client:
        devices, resources = devices_and_resources(course, client)
        plugin = GradingPlugin(make_bundle(course, assignment), unsafe)
        client.register_plugin(plugin, name=plugin.name)
        try:
            waiting, sent, cells = iter(todo), {}, {}
            running = as_completed()
            lost: list[BaseException] = []  # why the scheduler stopped taking tasks, once it has

            def send_more() -> Iterator[SubmissionResult]:
                """Send submissions until the window is full; yield those with nothing to grade, those that could
                not be read or sent, and, once the scheduler is lost, every one still waiting."""
                try:
                    window = IN_FLIGHT_PER_THREAD * max(1, sum(client.nthreads().values()))  # workers come and go
                except Exception as err:  # noqa: BLE001 - the scheduler is gone: nothing more can be sent
                    lost.append(err)
                while not lost and len(sent) < window:
                    item = next(waiting, None)
                    if item is None:
                        return
                    student, source, path = item
                    try:
                        prepared = prepare(course, assignment, student, source, path)
                        if isinstance(prepared, SubmissionResult):
                            yield prepared
                            continue
                        parts = expected_parts(course, source, cells)
                        job, stamp, note = packed(course, assignment, item, prepared, parts, devices)
                    except Exception as err:  # noqa: BLE001 - a file that changed under us: this one, not the batch
                        yield failed(course, assignment, source, student, err)
                        continue
                    try:
                        future = client.submit(grade_job, plugin.name, job, key=f"grade-{uuid.uuid4().hex}",
                                               pure=False, resources=resources)
                    except Exception as err:  # noqa: BLE001
                        lost.append(err)
                        yield failed(course, assignment, source, student, err)
                        break
                    sent[future] = (student, source, prepared[0], note, stamp)
                    running.add(future)
                for student, source, _ in waiting if lost else ():  # the scheduler is lost: none of these was graded
                    yield failed(course, assignment, source, student,
                                 RuntimeError(f"the Dask scheduler was lost: {lost[0]}"))

            yield from send_more()
            for future in running:
                item = sent.pop(future)
                yield received(course, assignment, future, item, expected_parts(course, item[1], cells))
                future.release()
                yield from send_more()
        finally:
            cleanup(client, plugin.name, sweep_leftovers)


def packed(course: Course, assignment: Assignment, item: tuple[str, Path, Path], prepared: tuple[Path, str | None],
           parts: list[tuple[str, float]], devices: list[str]) -> tuple[Job, SubmissionResult, str | None]:
    """(the task's job, the late policy's stamp, the client's note) for one submission: its bytes read once, the
    submission time read with them, each part's seed drawn here (the secret stays on this machine)."""
    from .worker_plugin import Job

    student, source, _ = item
    found, note = prepared
    seeds = {gid: student_seed(course, assignment.id, student, gid) for gid, _ in parts}
    read = read_submitted_file(found, MAX_BYTES)
    stamp = SubmissionResult(student, assignment.id, source.name, [])
    if read[0] is not None:  # an unreadable file gets no late policy, as in the local pipeline
        late_policy(course, assignment, found, stamp)
    return Job(student, str(source), found.name, read, seeds, devices), stamp, note


def cleanup(client: "distributed.Client", plugin: str, sweep: Callable[[], int]) -> None:
    """Stop the batch's fork servers and remove its folders on every worker, and what killed workers left. Best
    effort: a scheduler that is gone has nothing left to clean, and the grades already kept stay kept."""
    try:
        client.unregister_worker_plugin(plugin)
        client.run(sweep)
    except Exception as err:  # noqa: BLE001 - reported, not raised over the batch's own outcome
        warnings.warn(f"the Dask workers could not be cleaned up after grading: {err}", stacklevel=2)


TROUBLES = {"timed out", "limit hit"}


def plain_details(result: SubmissionResult) -> bool:
    """Whether what a worker says it found, besides the scores, is the plain data grading makes."""
    return type(result.troubles) is list and set(result.troubles) <= TROUBLES and type(result.timings) is dict and all(
        type(step) is str and type(seconds) is float for step, seconds in result.timings.items()) and \
        type(result.parts) is list and all(
        isinstance(p, PartResult) and type(p.mistakes) is dict and type(p.unexplained) is list
        and type(p.raised) is int and all(type(k) is str and type(n) is int for k, n in p.mistakes.items())
        and all(type(m) is str for m in p.unexplained) and (p.answer is None or type(p.answer) is str)
        for p in result.parts)


def received(course: Course, assignment: Assignment, future: "distributed.Future",
             sent: tuple[str, Path, Path, str | None, SubmissionResult], parts: list[tuple[str, float]]
             ) -> SubmissionResult:
    """A task's result as the local path would have made it: the client's note first, its late policy (`stamp`,
    read when the bytes were) last. Who and what it is about are the client's, never the worker's say."""
    from distributed import KilledWorker

    student, source, found, note, stamp = sent
    try:
        result = future.result()
    except KilledWorker as err:
        result = missing(course, assignment, source, student)
        result.status, result.notes = NEEDS_REGRADE, [
            f"not graded: each Dask worker that graded it died ({err}); this is the machine's doing, not the "
            "student's: grade this submission again"]
        return result
    except (Exception, asyncio.CancelledError) as err:  # a bug of ours, a worker that cannot grade, a lost scheduler
        return failed(course, assignment, source, student, err)
    if not isinstance(result, SubmissionResult) or result.status not in STATUSES or not plain_details(result) or \
            [(p.grade_id, p.max_score) for p in result.parts] != parts:
        return failed(course, assignment, source, student, ValueError("a Dask worker answered with something that "
                                                                      "is not this submission's grade"))
    result.student, result.assignment, result.notebook, result.graded_file = student, assignment.id, source.name, found
    result.notes = ([note] if note else []) + result.notes
    result.submitted_at, result.late_multiplier = None, 1.0
    if result.status not in REFUSED:  # as the local pipeline, which stops at a refused file
        result.submitted_at, result.late_multiplier = stamp.submitted_at, stamp.late_multiplier
        result.notes += stamp.notes
    return result

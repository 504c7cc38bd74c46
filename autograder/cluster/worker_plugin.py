"""A Dask worker's side: a worker plugin that holds one assignment's bundle and, on the first submission the
worker grades, unpacks it, makes the support files once and starts the worker's own warm fork server. Student
code runs in that server's sandboxed forks, never in the Dask worker's process."""
from __future__ import annotations

import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import torch
from distributed import WorkerPlugin, get_worker

from ..commands.doctor import safe_on_a_cluster
from ..course import Assignment, Course
from ..results import SubmissionResult
from ..student_files import SupportFiles, support_files
from ..grading.intake import Read
from ..workers.client import ForkServer
from ..workers.scratch import scratch_folder
from .bundle import Bundle, kit_fingerprint, unpack


@dataclass
class Site:
    """What grading needs on this worker, made once per batch."""

    course: Course  # rooted in `folder`
    assignment: Assignment
    folder: tempfile.TemporaryDirectory
    support: SupportFiles
    server: ForkServer

    def close(self) -> None:
        """Stop the fork server and remove the unpacked course."""
        self.server.close()
        self.folder.cleanup()


class GradingPlugin(WorkerPlugin):
    """Registered by the client for one batch (under `name`), removed when the batch ends."""

    def __init__(self, bundle: Bundle, unsafe: bool = False) -> None:
        """`unsafe`: grade on a worker that cannot isolate student code, as `autograder grade --unsafe` asks."""
        self.bundle, self.unsafe = bundle, unsafe
        self.name = f"autograder-{bundle.assignment}-{uuid.uuid4().hex}"  # one per batch: batches never share one

    def setup(self, worker: object) -> None:
        """Called by Dask on each worker; the work waits for the first task (see ready)."""
        self.lock = threading.Lock()
        self.site: Site | None = None
        self.refused: str | None = None  # why this worker cannot grade, once found

    def ready(self) -> Site:
        """The site, made by the first task that needs it (a task thread, not the worker's event loop). A worker
        whose kit differs from the client's, or whose sandbox cannot keep student code off the network and away
        from the course, refuses every task: the client reports those submissions as needing a regrade."""
        with self.lock:
            if self.refused is None and self.site is None:
                try:
                    self.site = self._checked_site()
                except Exception as err:  # noqa: BLE001 - any failure to set up is a refusal, never a pass
                    self.refused = str(err)
            if self.refused is not None:
                raise RuntimeError(f"the Dask worker at {get_worker().address} cannot grade: {self.refused}")
            assert self.site is not None
            return self.site

    def _checked_site(self) -> Site:
        """A site on a worker fit to grade; raises with the reason otherwise (the site then closed)."""
        if kit_fingerprint() != self.bundle.kit:
            raise RuntimeError("it has another version of the kit installed than the client; install the same "
                               "commit everywhere")
        site = self._make_site()
        try:
            safe, why = safe_on_a_cluster(site.server.bubblewrap)
        except BaseException:
            site.close()
            raise
        if not safe and not self.unsafe:
            site.close()
            raise RuntimeError(f"it is not safe to grade there: {why}")
        return site

    def _make_site(self) -> Site:
        """Unpack the bundle, make the support files, start the fork server (which first sweeps what killed
        graders on this machine left)."""
        folder = scratch_folder("bundle")
        try:
            course, assignment = unpack(self.bundle, Path(folder.name) / "course")
            return Site(course, assignment, folder, support_files(assignment, course),
                        ForkServer(hidden=(folder.name,), spares=1))  # bwrap shows it empty
        except BaseException:
            folder.cleanup()
            raise

    def teardown(self, worker: object) -> None:
        """Called by Dask when the batch unregisters the plugin, or the worker closes: stop the fork server."""
        with self.lock:
            if self.site is not None:
                self.site.close()
                self.site = None


def site_of(plugin_name: str) -> Site:
    """This worker's site for the batch whose plugin is `plugin_name`."""
    plugin = get_worker().plugins.get(plugin_name)
    if not isinstance(plugin, GradingPlugin):
        raise RuntimeError(f"the Dask worker at {get_worker().address} has no grading plugin {plugin_name}")
    return plugin.ready()


@dataclass(frozen=True)
class Job:
    """One submission as it travels to a worker: its bytes (or why the client could not read them) and seeds."""

    student: str
    source: str  # the source notebook, course-relative
    name: str  # the submitted file's name, for messages
    read: Read
    seeds: dict[str, int]
    devices: list[str]  # decided by the client for the whole batch: every worker grades the same way


def grade_job(plugin_name: str, job: Job) -> SubmissionResult:
    """The task: the pipeline's code steps on this worker; the client applies the late policy and records."""
    from ..grading.pipeline import CODE_STEPS, grade_notebook

    site = site_of(plugin_name)
    if "cuda" in job.devices and not torch.cuda.is_available():
        raise RuntimeError(f"the Dask worker at {get_worker().address} offers a GPU but has no CUDA device")
    return grade_notebook(site.course, site.assignment, Path(job.source), Path(job.name), job.student,
                          support=site.support, server=site.server, read=job.read, seeds=job.seeds, steps=CODE_STEPS,
                          devices=job.devices)

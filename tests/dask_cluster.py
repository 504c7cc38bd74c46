"""A real Dask cluster on loopback for the tests: `dask scheduler` and `dask worker` processes, started as an
instructor would start them on several machines."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

DASK = str(Path(sys.executable).with_name("dask"))


def workers_may_grade() -> bool:
    """Whether a Dask worker on this machine grades (autograder.commands.doctor.safe_on_a_cluster), or refuses."""
    from autograder.commands.doctor import safe_on_a_cluster
    from autograder.sandbox import bubblewrap

    return safe_on_a_cluster(bubblewrap.available())[0]
START_GUARD_S = 300  # a hang guard for a loaded machine, not a speed bound


@dataclass
class Cluster:
    address: str
    folder: Path
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen] = field(default_factory=list)

    def start_worker(self, name: str, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        """A `dask worker` (with its nanny, which starts the worker process again if it dies); `env`: variables
        added to its environment."""
        log = (self.folder / f"{name}.log").open("wb")
        proc = subprocess.Popen([DASK, "worker", self.address, "--name", name, "--nthreads", "1", "--no-dashboard",
                                 "--local-directory", str(self.folder / "dask-space"), *extra],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})
        self.workers.append(proc)
        return proc

    def wait_for_workers(self, n: int) -> None:
        from distributed import Client

        with Client(self.address, timeout="60s") as client:
            client.wait_for_workers(n, timeout=START_GUARD_S)


def stop(proc: subprocess.Popen) -> None:
    """Stop a dask process and its whole session (a nanny's worker process with it)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        proc.wait()


@contextmanager
def dask_cluster(folder: Path, workers: int = 2, scheduler_env: dict[str, str] | None = None) -> Iterator[Cluster]:
    """A scheduler on 127.0.0.1 (a free port) and `workers` workers of one thread each; `scheduler_env`: variables
    added to the scheduler's environment (Dask reads its settings there, e.g. DASK_DISTRIBUTED__SCHEDULER__...)."""
    folder.mkdir(parents=True, exist_ok=True)
    address_file = folder / "scheduler.json"
    log = (folder / "scheduler.log").open("wb")
    scheduler = subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                  "--scheduler-file", str(address_file)],
                                 stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                 env={**os.environ, **(scheduler_env or {})})
    deadline = time.monotonic() + START_GUARD_S
    address = None
    while address is None and scheduler.poll() is None and time.monotonic() < deadline:
        try:
            address = json.loads(address_file.read_text())["address"]
        except (OSError, ValueError, KeyError):  # not written yet, or half written
            time.sleep(0.1)
    if address is None:
        stop(scheduler)
        raise RuntimeError(f"the dask scheduler did not start: {(folder / 'scheduler.log').read_text()[-2000:]}")
    cluster = Cluster(address, folder, scheduler)
    try:
        for i in range(workers):
            cluster.start_worker(f"w{i}")
        if workers:
            cluster.wait_for_workers(workers)
        yield cluster
    finally:
        for proc in cluster.workers:
            stop(proc)
        stop(scheduler)

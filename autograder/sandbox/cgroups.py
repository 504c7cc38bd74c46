"""A control group per worker: at most so many processes and threads (pids controller), at most so much
memory (memory controller), counting what RLIMIT_AS does not: memfd and tmpfs pages, page cache, children,
and an equal share of the CPU whatever its number of threads (cpu controller).

pids.max stops fork and thread bombs even for root (for whom RLIMIT_NPROC does not apply). Works where this
process may create control groups (cgroup v1's hierarchies, or a delegated cgroup v2 subtree); `autograder
doctor` says which are available. Removing a worker's groups kills whatever of it is still inside.
"""
from __future__ import annotations

import os
import secrets
import signal
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

from .switches import current

ROOT = Path("/sys/fs/cgroup")
REMOVE_WAIT_S = 1.0  # how long a group's killed processes may take to be gone (a sweep removes it later)


def _base(controller: str) -> Path | None:
    """Where groups of `controller` are made: its v1 hierarchy, or the v2 root that offers it."""
    if not current().cgroups:
        return None
    v1 = ROOT / controller
    if (v1 / "cgroup.procs").exists() and os.access(v1, os.W_OK):
        return v1
    controllers = ROOT / "cgroup.controllers"
    if controllers.exists() and controller in controllers.read_text().split() and os.access(ROOT, os.W_OK):
        return ROOT
    return None


def available(controller: str = "pids") -> bool:
    return _base(controller) is not None


def group_name(pid: int) -> str:
    """The name of a new worker's groups: its pid (for sweep) and a random tag, since a pid is reused, by a worker
    forked while the groups of the one that had it wait to be removed, as soon as the numbers wrap."""
    return f"autograder-worker-{pid}-{secrets.token_hex(6)}"


def worker_pid(group: Path) -> int:
    """The pid of the worker a group was made for."""
    return int(group.name.split("-")[2])


def _group(controller: str, pid: int, name: str, settings: dict[str, str]) -> Path | None:
    base = _base(controller)
    if base is None:
        return None
    group = base / name
    try:
        group.mkdir(exist_ok=base == ROOT)  # under v2 the controllers share one group
        for name, value in settings.items():
            (group / name).write_text(value)
        (group / "cgroup.procs").write_text(str(pid))
        return group
    except OSError:
        remove(group)
        return None


def cap_processes(pid: int, name: str, max_tasks: int) -> Path | None:
    """Put `pid` (and all it will start) in a new group `name` of at most `max_tasks` tasks; None if not possible."""
    return _group("pids", pid, name, {"pids.max": str(max_tasks)})


def cap_memory(pid: int, name: str, max_bytes: int) -> Path | None:
    """Put `pid` (and all it will start) in a group `name` that may use at most `max_bytes`; None if not possible."""
    v1 = _base("memory") != ROOT
    return _group("memory", pid, name, {"memory.limit_in_bytes" if v1 else "memory.max": str(max_bytes)})


def share_cpu(pid: int, name: str) -> Path | None:
    """Put `pid` (and all it will start) in a CPU group `name` of its own: the scheduler then shares the CPU between
    workers, not between their threads, so a worker that spins up many threads cannot starve another student's
    worker into timing out. None if not possible."""
    return _group("cpu", pid, name, {})


def oom_kill(group: Path | None) -> str | None:
    """Whether the kernel's OOM killer killed a process of this memory group: "own" when the group had reached
    its own limit (the student's code used too much), "host" when it had not (the whole machine ran out of
    memory: not the student's doing), None when it killed nothing here."""
    if group is None:
        return None
    for name, reached in (("memory.events", ("max", "oom")), ("memory.oom_control", ())):
        try:
            fields = dict(line.split() for line in (group / name).read_text().splitlines() if line.strip())
        except (OSError, ValueError):
            continue
        if int(fields.get("oom_kill", 0)) == 0:
            return None
        if not reached:  # cgroup v1: the limit was reached if allocations ever failed against it
            try:
                reached_limit = int((group / "memory.failcnt").read_text()) > 0
            except (OSError, ValueError):
                reached_limit = True  # no evidence that the machine did it
        else:
            reached_limit = any(int(fields.get(key, 0)) > 0 for key in reached)
        return "own" if reached_limit else "host"
    return None


def remove(group: Path | None) -> None:
    """Kill every process still in a worker's group (whatever left its process group or session), then delete
    the group."""
    if group is None:
        return
    deadline, pause = time.monotonic() + REMOVE_WAIT_S, 0.0005
    while True:
        try:
            for pid in (group / "cgroup.procs").read_text().split():
                os.kill(int(pid), signal.SIGKILL)
        except (FileNotFoundError, ProcessLookupError):
            pass
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:  # busy until its killed processes are gone: a few milliseconds, as they exit
            if time.monotonic() > deadline:
                return
            time.sleep(pause)
            pause = min(pause * 2, 0.02)


_reaper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cgroup-reaper")
_pending: set[Future] = set()
_pending_lock = threading.Lock()


def remove_soon(groups: list[Path | None]) -> None:
    """remove() these groups on a thread of their own: a killed worker takes milliseconds to be torn down by the
    kernel, which the grader need not wait for. settle() waits for them."""
    groups = [g for g in groups if g is not None]
    if not groups:
        return
    future = _reaper.submit(lambda: [remove(g) for g in groups])
    with _pending_lock:
        _pending.add(future)
    future.add_done_callback(lambda f: _pending.discard(f))


def settle() -> None:
    """Wait until every group given to remove_soon is gone (a batch's end leaves no group behind)."""
    with _pending_lock:
        pending = list(_pending)
    wait(pending)


def sweep() -> None:
    """Remove the groups of workers whose grader was killed before it could (their pid, in the name, is gone)."""
    for group in ROOT.glob("*/autograder-worker-*") if current().cgroups else []:
        if not os.path.exists(f"/proc/{worker_pid(group)}"):
            remove(group)

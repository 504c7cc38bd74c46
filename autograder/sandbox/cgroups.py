"""Capping how many processes and threads a worker may have, with the kernel's pids controller.

A control group per worker, with pids.max set, stops fork bombs and thread bombs even for root (for
whom RLIMIT_NPROC does not apply). Works where this process may create control groups (cgroup v1's
pids hierarchy, or a delegated cgroup v2 subtree); `autograder doctor` says whether it is available.
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from .switches import current

V1 = Path("/sys/fs/cgroup/pids")
V2 = Path("/sys/fs/cgroup")


def _base() -> Path | None:
    if not current().cgroups:
        return None
    if (V1 / "cgroup.procs").exists() and os.access(V1, os.W_OK):
        return V1
    controllers = V2 / "cgroup.controllers"
    if controllers.exists() and "pids" in controllers.read_text().split() and os.access(V2, os.W_OK):
        return V2
    return None


def available() -> bool:
    return _base() is not None


def cap_processes(pid: int, max_tasks: int) -> Path | None:
    """Put `pid` (and all it will start) in a new group of at most `max_tasks` tasks; None if not possible."""
    base = _base()
    if base is None:
        return None
    group = base / f"autograder-worker-{pid}"
    try:
        group.mkdir()
        (group / "pids.max").write_text(str(max_tasks))
        (group / "cgroup.procs").write_text(str(pid))
        return group
    except OSError:
        remove(group)
        return None


def remove(group: Path | None) -> None:
    """Kill every process still in a worker's group (whatever left its process group or session), then delete
    the group."""
    if group is None:
        return
    for _ in range(50):
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
        except OSError:
            time.sleep(0.02)

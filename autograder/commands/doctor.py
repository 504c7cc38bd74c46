"""`autograder doctor`: which protections this machine gives the grader, and whether grading is safe here."""
from __future__ import annotations

import argparse
import shutil
from dataclasses import dataclass

from ..course import Course
from ..sandbox import bubblewrap, cgroups, seccomp, stranger, switches
from ..sandbox.landlock import abi_version

HELP = "which protections this machine gives the grader"


@dataclass(frozen=True)
class Protection:
    name: str
    present: bool
    detail: str


def protections() -> list[Protection]:
    abi, network, disk, pids = abi_version(), _can_unshare_network(), _can_cap_disk(), _can_own_pids()
    return [
        Protection("scores decided outside student code", True, "student code runs in worker processes; tensors come back as safetensors"),
        Protection("resource limits", True, "memory, CPU time, file size, open files, no core dumps (rlimits)"),
        Protection("clean environment", True, "workers see none of the grader's environment variables"),
        Protection("files hidden (Landlock)", abi >= 1, f"Landlock ABI {abi}" if abi else "the kernel has no Landlock"),
        Protection("TCP refused (Landlock)", abi >= 4, f"Landlock ABI {abi}" if abi >= 4 else "needs Landlock ABI 4; UDP is never covered"),
        Protection("grader shielded from signals", abi >= 6, f"Landlock ABI {abi}" if abi >= 6 else "needs Landlock ABI 6"),
        Protection("a user of its own per worker", stranger.available(),
                   "a uid no other process has: other workers and the grader cannot be signalled, limited or traced"
                   if stranger.available() else "the grader is not root: workers share its uid"),
        Protection("own processes, /proc, /dev, /sys", pids and disk,
                   "a pid namespace per worker: nothing it starts outlives it; four devices; no /sys"
                   if pids and disk else "no pid and mount namespaces here: other processes are visible"),
        Protection("process and thread count limited", cgroups.available(),
                   "a pids control group per worker" if cgroups.available() else
                   "no writable pids control group: fork and thread bombs are stopped only by the timeout"),
        Protection("memory counted per worker", cgroups.available("memory"),
                   "a memory control group per worker: shared memory, memfds and files count too"
                   if cgroups.available("memory") else "no writable memory control group: only address space is limited"),
        Protection("CPU shared per worker", cgroups.available("cpu"),
                   "a CPU control group per worker: many threads cannot starve another student's worker"
                   if cgroups.available("cpu") else "no writable cpu control group: a busy worker can slow the others"),
        Protection("own network, hostname, IPC", network,
                   "namespaces per worker: no network at all (UDP included), hostname and System V IPC its own"
                   if network else "not permitted here: only TCP is refused; hostname and IPC are the host's"),
        Protection("dangerous system calls refused", seccomp.available(),
                   "seccomp: no mounts, namespaces, tracing, BPF, keys or kernel modules once set up"
                   if seccomp.available() else "no seccomp filter for this architecture"),
        Protection("files capped in total", disk,
                   "a private tmpfs per worker: many files cannot fill the disk" if disk else
                   "no private mount namespace: each file is capped, but not their number"),
        Protection("bubblewrap", bubblewrap.available(),
                   f"{shutil.which('bwrap')}: the fork server and its workers see no course, reference or home folder"
                   if bubblewrap.available() else "not in use (apt-get install bubblewrap); Landlock hides the files"),
    ]


PROBE_GUARD_S = 60  # a probe that hangs (a fork of a threaded process can) counts as a protection missing


def _in_a_child(check: str) -> bool:
    """Run one of the sandbox's isolation steps in a throwaway forked child working in a temporary folder (a plain
    fork: a Dask worker, being a daemon process, may not start a multiprocessing pool)."""
    import os
    import select
    import signal
    import tempfile

    with tempfile.TemporaryDirectory(prefix="doctor-") as folder:
        read_fd, write_fd = os.pipe()
        try:
            pid = os.fork()
            if pid == 0:
                try:
                    os.write(write_fd, b"1" if _try(check, folder) else b"0")
                finally:
                    os._exit(0)
            os.close(write_fd)
            write_fd = -1
            ready, _, _ = select.select([read_fd], [], [], PROBE_GUARD_S)
            ok = bool(ready) and os.read(read_fd, 1) == b"1"
            if not ready:
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return ok
        finally:
            os.close(read_fd)
            if write_fd >= 0:
                os.close(write_fd)


def _try(check: str, folder: str) -> bool:
    import os

    from ..sandbox import namespaces

    os.chdir(folder)
    if check == "pids":
        return namespaces.unshare(namespaces.CLONE_NEWPID)
    return namespaces.leave_host() if check == "network" else namespaces.cap_disk(1)


def _can_unshare_network() -> bool:
    return _in_a_child("network")


def _can_cap_disk() -> bool:
    return _in_a_child("disk")


def _can_own_pids() -> bool:
    return _in_a_child("pids")


def safe_to_grade() -> tuple[bool, str]:
    """Grading needs the reference and the course hidden from student code, and students kept apart from each
    other (a user of their own, or processes of their own)."""
    if abi_version() < 1:
        return False, ("this machine cannot hide the reference implementation and the course files from student "
                       "code (no Landlock in this kernel). Grade on a Linux >= 5.13 machine, or pass --unsafe to grade "
                       "anyway knowing that a submission could read hidden tests, the gradebook and other students' work.")
    if not stranger.available() and not _can_own_pids():
        return False, ("this machine cannot keep students apart: the grader is not root (no user of its own per worker) "
                       "and no pid namespace can be made, so one student's code could signal or limit another's "
                       "worker. Grade as root, or pass --unsafe to grade anyway.")
    return True, ""


def safe_on_a_cluster(bubblewrap_running: bool) -> tuple[bool, str]:
    """safe_to_grade, and student code without TCP: on a Dask cluster a connection to the scheduler would run
    code in the grader itself. bwrap's or a namespace's own network does it, or Landlock's TCP rules (ABI 4)."""
    safe, why = safe_to_grade()
    if safe and not (bubblewrap_running or abi_version() >= 4 or _can_unshare_network()):
        return False, ("student code here could open TCP connections, and on a Dask cluster could reach the "
                       "scheduler: install bubblewrap, allow network namespaces, or use a kernel with Landlock ABI 4 "
                       "(Linux >= 6.7)")
    return safe, why


def report() -> str:
    lines = [f"{'yes' if p.present else 'NO ':<4} {p.name:<36} {p.detail}" for p in protections()]
    off = switches.current().describe()
    if off:
        lines.append(f"\nswitched off by {switches.ENV} (for testing): {off}")
    ok, why = safe_to_grade()
    lines.append("" if ok else f"\nnot safe to grade here: {why}")
    lines.append("safe to grade here" if ok else "")
    if ok:
        on_cluster, why = safe_on_a_cluster(bubblewrap.available())
        lines.append("safe as a Dask worker too" if on_cluster else f"not safe as a Dask worker: {why}")
    return "\n".join(l for l in lines if l)


def run(course: Course, args: argparse.Namespace) -> int:
    print(report())
    return 0

"""Resource limits a worker puts on itself before running a student's code, and what their errors mean."""
from __future__ import annotations

import os
import resource
import signal
from typing import Any

SAFE_ENV = ("PATH", "LANG", "LC_ALL", "MPLBACKEND", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "PYTHONHASHSEED")


def apply_limits(limits: dict[str, Any]) -> None:
    """Memory beyond what the warm process already maps, CPU seconds, file size, open files, no core dumps;
    and an environment with nothing of the grader's in it."""
    mapped = int(open("/proc/self/statm").read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    memory = mapped + (int(limits["memory_mb"]) << 20)
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = int(limits["cpu_s"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    size = int(limits["file_size_mb"]) << 20
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails with an error instead of a kill
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    keep = {k: os.environ[k] for k in SAFE_ENV if k in os.environ}
    os.environ.clear()
    scratch = os.getcwd()
    os.makedirs(os.path.join(scratch, ".tmp"), exist_ok=True)
    os.environ.update(keep, HOME=scratch, TMPDIR=os.path.join(scratch, ".tmp"), MPLCONFIGDIR=os.path.join(scratch, ".tmp"))
    import tempfile

    tempfile.tempdir = None  # forget a temp folder chosen before the environment changed


CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET = 0x00020000, 0x10000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_REC, MS_PRIVATE = 2, 4, 1 << 14, 1 << 18


def _libc():
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _unshare(flags: int) -> bool:
    """Root unshares directly; others through a new user namespace, mapping their own ids into it."""
    uid, gid = os.geteuid(), os.getegid()
    if uid == 0:
        return _libc().unshare(flags) == 0
    if _libc().unshare(flags | CLONE_NEWUSER) != 0:
        return False
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)
    return True


def leave_network() -> bool:
    """Move into a new network namespace with no interfaces but loopback-down: no TCP, UDP or anything else
    reaches out. False where the kernel does not allow it."""
    return _unshare(CLONE_NEWNET)


def cap_disk(disk_mb: int) -> bool:
    """Put a tmpfs of disk_mb over the scratch folder (the working directory), in a mount namespace of this
    process and its children alone, holding the same files: everything the code writes, in as many files as
    it likes, counts against one cap, and none of it reaches the grader's disk. False where not allowed."""
    scratch = os.getcwd()
    folders, files = [], {}
    for folder, _, names in os.walk(scratch):
        folders.append(os.path.relpath(folder, scratch))
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, scratch)] = f.read()
    if not _unshare(CLONE_NEWNS):
        return False
    libc = _libc()
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:  # nothing propagates back to the host
        return False
    options = f"size={int(disk_mb)}m,mode=0700".encode()
    if libc.mount(b"tmpfs", scratch.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, options) != 0:
        return False
    os.chdir(scratch)  # enter the tmpfs: the old working directory is underneath it
    for rel in folders:
        os.makedirs(rel, exist_ok=True)
    for rel, data in files.items():
        with open(rel, "wb") as f:
            f.write(data)
    return True


def hide_filesystem() -> int:
    """Only the system, Python's folders and this worker's scratch folder stay visible (Landlock ABI, 0: none)."""
    from .landlock import SYSTEM, own_proc, python_folders, restrict

    readable, listable = python_folders()
    return restrict(SYSTEM + own_proc() + readable, [os.getcwd()], listable)


def explain(error: str, limits: dict[str, Any]) -> str:
    """A limit's error in plain words, naming the limit."""
    if "MemoryError" in error or "DefaultCPUAllocator" in error or "Cannot allocate memory" in error:
        return f"ran out of memory: the limit is {limits['memory_mb']} MB ({error[:120]})"
    if "File too large" in error:
        return f"wrote a file larger than the limit of {limits['file_size_mb']} MB"
    if "No space left on device" in error:
        return f"wrote more than the limit of {limits.get('disk_mb', 256)} MB of files in all"
    if "Too many open files" in error:
        return "opened more than 256 files at once"
    if "Resource temporarily unavailable" in error or "can't start new thread" in error:
        return f"started more processes or threads than the limit of {limits.get('processes', 64)} ({error[:80]})"
    return error

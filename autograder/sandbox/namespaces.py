"""Linux namespaces a worker enters before running student code: its own network (none), hostname and System V
IPC, a private size-capped tmpfs, and its own processes: a pid namespace whose init is the worker, with a /proc
of its own, a /dev of four devices and an empty /sys. When the worker ends, the kernel ends everything it
started, wherever that went (setsid, double forks): nothing outlives it."""
from __future__ import annotations

import os

from .switches import current

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET = 0x00020000, 0x10000000, 0x40000000
CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWPID = 0x04000000, 0x08000000, 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_MOVE, MS_BIND, MS_REC, MS_PRIVATE = 1 << 13, 1 << 12, 1 << 14, 1 << 18
PR_SET_PDEATHSIG = 1
DEVICES = ("null", "zero", "random", "urandom")


def gpu_devices() -> list[str]:
    """The NVIDIA device files a worker needs to grade on the GPU (none on a machine without one)."""
    import glob

    return sorted(glob.glob("/dev/nvidia*"))


def _libc():
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def unshare(flags: int) -> bool:
    """Root unshares directly; others through a new user namespace, mapping their own ids into it."""
    if not current().namespaces:
        return False
    uid, gid = os.geteuid(), os.getegid()
    if uid == 0:
        return _libc().unshare(flags) == 0
    if _libc().unshare(flags | CLONE_NEWUSER) != 0:
        return False
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)
    return True


def leave_host() -> bool:
    """Move into new network, UTS and IPC namespaces: no interface but a loopback that is down (no TCP, UDP or
    anything else reaches out), a hostname of its own to change, and System V shared memory, semaphores and
    message queues that die with the worker. False where the kernel does not allow it."""
    return unshare(CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC)


def enter_pid_namespace(close_fds: tuple[int, ...], report_fd: int) -> bool:
    """Fork into a new pid namespace: the child returns True as its pid 1; this process closes `close_fds` (the
    grader's pipes, which the child keeps), waits for the child, writes how it ended to `report_fd` (which the
    child closes before any student code runs, so that only this process can speak there) and exits with its
    status. The child dies with this process (parent-death signal), and everything in the namespace dies with
    the child. False, without forking, where the kernel does not allow it."""
    import json
    import signal

    if not unshare(CLONE_NEWPID):
        return False
    child = os.fork()
    if child == 0:  # (its parent is outside the namespace: getppid() says 0)
        _libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        os.close(report_fd)
        return True
    for fd in close_fds:
        os.close(fd)
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    code = os.waitstatus_to_exitcode(status)  # negative: killed by that signal
    try:
        os.write(report_fd, json.dumps({"exit": code}).encode())
    except OSError:
        pass
    os._exit(code % 256)


def own_system_folders() -> bool:
    """In the worker's own mount and pid namespaces: a /proc showing only its own processes, a /dev with null,
    zero, random and urandom (and the GPU's device files where there is one), and an empty read-only /sys
    (the host's control groups and devices unseen).
    The new /dev is assembled in the scratch folder, where the host's devices can still be bound, then moved."""
    libc = _libc()
    if libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None) != 0:
        return False
    staging = os.path.join(os.getcwd(), ".dev")
    os.mkdir(staging)
    if libc.mount(b"tmpfs", staging.encode(), b"tmpfs", MS_NOSUID | MS_NOEXEC, b"size=64k,mode=0755") != 0:
        return False
    for name in [*DEVICES, *(os.path.basename(d) for d in gpu_devices() if not os.path.isdir(d))]:
        open(os.path.join(staging, name), "w").close()
        if libc.mount(f"/dev/{name}".encode(), os.path.join(staging, name).encode(), None, MS_BIND, None) != 0:
            return False
    if libc.mount(staging.encode(), b"/dev", None, MS_MOVE, None) != 0:
        return False
    os.rmdir(staging)
    return libc.mount(b"tmpfs", b"/sys", b"tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, b"size=4k") == 0


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
    if not unshare(CLONE_NEWNS):
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

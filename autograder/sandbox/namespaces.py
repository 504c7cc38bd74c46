"""Linux namespaces a worker enters before running student code: its own network (none), hostname and System V
IPC, and a private size-capped tmpfs."""
from __future__ import annotations

import os

from .switches import current

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET = 0x00020000, 0x10000000, 0x40000000
CLONE_NEWUTS, CLONE_NEWIPC = 0x04000000, 0x08000000
MS_NOSUID, MS_NODEV, MS_REC, MS_PRIVATE = 2, 4, 1 << 14, 1 << 18


def _libc():
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _unshare(flags: int) -> bool:
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
    return _unshare(CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC)


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

"""A user of its own for every worker: student code runs under a uid that no other process has (derived from
the worker's pid, unique while it lives), with no capability but reading what Landlock lets it read. Another
student's worker, the grader and the fork server belong to other users, so `kill`, `prlimit`, `ptrace`,
`setpriority` and /proc/<pid> of theirs are refused by the kernel's ordinary permission checks.

Needs a grader running as root (as on a grading server or in CI); elsewhere workers keep the grader's uid,
`autograder doctor` says so and `autograder grade` refuses unless --unsafe.
"""
from __future__ import annotations

import ctypes
import os
import struct

from .switches import current

BASE_UID = 1_500_000_000  # far above the uids of people and of container id ranges
PR_SET_PDEATHSIG, PR_GET_PDEATHSIG, PR_SET_KEEPCAPS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 1, 2, 8, 47, 4
CAP_DAC_READ_SEARCH = 2  # read any file, subject to Landlock: Python may live under /root
CAPABILITY_VERSION_3 = 0x20080522

_libc = ctypes.CDLL(None, use_errno=True)


def available() -> bool:
    return os.geteuid() == 0 and current().users


def uid_for(pid: int) -> int:
    return BASE_UID + pid


def give_folder(folder: str, uid: int) -> None:
    """Hand the worker's scratch folder (and what the grader put in it) to its user."""
    for root, dirs, files in os.walk(folder):
        for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
            os.lchown(name, uid, uid)


def become(uid: int) -> bool:
    """Switch this process for good to `uid` (and gid), keeping only CAP_DAC_READ_SEARCH. False where not root."""
    if not available():
        return False
    death_signal = ctypes.c_int(0)
    _libc.prctl(PR_GET_PDEATHSIG, ctypes.byref(death_signal), 0, 0, 0)
    if _libc.prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_KEEPCAPS) failed")
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    header = struct.pack("Ii", CAPABILITY_VERSION_3, 0)
    keep = 1 << CAP_DAC_READ_SEARCH
    data = struct.pack("6I", keep, keep, 0, 0, 0, 0)  # effective, permitted, inheritable (two 32-bit words)
    if _libc.capset(ctypes.c_char_p(header), ctypes.c_char_p(data)) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")
    _libc.prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0)
    _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    _libc.prctl(PR_SET_PDEATHSIG, death_signal.value, 0, 0, 0)  # a change of user clears it: arm it again
    return True

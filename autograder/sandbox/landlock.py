"""Hiding the filesystem from a worker with Landlock (Linux >= 5.13), no root needed.

The worker may read the system and Python installation folders and read/write its own scratch folder;
everything else (the course folder, reference_impl, the gradebook, other students' files) is out of
reach. Where the kernel supports it, TCP is refused and signals to processes outside the sandbox
(the grader) are blocked.
"""
from __future__ import annotations

import ctypes
import os
import struct
import sys

from .switches import current

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446  # x86-64 and arm64 alike
PR_SET_NO_NEW_PRIVS = 38
RULE_PATH_BENEATH = 1

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
WRITE_TREE = (1 << 4) | (1 << 5) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 12)  # remove, make dir/file/fifo/symlink
REFER, TRUNCATE = 1 << 13, 1 << 14
READ = EXECUTE | READ_FILE | READ_DIR
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1

SYSTEM = ["/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc", "/sys", "/dev",
          "/proc/cpuinfo", "/proc/meminfo", "/proc/stat"]  # not /proc itself: other processes' entries stay hidden

_libc = ctypes.CDLL(None, use_errno=True)


def abi_version() -> int:
    """The Landlock ABI version in use: the kernel's (0 where Landlock is missing or disabled), capped by the
    landlock switch (switches.py)."""
    version = max(0, _libc.syscall(SYS_CREATE_RULESET, None, 0, 1))  # LANDLOCK_CREATE_RULESET_VERSION
    cap = current().landlock_abi
    return version if cap is None else min(version, cap)


def _handled_fs(abi: int) -> int:
    mask = READ | WRITE_FILE | WRITE_TREE | (1 << 6) | (1 << 9) | (1 << 11)
    if abi >= 2:
        mask |= REFER
    if abi >= 3:
        mask |= TRUNCATE
    return mask


def restrict(readable: list[str], writable: list[str], listable: list[str] | None = None,
             rewritable: list[str] | None = None) -> int:
    """Apply the ruleset to this process and its future children; return the ABI used (0: not applied).
    `listable` folders (and everything beneath them) may be listed, but their files not read; in `rewritable` ones
    existing files may be read and written, nothing created or removed."""
    abi = abi_version()
    if abi == 0:
        return 0
    fs = _handled_fs(abi)
    attr = struct.pack("QQQ", fs, NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0,
                       SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0)
    size = 8 if abi < 4 else (16 if abi < 6 else 24)
    ruleset = _libc.syscall(SYS_CREATE_RULESET, ctypes.c_char_p(attr), size, 0)
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        for paths, access in ((listable or [], READ_DIR), (readable, READ), (rewritable or [], READ | WRITE_FILE | TRUNCATE),
                              (writable, fs)):
            for path in paths:
                try:
                    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                except FileNotFoundError:
                    continue
                allowed = access if os.path.isdir(path) else access & (EXECUTE | READ_FILE | WRITE_FILE | TRUNCATE)
                rule = struct.pack("=Qi", allowed & fs, fd)
                if _libc.syscall(SYS_ADD_RULE, ruleset, RULE_PATH_BENEATH, ctypes.c_char_p(rule), 0) != 0:
                    raise OSError(ctypes.get_errno(), f"landlock_add_rule failed for {path}")
                os.close(fd)
        if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        if _libc.syscall(SYS_RESTRICT_SELF, ruleset, 0) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset)
    return abi


def own_proc() -> list[str]:
    """This process's own /proc entry (its children get their own pids and see none of /proc/<pid>), named as
    the mounted /proc names it: in a pid namespace without a /proc of its own that is not os.getpid()."""
    return [f"/proc/{os.readlink('/proc/self')}"]


KIT_PACKAGES = ("autograder", "reference_impl")


def kit_folders() -> list[str]:
    """Where the kit's own packages live (the reference, the checks, the stand-ins): hidden from student code
    also when they are installed inside the environment's site-packages rather than from a checkout."""
    import importlib.util

    folders = []
    for name in KIT_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            folders += [os.path.realpath(p) for p in spec.submodule_search_locations]
    return folders


def readable_except(roots: list[str], hidden: list[str]) -> tuple[list[str], list[str]]:
    """(readable, listable): everything beneath `roots` except the `hidden` folders. Landlock can only grant,
    so a root that holds a hidden folder is opened level by level: the folders on the way down may only be
    listed, and everything beside them is readable."""
    readable, listable = [], []

    def open_up(folder: str) -> None:
        listable.append(folder)
        for entry in os.scandir(folder):
            if entry.path in hidden:
                continue
            if any(h.startswith(entry.path + os.sep) for h in hidden):
                open_up(entry.path)
            else:
                readable.append(entry.path)

    for root in roots:
        if any(h.startswith(root.rstrip(os.sep) + os.sep) for h in hidden):
            open_up(root)
        elif root not in hidden:
            readable.append(root)
    return readable, listable


def python_folders() -> tuple[list[str], list[str]]:
    """(readable, listable): where this interpreter's code lives, the installation and the environment, minus
    the kit's own packages; never a source checkout."""
    roots = sorted({os.path.realpath(p) for p in (sys.base_prefix, sys.prefix)})
    return readable_except(roots, kit_folders())


def hide_filesystem(own_proc_mounted: bool = False) -> int:
    """Only the system, Python's folders and this worker's scratch folder stay visible (Landlock ABI, 0: none).
    A worker with a /proc of its own (namespaces.own_system_folders) may read all of it: it shows no other
    process; otherwise only its own entry and a few system files."""
    readable, listable = python_folders()
    proc = ["/proc"] if own_proc_mounted else own_proc()
    from .namespaces import gpu_devices

    # On a GPU machine: CUDA names its threads in /proc/<pid>/task/<tid>/comm, and cannot start where it may not. A
    # worker's own /proc shows only its own processes, so there its stand-in processes may write theirs too.
    threads = [] if not gpu_devices() else ["/proc"] if own_proc_mounted else [own_proc()[0] + "/task"]
    return restrict(SYSTEM + proc + readable, [os.getcwd(), "/dev/null", *gpu_devices()], listable, threads)

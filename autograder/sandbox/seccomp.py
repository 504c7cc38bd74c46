"""A seccomp filter for workers: system calls that student code has no use for fail with EPERM.

Applied last, after the worker has set up its namespaces, disk cap and Landlock, so that it cannot undo
them: no new mounts or namespaces (not by clone either), no tracing or reading other processes' memory, no kernel modules,
keys, BPF programs or performance counters. Everything else is allowed. x86-64 and arm64.
"""
from __future__ import annotations

import ctypes
import platform
import struct

# name -> (x86-64 number, arm64 number); None where the call does not exist on that architecture
DENIED = {
    "ptrace": (101, 117), "process_vm_readv": (310, 270), "process_vm_writev": (311, 271),
    "mount": (165, 40), "umount2": (166, 39), "pivot_root": (155, 41), "chroot": (161, 51),
    "unshare": (272, 97), "setns": (308, 268), "open_by_handle_at": (304, 265),
    "bpf": (321, 280), "perf_event_open": (298, 241), "userfaultfd": (323, 282),
    "keyctl": (250, 219), "add_key": (248, 217), "request_key": (249, 218),
    "init_module": (175, 105), "finit_module": (313, 273), "delete_module": (176, 106),
    "kexec_load": (246, 104), "reboot": (169, 142), "swapon": (167, 224), "swapoff": (168, 225),
    "acct": (163, 89), "syslog": (103, 116), "io_uring_setup": (425, 425),
}
ARCHES = {"x86_64": (0xC000003E, 0), "aarch64": (0xC00000B7, 1), "arm64": (0xC00000B7, 1)}

PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
RET_ALLOW, RET_ERRNO, EPERM, ENOSYS = 0x7FFF0000, 0x00050000, 1, 38
LD_W_ABS, JEQ_K, JGE_K, JSET_K, RET_K = 0x20, 0x15, 0x35, 0x45, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ|K, |JGE|K, |JSET|K, BPF_RET|K
CLONE = (56, 220)  # x86-64, arm64
CLONE3 = 435  # the same on both
NAMESPACE_FLAGS = 0x7E020000  # CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET
X32_BIT = 0x40000000


def _program(audit_arch: int, numbers: list[int], clone: int) -> list[tuple[int, int, int, int]]:
    """(code, jt, jf, k) instructions: other architectures' calls are refused, and on x86-64 the x32 ones
    (numbers from 0x40000000), which would otherwise slip past the list; listed calls get EPERM. clone with any
    namespace flag gets EPERM too (unshare's way in by another door), and clone3, whose flags seccomp cannot read,
    gets ENOSYS, so that the C library falls back to clone for threads and processes."""
    deny = RET_ERRNO | EPERM
    prog = [(LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
            (JEQ_K, 1, 0, audit_arch),
            (RET_K, 0, 0, deny),
            (LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
            (JGE_K, len(numbers) + 8, 0, X32_BIT if audit_arch == ARCHES["x86_64"][0] else 0xFFFFFFFF),
            (JEQ_K, 0, 1, CLONE3),
            (RET_K, 0, 0, RET_ERRNO | ENOSYS),
            (JEQ_K, 0, 4, clone),
            (LD_W_ABS, 0, 0, 16),  # the low half of seccomp_data.args[0]: clone's flags
            (JSET_K, 0, 1, NAMESPACE_FLAGS),
            (RET_K, 0, 0, deny),
            (RET_K, 0, 0, RET_ALLOW)]
    for i, nr in enumerate(numbers):
        prog.append((JEQ_K, len(numbers) - i, 0, nr))  # on a match jump to the final deny
    return prog + [(RET_K, 0, 0, RET_ALLOW), (RET_K, 0, 0, deny)]


def available() -> bool:
    return platform.machine() in ARCHES


def deny_dangerous_calls() -> bool:
    """Install the filter on this process and its future children; False where the architecture is unknown
    or the kernel refuses."""
    if not available():
        return False
    audit_arch, column = ARCHES[platform.machine()]
    prog = _program(audit_arch, sorted({nrs[column] for nrs in DENIED.values()}), CLONE[column])
    raw = b"".join(struct.pack("HBBI", *ins) for ins in prog)
    buffer = ctypes.create_string_buffer(raw)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(prog), ctypes.cast(buffer, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return False
    return libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) == 0

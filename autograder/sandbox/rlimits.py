"""Resource limits (rlimits) a worker puts on itself before running a student's code, and what their errors mean."""
from __future__ import annotations

import os
import resource
import signal
from typing import Any


def apply_limits(limits: dict[str, Any], address_space: bool = True) -> None:
    """Memory beyond what the warm process already maps, CPU seconds, file size, open files, no core dumps.
    `address_space` False leaves the address space unlimited, for a worker that may use the GPU (CUDA reserves
    far more address space than it uses) and whose memory a control group counts instead."""
    if address_space:
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

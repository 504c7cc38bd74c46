"""`autograder doctor`: which protections this machine gives the grader, and whether grading is safe here."""
from __future__ import annotations

import shutil
from dataclasses import dataclass

from . import cgroups
from .landlock import abi_version


@dataclass(frozen=True)
class Protection:
    name: str
    present: bool
    detail: str


def protections() -> list[Protection]:
    abi = abi_version()
    return [
        Protection("scores decided outside student code", True, "student code runs in worker processes; tensors come back as safetensors"),
        Protection("resource limits", True, "memory, CPU time, file size, open files, no core dumps (rlimits)"),
        Protection("clean environment", True, "workers see none of the grader's environment variables"),
        Protection("files hidden (Landlock)", abi >= 1, f"Landlock ABI {abi}" if abi else "the kernel has no Landlock"),
        Protection("TCP refused (Landlock)", abi >= 4, f"Landlock ABI {abi}" if abi >= 4 else "needs Landlock ABI 4; UDP is never covered"),
        Protection("grader shielded from signals", abi >= 6, f"Landlock ABI {abi}" if abi >= 6 else "needs Landlock ABI 6"),
        Protection("process and thread count limited", cgroups.available(),
                   "a pids control group per worker" if cgroups.available() else
                   "no writable pids control group: fork and thread bombs are stopped only by the timeout"),
        Protection("network namespace per worker", _can_unshare_network(),
                   "no network at all (UDP included)" if _can_unshare_network() else "not permitted here: only TCP is refused"),
        Protection("bubblewrap", shutil.which("bwrap") is not None, shutil.which("bwrap") or "not installed (apt-get install bubblewrap)"),
    ]


def _can_unshare_network() -> bool:
    """Try it in a throwaway child process."""
    import multiprocessing

    from .limits import leave_network

    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        return bool(pool.apply(leave_network))


def safe_to_grade() -> tuple[bool, str]:
    """Grading needs the reference and the course hidden from student code."""
    if abi_version() >= 1:
        return True, ""
    return False, ("this machine cannot hide the reference implementation and the course files from student code "
                   "(no Landlock in this kernel). Grade on a Linux >= 5.13 machine, or pass --unsafe to grade anyway "
                   "knowing that a submission could read hidden tests, the gradebook and other students' work.")


def report() -> str:
    lines = [f"{'yes' if p.present else 'NO ':<4} {p.name:<36} {p.detail}" for p in protections()]
    ok, why = safe_to_grade()
    lines.append("" if ok else f"\nnot safe to grade here: {why}")
    lines.append("safe to grade here" if ok else "")
    return "\n".join(l for l in lines if l)

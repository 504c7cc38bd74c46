"""The environment a worker's student code sees: nothing of the grader's, a home and temp folder of its own."""
from __future__ import annotations

import os
import tempfile

from .switches import ENV as SWITCHES

# AUTOGRADER_SANDBOX only ever turns protections off, and is read before student code runs (see switches.py)
SAFE_ENV = ("PATH", "LANG", "LC_ALL", "MPLBACKEND", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "PYTHONHASHSEED", SWITCHES)


def exec_environment(extra: dict[str, str]) -> dict[str, str]:
    """The environment to start a fork server or worker with. Scrubbing after the start is not enough:
    /proc/self/environ keeps what a process was started with, whatever os.environ says later.
    PYTHONPATH stays so that the kit is importable where it is run from a checkout."""
    return {**{k: os.environ[k] for k in (*SAFE_ENV, "PYTHONPATH") if k in os.environ}, **extra}


def scrub_environment() -> None:
    """Keep only SAFE_ENV; HOME, TMPDIR and matplotlib's config point into the scratch folder (the working directory)."""
    keep = {k: os.environ[k] for k in SAFE_ENV if k in os.environ}
    os.environ.clear()
    scratch = os.getcwd()
    os.makedirs(os.path.join(scratch, ".tmp"), exist_ok=True)
    os.environ.update(keep, HOME=scratch, TMPDIR=os.path.join(scratch, ".tmp"), MPLCONFIGDIR=os.path.join(scratch, ".tmp"))
    tempfile.tempdir = None  # forget a temp folder chosen before the environment changed



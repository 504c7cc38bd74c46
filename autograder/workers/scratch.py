"""Scratch folders named for the process that made them. A grader that is killed (a cluster's worker, say)
cannot remove its own; the next grader on the machine finds them by the dead process's id and does."""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

NAME = re.compile(r"autograder-[a-z]+-(\d+)-")


def scratch_folder(kind: str) -> tempfile.TemporaryDirectory:
    """A temporary folder `autograder-<kind>-<pid>-...`, removed when the context ends."""
    return tempfile.TemporaryDirectory(prefix=f"autograder-{kind}-{os.getpid()}-")


def sweep() -> list[Path]:
    """Remove the scratch folders of processes that are gone; return them."""
    gone = []
    for folder in Path(tempfile.gettempdir()).glob("autograder-*"):
        match = NAME.match(folder.name)
        if match and folder.is_dir() and not folder.is_symlink() and not os.path.exists(f"/proc/{match[1]}"):
            shutil.rmtree(folder, ignore_errors=True)
            gone.append(folder)
    return gone

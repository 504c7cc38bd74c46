"""Scratch folders named for the process and the machine that made them. A grader that is killed (a cluster's
worker, say) cannot remove its own; the next grader on the same machine finds them by the dead process's id and
does. Machines or containers that share a temp folder leave each other's folders alone: they carry another tag."""
from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path

NAME = re.compile(r"autograder-[a-z]+-(\d+)-([0-9a-f]{12})-")


@functools.cache
def machine() -> str:
    """This machine's tag: its host name, this boot's id and this pid namespace (a pid means nothing across any)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        pids = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        boot, pids = "", 0
    return hashlib.sha256(f"{socket.gethostname()}/{boot}/{pids}".encode()).hexdigest()[:12]


def scratch_folder(kind: str) -> tempfile.TemporaryDirectory:
    """A temporary folder `autograder-<kind>-<pid>-<machine>-...`, removed when the context ends."""
    return tempfile.TemporaryDirectory(prefix=f"autograder-{kind}-{os.getpid()}-{machine()}-")


def sweep() -> list[Path]:
    """Remove the scratch folders this machine's processes left when they died; return them."""
    gone = []
    for folder in Path(tempfile.gettempdir()).glob("autograder-*"):
        match = NAME.match(folder.name)
        if match and match[2] == machine() and folder.is_dir() and not folder.is_symlink() \
                and not os.path.exists(f"/proc/{match[1]}"):
            shutil.rmtree(folder, ignore_errors=True)
            gone.append(folder)
    return gone

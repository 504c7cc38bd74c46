"""Running the worker fork server inside bubblewrap (`bwrap`) when the machine has it.

The sandbox holds only the system folders, Python's installation and environment (without reference_impl),
the autograder package and the temp folder where scratch folders live; no network. The course folder,
the gradebook, home folders and the reference are not there at all, for the fork server or any worker.
Each worker still narrows itself further (Landlock, namespaces, limits: see limits.py).
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile

from .landlock import kit_folders
from .namespaces import gpu_devices
from .switches import current

SYSTEM = ["/usr", "/etc", "/lib", "/lib64", "/bin", "/sbin"]


def available() -> bool:
    return shutil.which("bwrap") is not None and current().bubblewrap


def command(argv: list[str], hidden: tuple[str, ...] = ()) -> list[str]:
    """`argv` prefixed with the bwrap call that sandboxes it; each of `hidden` (inside the temp folder, say) is
    an empty folder there."""
    import importlib.util

    roots = sorted({os.path.realpath(p) for p in (sys.base_prefix, sys.prefix)})
    temp = os.path.realpath(tempfile.gettempdir())
    args = [shutil.which("bwrap") or "bwrap", "--die-with-parent", "--unshare-ipc", "--unshare-uts", "--unshare-net",
            "--bind", temp, temp]
    for folder in SYSTEM:
        args += ["--ro-bind-try", folder, folder]
    args += ["--ro-bind", "/sys", "/sys", "--proc", "/proc", "--dev", "/dev"]
    for device in gpu_devices():  # grading on the GPU needs its device files
        args += ["--dev-bind-try", device, device]
    for root in roots:  # after the temp folder: an environment inside it stays read-only
        args += ["--ro-bind", root, root]
    inside = lambda path: any(path == r or path.startswith(r + os.sep) for r in roots)  # noqa: E731
    package = os.path.dirname(os.path.realpath(importlib.util.find_spec("autograder").origin))
    if not inside(package):  # a source checkout: only the package folder, not the checkout around it
        args += ["--ro-bind", package, package]
    for folder in kit_folders():
        if folder != package and (inside(folder) or folder.startswith(temp + os.sep)):
            args += ["--tmpfs", folder]  # reference_impl where the sandbox would show it: an empty folder instead
    for folder in hidden:
        args += ["--tmpfs", os.path.realpath(folder)]
    return args + ["--chdir", "/", *argv]

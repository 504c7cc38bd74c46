"""The process that runs a student's notebook code and answers the grader's calls.

It executes the notebook's code cells with IPython, then serves requests on its pipes: call a graded
function or class on tensors, or read a plain answer variable. Scores are never decided here.
A call that grades a part with trusted stand-ins for the student's earlier parts runs in a fork of this
process that exits afterwards: the stand-ins (sent as source with the request, never imported here) are
never seen by code that grades the parts they stand in for.
Usage (started by the grader): python -m autograder.worker READ_FD WRITE_FD
"""
from __future__ import annotations

import os
import signal
import sys
from typing import Any

from .coursekit.protocol import PartError, invoke
from .limits import apply_limits, cap_disk, hide_filesystem, leave_network
from .seccomp import deny_dangerous_calls
from .wire import WireError, receive, send

MAX_INPUT = 256 << 20
MAX_OUTPUT = 64 << 20


def run_cells(shell: Any, cells: list[str]) -> list[dict[str, Any]]:
    errors = []
    for i, source in enumerate(cells):
        result = shell.run_cell(source, store_history=False, silent=False)
        err = result.error_in_exec or result.error_before_exec
        if err is not None:
            errors.append({"cell": i, "error": f"{type(err).__name__}: {err}"})
    return errors


def answer(namespace: dict[str, Any], header: dict[str, Any], tensors: dict[str, Any], write_fd: int) -> None:
    try:
        outputs = invoke(namespace[header["target"]], header["kind"], tensors, header["spec"])
        send(write_fd, {"ok": True, "n": len(outputs)}, {f"out.{i}": t for i, t in enumerate(outputs)})
    except PartError as err:
        send(write_fd, {"ok": False, "error": str(err)})


def call_with_standins(shell: Any, header: dict[str, Any], tensors: dict[str, Any], write_fd: int) -> None:
    """Answer in a child that installs the stand-ins and exits; its reply is checked here, then passed on."""
    r, w = os.pipe()
    try:
        pid = os.fork()
    except OSError as err:  # the notebook's own processes used up the worker's limit
        os.close(r), os.close(w)
        send(write_fd, {"ok": False, "error": f"cannot start the process that grades this part: {err}"})
        return
    if pid == 0:
        os.close(r)
        try:
            standins: dict[str, Any] = {}
            exec(header["standins"], standins)
            shell.user_ns.update({name: standins[key] for name, key in header["spec"]["substitute"].items()})
            answer(shell.user_ns, header, tensors, w)
        finally:
            os._exit(0)
    os.close(w)
    try:
        reply = receive(r, MAX_OUTPUT)
    except (WireError, OSError, ValueError):
        reply = ({"ok": False, "error": "the code stopped its process before answering"}, {})
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    send(write_fd, *reply)


def serve(read_fd: int, write_fd: int) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the fork server ignores it; the notebook's code may wait for children
    os.environ.setdefault("MPLBACKEND", "Agg")
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance(colors="nocolor")  # a fork server's child reuses the warm instance
    header, _ = receive(read_fd, MAX_INPUT)
    apply_limits(header["limits"])
    offline = leave_network()
    disk_capped = cap_disk(header["limits"].get("disk_mb", 256))
    landlock = hide_filesystem()
    seccomp = deny_dangerous_calls()  # last: nothing set up above can be undone by the student's code
    send(write_fd, {"ok": True, "errors": run_cells(shell, header["cells"]), "landlock": landlock, "offline": offline,
                    "disk_capped": disk_capped, "seccomp": seccomp})
    while True:
        header, tensors = receive(read_fd, MAX_INPUT)
        if header["op"] == "exit":
            return
        target = shell.user_ns.get(header["target"])
        if target is None:
            send(write_fd, {"ok": False, "error": f"{header['target']} is not defined"})
        elif header["op"] == "get":
            value = target
            plain = type(value) in (str, int, float, bool)
            send(write_fd, {"ok": plain, "value": value if plain else None,
                            "error": None if plain else f"{header['target']} is a {type(value).__name__}"})
        elif header["spec"].get("substitute"):
            call_with_standins(shell, header, tensors, write_fd)
        else:
            answer(shell.user_ns, header, tensors, write_fd)


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]))

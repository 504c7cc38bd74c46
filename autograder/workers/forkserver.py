"""A warm start for workers: one process imports once what every notebook imports (torch, numpy, matplotlib's
pyplot with a non-interactive backend, the kit's coursekit) and IPython, then forks a fresh child per submission,
so a notebook's code starts in milliseconds instead of paying the imports every time. Each child is a fresh
fork: whatever one student's code changes in those modules dies with its process.

It holds no secrets (children inherit its memory): it never imports reference_impl or reads course files.
Threads are pinned to one before any warm-up, since a child forked after a parallel op can deadlock.
Usage (started by the grader): python -m autograder.workers.forkserver SOCKET_FD
"""
from __future__ import annotations

import gc
import importlib.util
import json
import os
import signal
import socket
import sys
from pathlib import Path


def preload_coursekit() -> None:
    """coursekit imported under the name notebooks use, from the kit's own folder: each worker's scratch folder
    holds a copy of the same files, and the worker points it at that copy's fixtures (server.settle_coursekit)."""
    from .. import coursekit as kit

    folder = Path(kit.__file__).parent
    spec = importlib.util.spec_from_file_location("coursekit", folder / "__init__.py",
                                                  submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["coursekit"] = module
    spec.loader.exec_module(module)


def warm_answers() -> None:
    """One answer the way a worker gives it (a call through coursekit's protocol, its outputs framed and read back),
    so that what torch, numpy and safetensors set up on first use is set up here, once."""
    import torch

    from ..coursekit.protocol import invoke
    from .wire import frame, receive

    x = torch.zeros(2, 3)
    outputs = invoke(lambda t: torch.nn.functional.linear(t.softmax(-1), torch.eye(3)), "function", {"x": x},
                     {"args": ["x"]})
    read, write = os.pipe()
    try:
        os.write(write, frame({"ok": True, "n": 1}, {"out.0": outputs[0]}))
        receive(read, 1 << 20)
    finally:
        os.close(read), os.close(write)


def warm_up() -> object:
    import numpy  # noqa: F401
    import torch

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    from .server import make_shell, run_cells  # imported here, so children start with the server loaded

    shell = make_shell()
    names = set(shell.user_ns)
    # The first cell IPython runs, and torch's seeding, which formats the stack for its CUDA bookkeeping: the source
    # lines it reads are cached here once, not read again in every child. It defines nothing, and leaves the random
    # state as a fresh interpreter's, so the draws below leave it as they always did.
    run_cells(shell, ["if True:\n    __import__('torch').manual_seed(__import__('torch').initial_seed())"])
    assert set(shell.user_ns) == names, "warming up defined names a notebook would see"
    shell.display_formatter.format(torch.zeros(2))  # IPython makes its formatters, torch its printing, on first use
    torch.randn(64, 64) @ torch.randn(64, 64)  # load the kernels the children will use
    warm_answers()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401  (half a second, paid once here instead of in every notebook)

    preload_coursekit()  # with the shell made: coursekit registers its cell magic there, as in a notebook
    gc.collect()
    gc.freeze()  # kept out of the children's garbage collections, whose writes would copy their pages
    return shell


def serve(sock: socket.socket, parent: int) -> None:
    from .server import die_with_parent

    die_with_parent(parent)
    warm_up()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel; the grader kills them
    sock.sendall(b'{"ready": true}\n')
    while True:
        msg, fds, _, _ = socket.recv_fds(sock, 4096, 4)
        if not msg:
            return
        server = os.getpid()
        pid = os.fork()
        if pid == 0:
            die_with_parent(server)
            os.setsid()  # its own process group: the grader kills the child and everything it starts
            sock.close()
            read_fd, write_fd, log_fd, report_fd = fds
            os.dup2(log_fd, 1), os.dup2(log_fd, 2)
            from .server import serve as serve_requests

            try:
                serve_requests(read_fd, write_fd, report_fd)
            finally:
                os._exit(0)
        for fd in fds:
            os.close(fd)
        sock.sendall(json.dumps({"pid": pid}).encode() + b"\n")


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[1])), os.getppid())

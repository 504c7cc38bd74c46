"""A warm start for workers: one process imports torch and IPython once, then forks a fresh child per
submission, so a notebook's code starts in milliseconds instead of paying the import every time.

It holds no secrets (children inherit its memory): it never imports reference_impl or reads course files.
Threads are pinned to one before any warm-up, since a child forked after a parallel op can deadlock.
Usage (started by the grader): python -m autograder.workers.forkserver SOCKET_FD
"""
from __future__ import annotations

import json
import os
import signal
import socket
import sys


def warm_up() -> object:
    import torch

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    torch.randn(64, 64) @ torch.randn(64, 64)  # load the kernels the children will use
    import matplotlib

    matplotlib.use("Agg")
    from .server import make_shell  # imported here, so children start with the server loaded

    return make_shell()


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
        request = json.loads(msg)
        server = os.getpid()
        pid = os.fork()
        if pid == 0:
            die_with_parent(server)
            os.setsid()  # its own process group: the grader kills the child and everything it starts
            sock.close()
            read_fd, write_fd, log_fd, report_fd = fds
            os.dup2(log_fd, 1), os.dup2(log_fd, 2)
            os.chdir(request["cwd"])
            sys.path[0] = request["cwd"]  # as for `python` started there: the notebook's folder comes first
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

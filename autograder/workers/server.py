"""The process that runs a student's notebook code and answers the grader's calls.

It executes the notebook's code cells with IPython, then serves requests on its pipes: call a graded
function or class on tensors, or read a plain answer variable. Scores are never decided here.
Calls that grade a part with trusted stand-ins for the student's earlier parts are answered by a process that
serves that part's cases and exits afterwards: the stand-ins (sent as source with the request, never imported
here) are never seen by code that grades the parts they stand in for. On a machine with a GPU those processes
are forked from a copy of this one that never started CUDA (StandinParent), so that they can use it.
Usage (started by the grader): python -m autograder.workers.server READ_FD WRITE_FD REPORT_FD GRADER_PID
"""
from __future__ import annotations

import json
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from ..coursekit.protocol import PartError, invoke
from ..sandbox import stranger
from ..sandbox.environment import scrub_environment
from ..sandbox.landlock import hide_filesystem
from ..sandbox.namespaces import cap_disk, enter_pid_namespace, gpu_devices, leave_host, own_system_folders
from ..sandbox.rlimits import apply_limits
from ..sandbox.seccomp import deny_dangerous_calls
from ..text import shown
from .wire import WireError, frame, receive, send, write_frame

ERROR_CHARS = 4000  # a message is one line or a few; a student's megabyte of text is cut here, not by the grader

MAX_INPUT = 256 << 20
MAX_OUTPUT = 64 << 20
MAX_STANDINS = 1 << 20  # a part's stand-ins, as source


def die_with_parent(parent: int) -> None:
    """Be killed when the process that started this one ends, even if the grader itself was killed: no worker
    (nor fork server) is ever left running without a grader."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it ended before the signal was armed
        os._exit(1)


def make_shell() -> Any:
    """The IPython shell that runs the notebook's cells, without a history database: IPython would otherwise open
    the grader's ~/.ipython history before the sandbox is up, and the student's code would inherit that file."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.enabled = False
    return InteractiveShell.instance(config=config, colors="nocolor")


def settle_coursekit(folder: str) -> None:
    """The coursekit the fork server preloaded (forkserver.preload_coursekit), if any, reads the fixtures in
    `folder`, the worker's scratch folder, as it would had the notebook imported it from the copy there."""
    kit = sys.modules.get("coursekit")
    if kit is not None:
        kit.selfcheck.FIXTURES = Path(folder) / "fixtures"


def write_files(names: list[str], contents: dict[str, Any]) -> None:
    """The support files the grader sent (coursekit, fixtures, data), written into the scratch folder."""
    for i, name in enumerate(names):
        os.makedirs(os.path.dirname(name) or ".", exist_ok=True)
        with open(name, "wb") as f:
            f.write(contents[f"file.{i}"].numpy().data)  # the tensor's own memory: no copy


def run_cells(shell: Any, cells: list[str]) -> list[dict[str, Any]]:
    errors = []
    for i, source in enumerate(cells):
        result = shell.run_cell(source, store_history=False, silent=False)
        err = result.error_in_exec or result.error_before_exec
        if err is not None:
            errors.append({"cell": i, "error": f"{type(err).__name__}: {err}"})
    return errors


def answer(namespace: dict[str, Any], header: dict[str, Any], tensors: dict[str, Any], write_fd: int) -> None:
    """One case's reply: the outputs, or the student's error as at most a few thousand printable characters."""
    try:
        outputs = invoke(namespace[header["target"]], header["kind"], tensors, header["spec"])
        try:
            data = frame({"ok": True, "n": len(outputs)}, {f"out.{i}": t for i, t in enumerate(outputs)})
        except Exception as err:  # a sparse or quantized tensor passes invoke's checks but cannot be saved
            raise PartError(f"your code returned an output that cannot be sent back: {err}") from None
    except PartError as err:
        data = frame({"ok": False, "error": shown(str(err), ERROR_CHARS)})
    write_frame(write_fd, data)


def serve_part(shell: Any, standins_source: str, substitute: dict[str, str], child_reads: int, child_writes: int) -> None:
    """The body of a stand-in process: install the stand-ins, then answer the part's cases until the pipe closes."""
    try:
        standins: dict[str, Any] = {}
        exec(standins_source, standins)
        del standins_source  # dropped before any student code runs
        shell.user_ns.update({name: standins[key] for name, key in substitute.items()})
        while True:
            request, tensors = receive(child_reads, MAX_INPUT)
            request.pop("standins", None)
            answer(shell.user_ns, request, tensors, child_writes)
    finally:  # the pipe closed (WireError): this part is done
        os._exit(0)


class StandinParent:
    """On a machine with a GPU, the parent of the stand-in processes: a fork of the worker made after the
    notebook's cells ran (with CUDA reported unavailable, see run_cells_before_cuda) and before it grades on the
    GPU, as a fork of a process that started CUDA cannot use it. The worker sends it each part's stand-ins with the
    two pipe ends that part's process answers on."""

    def __init__(self, shell: Any, grader_fds: tuple[int, ...]) -> None:
        """`grader_fds`: the worker's pipes to the grader, closed here: only the worker answers the grader, and
        the grader sees the pipe close as soon as the worker ends."""
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.pid = os.fork()
        if self.pid == 0:
            self.sock.close()
            for fd in grader_fds:
                os.close(fd)
            try:
                self._serve(shell, theirs)
            finally:
                os._exit(0)
        theirs.close()

    @staticmethod
    def _serve(shell: Any, sock: socket.socket) -> None:
        while True:
            message, fds, _, _ = socket.recv_fds(sock, MAX_STANDINS, 2)
            while True:  # reap the parts that finished
                try:
                    if os.waitpid(-1, os.WNOHANG)[0] == 0:
                        break
                except ChildProcessError:
                    break
            if not message or len(fds) != 2:
                return  # the worker ended
            request = json.loads(message)
            del message
            try:
                pid = os.fork()
            except OSError:  # the notebook's own processes used up the limit: the worker reads a closed pipe
                pid = -1
            if pid == 0:
                sock.close()
                serve_part(shell, request.pop("standins"), request.pop("substitute"), *fds)
            del request
            for fd in fds:
                os.close(fd)

    def start(self, header: dict[str, Any], child_reads: int, child_writes: int) -> None:
        """Have a process forked that installs this part's stand-ins and answers on the two pipe ends given."""
        message = json.dumps({"standins": header["standins"], "substitute": header["spec"]["substitute"]}).encode()
        socket.send_fds(self.sock, [message], [child_reads, child_writes])


def reaped(pid: int) -> bool:
    """Reap child `pid` if it has ended; whether it is gone (the notebook's code may have reaped it already)."""
    try:
        return os.waitpid(pid, os.WNOHANG)[0] != 0
    except ChildProcessError:
        return True


class StandinProcess:
    """A process that installed the stand-ins of one part, then answers that part's cases until the worker
    closes its pipe: forked from the StandinParent where there is one, else from the worker. Its replies are
    read and checked by the worker before they go on."""

    @staticmethod
    def part(header: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
        """What a stand-in process serves: one target with one set of stand-ins."""
        return header["target"], sorted(header["spec"]["substitute"].items())

    def __init__(self, shell: Any, header: dict[str, Any], parent: StandinParent | None) -> None:
        self.key = self.part(header)
        child_reads, self.to_child = os.pipe()
        self.from_child, child_writes = os.pipe()
        self.pid = 0
        try:
            if parent is not None:
                parent.start(header, child_reads, child_writes)
            else:
                self.pid = os.fork()
        except OSError:  # the notebook's own processes used up the worker's limit, or the parent is gone
            for fd in (child_reads, self.to_child, self.from_child, child_writes):
                os.close(fd)
            raise
        if parent is None and self.pid == 0:
            os.close(self.to_child), os.close(self.from_child)
            serve_part(shell, header.pop("standins"), header["spec"]["substitute"], child_reads, child_writes)
        os.close(child_reads), os.close(child_writes)
        header.pop("standins", None)

    def ask(self, header: dict[str, Any], tensors: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        send(self.to_child, header, tensors)
        return receive(self.from_child, MAX_OUTPUT)

    ended: list[int] = []  # this worker's stand-in processes told to end, not yet reaped

    def close(self) -> None:
        """Close its pipes, which ends it; it is reaped once gone (its teardown takes milliseconds: not waited for)."""
        os.close(self.to_child), os.close(self.from_child)
        if self.pid:  # a StandinParent's children are its own to reap
            StandinProcess.ended.append(self.pid)
        StandinProcess.ended = [pid for pid in StandinProcess.ended if not reaped(pid)]


def run_cells_before_cuda(shell: Any, cells: list[str], grader_fds: tuple[int, ...]
                          ) -> tuple[list[dict[str, Any]], StandinParent | None]:
    """On a machine with a GPU: the cells run as on one without (torch.cuda.is_available() is False meanwhile, so
    a notebook's `device = "cuda" if ... else "cpu"` starts nothing), then the stand-ins' parent is forked while
    CUDA is still unstarted; a notebook that starts CUDA anyway gets none, and its stand-in cases fail on the GPU."""
    import torch

    available, torch.cuda.is_available = torch.cuda.is_available, lambda: False
    try:
        errors = run_cells(shell, cells)
    finally:
        torch.cuda.is_available = available
    if torch.cuda.is_initialized():
        return errors, None
    try:
        return errors, StandinParent(shell, grader_fds)
    except OSError:  # the notebook's own processes used up the limit: stand-ins are forked from the worker
        return errors, None


def call_with_standins(shell: Any, current: StandinProcess | None, header: dict[str, Any], tensors: dict[str, Any],
                       write_fd: int, parent: StandinParent | None) -> StandinProcess | None:
    """Answer through the stand-in process of this part (started on its first case); return the one still alive."""
    if current is not None and current.key != StandinProcess.part(header):
        current.close()
        current = None
    try:
        current = current or StandinProcess(shell, header, parent)
    except OSError as err:
        send(write_fd, {"ok": False, "error": f"cannot start the process that grades this part: {err}"})
        return None
    try:
        reply = current.ask(header, tensors)
    except (WireError, OSError, ValueError):
        reply = ({"ok": False, "error": "the code stopped its process before answering"}, {})
        current.close()
        current = None
    send(write_fd, *reply)
    return current


def serve(read_fd: int, write_fd: int, report_fd: int) -> None:
    """Set up the sandbox and say which protections hold, run the notebook's cells and send their errors, then
    answer calls. `report_fd` is where the namespace's parent says how this process ended (see
    enter_pid_namespace); no student code ever holds it. What needs no request (the namespaces of its processes
    and network) is done before the first one, so that a fork server's spare has done it while it waited."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the fork server ignores it; the notebook's code may wait for children
    os.environ.setdefault("MPLBACKEND", "Agg")
    shell = make_shell()  # a fork server's child reuses the warm instance
    uid = stranger.uid_for(os.getpid())  # from the pid outside any namespace: unique on this machine
    receive(read_fd, MAX_INPUT)  # "confined": in its control groups, which every process it forks will share
    own_pids = enter_pid_namespace((read_fd, write_fd), report_fd)  # from here on this process is the namespace's init
    if not own_pids:
        os.close(report_fd)  # nobody can tell the grader how this process ends: it will say so
    offline = leave_host()
    header, contents = receive(read_fd, MAX_INPUT)
    os.chdir(header["cwd"])  # the scratch folder (a spare is forked before it is chosen)
    sys.path[0] = header["cwd"]  # as for `python` started there: the notebook's folder comes first
    scrub_environment()
    gpu = bool(gpu_devices()) and header.get("memory_capped") is True  # a memory group limits this worker
    apply_limits(header["limits"], address_space=not gpu)
    disk_capped = cap_disk(header["limits"].get("disk_mb", 256))
    write_files(header.get("files", []), contents)  # into the private tmpfs, where there is one
    del contents
    own_system = own_pids and disk_capped and own_system_folders()
    if stranger.available():
        stranger.give_folder(os.getcwd(), uid)
    own_user = stranger.become(uid)
    landlock = hide_filesystem(own_system)
    seccomp = deny_dangerous_calls()  # last: nothing set up above can be undone by the student's code
    settle_coursekit(os.getcwd())
    send(write_fd, {"ok": True, "landlock": landlock, "offline": offline, "disk_capped": disk_capped,
                    "seccomp": seccomp, "own_pids": own_pids, "own_system": own_system, "own_user": own_user})
    parent: StandinParent | None = None
    if gpu_devices() and own_system:  # without a /proc of its own, a stand-in process may not start CUDA anyway
        errors, parent = run_cells_before_cuda(shell, header["cells"], (read_fd, write_fd))
    else:
        errors = run_cells(shell, header["cells"])
    send(write_fd, {"ok": True, "errors": errors})
    standin: StandinProcess | None = None
    while True:
        header, tensors = receive(read_fd, MAX_INPUT)
        if standin is not None and not header.get("spec", {}).get("substitute"):
            standin.close()
            standin = None
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
            standin = call_with_standins(shell, standin, header, tensors, write_fd, parent)
        else:
            answer(shell.user_ns, header, tensors, write_fd)


if __name__ == "__main__":
    die_with_parent(int(sys.argv[4]))
    serve(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))

"""The grader's side of a worker: start it, feed it the notebook's code, call graded parts with a timeout."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import IO, Any

import torch

from ..course import Limits
from ..sandbox.bubblewrap import available as bubblewrap_available
from ..sandbox.bubblewrap import command as bubblewrap_command
from ..sandbox.cgroups import cap_memory, cap_processes, oom_kill, share_cpu
from ..sandbox.cgroups import sweep as sweep_groups
from ..sandbox.environment import exec_environment
from ..sandbox.cgroups import remove as remove_group
from ..sandbox.rlimits import explain
from ..text import shown
from .scratch import sweep as sweep_scratch
from .wire import PipeClosed, WireError, WireTimeout, receive, wait_ready, send

MAX_OUTPUT = 64 << 20
NOTEBOOK_TIMEOUTS = 4  # running the notebook's own code may take this many per-check timeouts


class WorkerFailure(Exception):
    """The worker died, hung past its time limit, or answered with something malformed."""


REPORT_WAIT_S = 10.0  # how long the namespace's parent may take to say how the worker ended
SERVER_WAIT_S = 2.0  # how long a fork server that is being killed may take to be gone


@dataclass
class CallResult:
    outputs: list[torch.Tensor] | None
    error: str | None


WORKER_ENV = {"MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


def sweep_leftovers() -> int:
    """Remove what graders killed on this machine left (their control groups and scratch folders); return how many
    folders went. Every fork server's start does it, and a cluster's worker at the end of each batch."""
    sweep_groups()
    return len(sweep_scratch())


class ForkServer:
    """A warm process that forks one worker per submission (see forkserver.py)."""

    def __init__(self, start_timeout_s: float = 60.0, bubblewrap: bool | None = None,
                 hidden: tuple[str, ...] = ()) -> None:
        """`bubblewrap`: run inside bwrap (True), not (False), or where the machine has it (None); a sandbox that
        fails to start falls back to none, and `self.bubblewrap` says which one runs. `hidden`: folders in the
        temp folder that bwrap shows empty (a cluster worker's copy of the course)."""
        self.hidden = hidden
        sweep_leftovers()
        want = bubblewrap_available() if bubblewrap is None else bubblewrap
        self.start_timeout_s = start_timeout_s
        self.bubblewrap = want and self._start(start_timeout_s, True)
        if not self.bubblewrap and not self._start(start_timeout_s, False):
            raise RuntimeError("the worker fork server did not start")
        self.generation = 0  # how many times it was started again after it died
        self.lock = threading.Lock()

    def _start(self, timeout: float, sandboxed: bool) -> bool:
        ours, theirs = socket.socketpair()
        argv = [sys.executable, "-m", "autograder.workers.forkserver", str(theirs.fileno())]
        self.proc = subprocess.Popen(bubblewrap_command(argv, self.hidden) if sandboxed else argv,
                                     pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/",
                                     env=exec_environment(WORKER_ENV), start_new_session=True)
        theirs.close()
        self.sock = ours
        self.sock.settimeout(timeout)
        self.replies = self.sock.makefile("rb")
        try:
            ready = json.loads(self.replies.readline() or b"{}").get("ready")
        except OSError:
            ready = False
        if not ready:
            self.close()
        return bool(ready)

    def fork(self, cwd: str, log: IO[bytes]) -> tuple[int, int, int, int]:
        """Fork a child working in `cwd`, writing its output to `log`; return (pid, fd to it, fd from it, fd on
        which it is told how the child ended)."""
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        report_r, report_w = os.pipe()
        try:
            with self.lock:
                if self.proc.poll() is not None:  # killed (the OOM killer's choice on a busy machine): start anew
                    self.close()
                    if not self._start(self.start_timeout_s, self.bubblewrap):
                        raise RuntimeError("the worker fork server died and did not start again")
                    self.generation += 1
                socket.send_fds(self.sock, [json.dumps({"cwd": cwd}).encode()],
                                [to_child_r, from_child_w, log.fileno(), report_w])
                pid = json.loads(self.replies.readline())["pid"]
        finally:
            os.close(to_child_r), os.close(from_child_w), os.close(report_w)
        return pid, to_child_w, from_child_r, report_r

    def died_since(self, generation: int) -> bool:
        """Whether this server was killed (or started anew) since a worker forked at `generation` was forked."""
        if self.generation != generation:
            return True
        try:
            self.proc.wait(timeout=SERVER_WAIT_S)
        except subprocess.TimeoutExpired:
            return False
        return True

    def close(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.replies.close()
        self.sock.close()

    def __enter__(self) -> "ForkServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Worker:
    """One student's code in its own process; restarted (re-running the cells) after a failure.

    With a ForkServer the process is a warm fork; without one it is a fresh interpreter.
    """

    def __init__(self, cells: list[str], timeout_s: float, cwd: str,
                 server: ForkServer | None = None, limits: dict[str, Any] | None = None) -> None:
        """`cwd` is the worker's scratch folder: the only one its code can write, and nothing else of ours."""
        self.cells, self.timeout_s, self.cwd, self.server = cells, timeout_s, str(cwd), server
        self.limits = limits or Limits(check_timeout_s=timeout_s).for_worker()
        self.pid: int | None = None
        self.proc: subprocess.Popen | None = None
        self.group = None  # the worker's process-count control group, where the machine allows one
        self.memory_group = None  # its memory control group, likewise
        self.cpu_group = None  # its CPU control group, likewise
        self.out_of_memory = False  # whether the kernel killed it for going over its memory group's limit
        self.host_out_of_memory = False  # whether the kernel killed it because the whole machine ran out
        self.cell_errors: list[dict[str, Any]] = []
        self.broken: str | None = None  # set when the notebook's code itself cannot be run: no retries
        self.disk_capped = False  # whether the worker's files live in a private, size-capped tmpfs
        self.seccomp = False  # whether the worker's dangerous system calls are refused
        self.own_pids = self.own_system = False  # a pid namespace; with its own /proc, /dev and /sys
        self.own_user = False  # a uid of its own
        self.machine_faults: list[str] = []  # deaths the machine caused, on evidence (see _exchange): never a grade
        self.generation = 0  # the fork server's generation when this worker was forked
        self.troubles: set[str] = set()  # what stopped the student's code, for the class report: timed out, limit hit

    def _start(self) -> None:
        self.log = tempfile.TemporaryFile()
        if self.server is not None:
            self.pid, self.write_fd, self.read_fd, self.report_fd = self.server.fork(self.cwd, self.log)
            self.generation = self.server.generation
        else:
            to_child_r, to_child_w = os.pipe()
            from_child_r, from_child_w = os.pipe()
            self.report_fd, report_w = os.pipe()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "autograder.workers.server", str(to_child_r), str(from_child_w), str(report_w),
                 str(os.getpid())],
                pass_fds=(to_child_r, from_child_w, report_w), stdin=subprocess.DEVNULL, stdout=self.log,
                stderr=self.log, cwd=self.cwd, env=exec_environment(WORKER_ENV), start_new_session=True)
            os.close(to_child_r), os.close(from_child_w), os.close(report_w)
            self.pid, self.write_fd, self.read_fd = self.proc.pid, to_child_w, from_child_r
        for fd in (self.write_fd, self.read_fd, self.report_fd):
            os.set_blocking(fd, False)  # every exchange has a deadline
        self.group = cap_processes(self.pid, int(self.limits.get("processes", 64)))  # before any student code
        self.memory_group = cap_memory(self.pid, self.memory_cap_mb() << 20)
        self.cpu_group = share_cpu(self.pid)
        try:
            header, _ = self._exchange({"op": "cells", "cells": self.cells, "limits": self.limits,
                                        "memory_capped": self.memory_group is not None},
                                       timeout=self.timeout_s * NOTEBOOK_TIMEOUTS)
        except WorkerFailure as err:
            self.broken = f"running the notebook's code failed: {err}"
            raise WorkerFailure(self.broken) from None
        errors = header.get("errors")
        if not isinstance(errors, list) or not all(isinstance(e, dict) and type(e.get("cell")) is int for e in errors):
            self.stop()
            self.broken = "running the notebook's code failed: the notebook's process answered something malformed"
            raise WorkerFailure(self.broken)
        self.cell_errors = [{"cell": e["cell"], "error": explain(shown(e.get("error")), self.limits)} for e in errors[:100]]
        self.disk_capped = bool(header.get("disk_capped"))
        self.seccomp = bool(header.get("seccomp"))
        self.own_pids, self.own_system = bool(header.get("own_pids")), bool(header.get("own_system"))
        self.own_user = bool(header.get("own_user"))

    def _exchange(self, header: dict[str, Any], tensors: dict[str, torch.Tensor] | None = None,
                  timeout: float | None = None) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """Send a request and read the reply, both before one deadline; any fault stops the worker."""
        timeout = timeout or self.timeout_s
        deadline = time.monotonic() + timeout
        try:
            send(self.write_fd, header, tensors, deadline)
            return receive(self.read_fd, MAX_OUTPUT, deadline)
        except WireTimeout:
            self.stop()
            self.troubles.add("timed out")
            raise WorkerFailure(f"timed out after {timeout:g} s") from None
        except (PipeClosed, BrokenPipeError):  # it died, or closed its end: ask how it ended before killing it
            how = self._ending()
            server_died = how is None and self.server is not None and self.server.died_since(self.generation)
            self.stop()
            if self.out_of_memory:
                self.troubles.add("limit hit")
                raise WorkerFailure(f"ran out of memory: the limit is {self.limits['memory_mb']} MB, counting "
                                    "shared memory and files too") from None
            fault = ("was killed by the kernel's OOM killer when the machine ran out of memory (under its own "
                     "limit)" if self.host_out_of_memory else "stopped when the grader's fork server was killed"
                     if server_died else None)
            if fault is not None:
                self.machine_faults.append(fault)
                raise WorkerFailure(f"the notebook's process {fault}") from None
            raise WorkerFailure(f"the notebook's process stopped: {how or 'it ended without saying how'}") from None
        except (WireError, OSError, ValueError) as err:
            self.stop()
            raise WorkerFailure(f"the notebook's process answered something malformed ({shown(err, 200)})") from None

    def _ending(self) -> str | None:
        """How the worker ended, in words, from the report of its namespace's parent; None when nobody reported
        (no pid namespace, or the whole worker was killed). A process still running closed its pipe itself. An end
        by the CPU-time or file-size limit's signal is noted as a limit hit."""
        try:
            wait_ready(self.report_fd, time.monotonic() + REPORT_WAIT_S)
            raw = os.read(self.report_fd, 64)
        except WireTimeout:
            return "it closed its connection to the grader"
        except OSError:
            raw = b""
        try:
            code = json.loads(raw)["exit"]
        except (ValueError, KeyError, TypeError):
            return None
        if type(code) is not int:
            return None
        if code >= 0:
            return f"it exited with status {code}"
        if -code in (signal.SIGXCPU, signal.SIGXFSZ):  # the CPU-time or file-size limit: an error text would not do
            self.troubles.add("limit hit")
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        if -code == signal.SIGKILL:  # the grader's limits and this machine's memory are ruled out by the caller
            return "it was killed by SIGKILL (a limit its own code set, or its own code)"
        return f"it was killed by {name}"

    def memory_cap_mb(self) -> int:
        """The memory group's limit: the student's memory, the files it may write (tmpfs pages count) and slack
        for what the warm process's pages cost once written."""
        return int(self.limits["memory_mb"]) + int(self.limits.get("disk_mb", 256)) + 256

    def ensure(self) -> None:
        if self.broken is not None:
            raise WorkerFailure(self.broken)
        if self.pid is None:
            self._start()

    def call(self, target: str, kind: str, tensors: dict[str, torch.Tensor], spec: dict[str, Any],
             standins: str | None = None) -> CallResult:
        """Call a graded part on one case; `standins` is the source of the module of the stand-ins that
        spec["substitute"] names (run only in a short-lived fork of the worker, see server.py)."""
        self.ensure()
        request = {"op": "call", "target": target, "kind": kind, "spec": spec}
        if spec.get("substitute"):
            if standins is None:
                raise ValueError(f"{target}: the call names stand-ins but their source was not given")
            request["standins"] = standins
        header, out = self._exchange(request, tensors)
        if header.get("ok") is not True:
            return CallResult(None, explain(shown(header.get("error")), self.limits))
        n = header.get("n")
        if type(n) is not int or n != len(out) or set(out) != {f"out.{i}" for i in range(n)}:
            raise WorkerFailure("the answer did not contain the expected tensors")
        return CallResult([out[f"out.{i}"] for i in range(n)], None)

    def get(self, name: str) -> tuple[Any, str | None]:
        """A plain answer variable (str, int, float or bool), or why there is none."""
        self.ensure()
        header, _ = self._exchange({"op": "get", "target": name})
        value = header.get("value")
        if header.get("ok") is not True:
            return None, shown(header.get("error"))
        if type(value) not in (str, int, float, bool):
            return None, f"{name} is not a plain value"
        return (shown(value) if type(value) is str else value), None

    def stop(self) -> int | None:
        """Kill the worker's whole process group (it leads its own session) and close the pipes."""
        if self.pid is None:
            return None
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        code = self.proc.wait() if self.proc is not None else None
        kill = oom_kill(self.memory_group)
        self.out_of_memory, self.host_out_of_memory = kill == "own", kill == "host"
        remove_group(self.group)  # after killing whatever of the worker's is still in it
        remove_group(self.memory_group)
        remove_group(self.cpu_group)
        for fd in (self.read_fd, self.write_fd, self.report_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        self.log.close()
        self.pid, self.proc, self.group, self.memory_group, self.cpu_group = None, None, None, None, None
        return code

    def __enter__(self) -> "Worker":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

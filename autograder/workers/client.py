"""The grader's side of a worker: start it, feed it the notebook's code, call graded parts with a timeout."""
from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import torch

from ..course import Limits
from ..sandbox.bubblewrap import available as bubblewrap_available
from ..sandbox.bubblewrap import command as bubblewrap_command
from ..sandbox.cgroups import cap_memory, cap_processes, group_name, oom_kill, remove_soon, settle, share_cpu
from ..sandbox.cgroups import sweep as sweep_groups
from ..sandbox.environment import exec_environment
from ..sandbox.rlimits import explain
from ..grading.stopwatch import timed
from ..text import shown
from .scratch import sweep as sweep_scratch
from .wire import PipeClosed, WireError, WireTimeout, receive, wait_ready, send

MAX_OUTPUT = 64 << 20
NOTEBOOK_TIMEOUTS = 4  # running the notebook's own code may take this many per-check timeouts


class WorkerFailure(Exception):
    """The worker died, hung past its time limit, or answered with something malformed."""


CONFINED = {"op": "confined"}  # the first frame a worker reads: it forks nothing before it is in its control groups
CONFINED_WAIT_S = 5.0  # a pipe with room for the frame: only a dead worker's makes this wait
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


Groups = tuple[Path | None, Path | None, Path | None]  # a worker's control groups: processes, memory, CPU


def confine(pid: int, write_fd: int, processes: int, memory_bytes: int) -> Groups:
    """Put worker `pid` in control groups of its own (at most `processes` tasks and `memory_bytes`, and a fair share
    of the CPU; None for each the machine does not offer), then tell it so on `write_fd`: it forks nothing before,
    so that every process of its own is in them."""
    name = group_name(pid)
    groups = cap_processes(pid, name, processes), cap_memory(pid, name, memory_bytes), share_cpu(pid, name)
    try:
        send(write_fd, CONFINED, None, time.monotonic() + CONFINED_WAIT_S)
    except (WireError, OSError):  # it died: its first exchange finds out, and how
        pass
    return groups


@dataclass
class Launched:
    """A worker's process, forked by the fork server and in its control groups, that has been sent nothing yet."""

    pid: int
    write_fd: int
    read_fd: int
    report_fd: int
    log: IO[bytes]
    groups: Groups
    generation: int  # the fork server's, when it forked this process

    def discard(self) -> None:
        """Kill a spare that will not be used."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for fd in (self.write_fd, self.read_fd, self.report_fd):
            os.close(fd)
        self.log.close()
        remove_soon(list(self.groups))


class ForkServer:
    """A warm process that forks one worker per submission (see forkserver.py). With `spares`, that many worker
    processes per kind of limits are forked and confined ahead of time, on a thread of this object's, so that
    a submission's worker is ready at once: a spare is a fork of the server that waits, before any sandbox or
    student code, for the request that says what to run (fork and confinement cost tens of milliseconds)."""

    def __init__(self, start_timeout_s: float = 60.0, bubblewrap: bool | None = None,
                 hidden: tuple[str, ...] = (), spares: int = 0) -> None:
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
        self.spares = spares
        self.ready: dict[tuple[int, int], list[Launched]] = defaultdict(list)  # spares by (processes, memory bytes)
        self.ready_lock = threading.Lock()
        self.orders: queue.SimpleQueue[tuple[int, int] | None] = queue.SimpleQueue()
        self.preparer = threading.Thread(target=self._prepare, name="fork-server-spares", daemon=True)
        if spares:  # a long-lived thread: a server it starts again dies with the thread that started it (PDEATHSIG)
            self.preparer.start()

    def launch(self, processes: int, memory_bytes: int) -> Launched:
        """A worker process confined to `processes` tasks and `memory_bytes`: a spare where one is ready (and
        another is ordered), else one forked now. A spare of a server since killed is discarded."""
        key = (processes, memory_bytes)
        with self.ready_lock:
            spare = self.ready[key].pop() if self.ready[key] else None
        if spare is not None and (spare.generation != self.generation or self.proc.poll() is not None):
            spare.discard()
            spare = None
        if self.spares:
            self.orders.put(key)
        return spare or self._launch(key)

    def _launch(self, key: tuple[int, int]) -> Launched:
        log = tempfile.TemporaryFile()
        try:
            pid, write_fd, read_fd, report_fd, generation = self.fork(log)
        except BaseException:
            log.close()
            raise
        for fd in (write_fd, read_fd, report_fd):
            os.set_blocking(fd, False)  # every exchange has a deadline
        return Launched(pid, write_fd, read_fd, report_fd, log, confine(pid, write_fd, *key), generation)

    def _prepare(self) -> None:
        """The spares' thread: fork and confine one for each order, until `spares` of that kind wait."""
        while (key := self.orders.get()) is not None:
            with self.ready_lock:
                if len(self.ready[key]) >= self.spares:
                    continue
            try:
                spare = self._launch(key)
            except (OSError, RuntimeError, ValueError):  # the server died and did not start again: launch() says so
                continue
            with self.ready_lock:
                self.ready[key].append(spare)

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
            self._stop()
        return bool(ready)

    def fork(self, log: IO[bytes]) -> tuple[int, int, int, int, int]:
        """Fork a child writing its output to `log`; return (pid, fd to it, fd from it, fd on which it is told how
        the child ended, the server's generation that forked it). A server found dead (the OOM killer's choice on a
        busy machine), before or while it forks, is started anew, once per fork."""
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        report_r, report_w = os.pipe()
        try:
            with self.lock:
                for attempt in range(2):
                    if attempt or self.proc.poll() is not None:
                        self._restart()
                    try:
                        socket.send_fds(self.sock, [b"{}"], [to_child_r, from_child_w, log.fileno(), report_w])
                        pid = json.loads(self.replies.readline())["pid"]
                        break
                    except (OSError, ValueError, KeyError, TypeError):  # no answer: it died, or hangs, while forking
                        if attempt or not self.died_since(self.generation):
                            raise RuntimeError("the worker fork server stopped answering") from None
                generation = self.generation
        except BaseException:
            os.close(to_child_w), os.close(from_child_r), os.close(report_r)
            raise
        finally:
            os.close(to_child_r), os.close(from_child_w), os.close(report_w)
        return pid, to_child_w, from_child_r, report_r, generation

    def _restart(self) -> None:
        self._stop()
        if not self._start(self.start_timeout_s, self.bubblewrap):
            raise RuntimeError("the worker fork server died and did not start again")
        self.generation += 1

    def died_since(self, generation: int) -> bool:
        """Whether this server was killed (or started anew) since a worker forked at `generation` was forked."""
        if self.generation != generation:
            return True
        try:
            self.proc.wait(timeout=SERVER_WAIT_S)
        except subprocess.TimeoutExpired:
            return False
        return True

    def _stop(self) -> None:
        """Kill the server process (its workers die with it)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.replies.close()
        self.sock.close()

    def close(self) -> None:
        """Stop the spares' thread, kill the spares and the server, and wait until their control groups are gone."""
        if self.preparer.is_alive():
            self.orders.put(None)
            self.preparer.join()
        with self.ready_lock:
            for spare in [s for spares in self.ready.values() for s in spares]:
                spare.discard()
            self.ready.clear()
        self._stop()
        settle()

    def __enter__(self) -> "ForkServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Worker:
    """One student's code in its own process; restarted (re-running the cells) after a failure.

    With a ForkServer the process is a warm fork; without one it is a fresh interpreter.
    """

    def __init__(self, cells: list[str], timeout_s: float, cwd: str, server: ForkServer | None = None,
                 limits: dict[str, Any] | None = None, files: dict[str, bytes] | None = None) -> None:
        """`cwd` is the worker's scratch folder: the only one its code can write, and nothing else of ours. `files`
        (relative path -> contents: the support files) are written there by the worker, inside its sandbox."""
        self.cells, self.timeout_s, self.cwd, self.server = cells, timeout_s, str(cwd), server
        self.files = files or {}
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
        self.timings: dict[str, float] = {}  # seconds waited: "fork", "sandbox" (its set-up), "notebook code"
        self.starting: tuple[float, float] | None = None  # (deadline, timeout) of the notebook's code, sent, not yet run

    def start(self) -> None:
        """Fork the worker (or take a spare) and send it the notebook's code and the support files, without
        waiting: the grader works meanwhile, and ensure() waits for the code to have run."""
        if self.broken is not None:
            raise WorkerFailure(self.broken)
        if self.pid is not None:
            return
        with timed(self.timings, "fork"):
            self._fork()
        timeout = self.timeout_s * NOTEBOOK_TIMEOUTS
        self.starting = time.monotonic() + timeout, timeout
        request = {"op": "cells", "cells": self.cells, "limits": self.limits, "memory_capped": self.memory_group is not None,
                   "cwd": self.cwd, "files": list(self.files)}
        contents = {f"file.{i}": torch.frombuffer(bytearray(data), dtype=torch.uint8) if data else torch.empty(0, dtype=torch.uint8)
                    for i, data in enumerate(self.files.values())}
        try:
            self._reply(*self.starting, request, contents, answer=False)
        except WorkerFailure as err:
            self.broken = f"running the notebook's code failed: {err}"
            raise WorkerFailure(self.broken) from None

    def _await_code(self) -> None:
        """Wait for the worker to say that its sandbox is up, then for the errors of the notebook's cells."""
        deadline, timeout = self.starting
        self.starting = None
        try:
            with timed(self.timings, "sandbox"):
                ready, _ = self._reply(deadline, timeout)
            with timed(self.timings, "notebook code"):
                header, _ = self._reply(deadline, timeout)
        except WorkerFailure as err:
            self.broken = f"running the notebook's code failed: {err}"
            raise WorkerFailure(self.broken) from None
        errors = header.get("errors")
        if not isinstance(errors, list) or not all(isinstance(e, dict) and type(e.get("cell")) is int for e in errors):
            self.stop()
            self.broken = "running the notebook's code failed: the notebook's process answered something malformed"
            raise WorkerFailure(self.broken)
        self.cell_errors = [{"cell": e["cell"], "error": explain(shown(e.get("error")), self.limits)} for e in errors[:100]]
        self.disk_capped = bool(ready.get("disk_capped"))
        self.seccomp = bool(ready.get("seccomp"))
        self.own_pids, self.own_system = bool(ready.get("own_pids")), bool(ready.get("own_system"))
        self.own_user = bool(ready.get("own_user"))

    def _fork(self) -> None:
        """Start the worker's process in its control groups: from the warm server (a spare where one is ready), or
        a fresh interpreter."""
        processes, memory_bytes = int(self.limits.get("processes", 64)), self.memory_cap_mb() << 20
        if self.server is not None:
            launched = self.server.launch(processes, memory_bytes)
            self.pid, self.write_fd, self.read_fd, self.report_fd = (launched.pid, launched.write_fd, launched.read_fd,
                                                                     launched.report_fd)
            self.log, self.generation = launched.log, launched.generation
            self.group, self.memory_group, self.cpu_group = launched.groups
            return
        self.log = tempfile.TemporaryFile()
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
        self.group, self.memory_group, self.cpu_group = confine(self.pid, self.write_fd, processes, memory_bytes)

    def _exchange(self, header: dict[str, Any], tensors: dict[str, torch.Tensor] | None = None
                  ) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """Send a request and read the reply, both within the per-check timeout; any fault stops the worker."""
        return self._reply(time.monotonic() + self.timeout_s, self.timeout_s, header, tensors)

    def _reply(self, deadline: float, timeout: float, header: dict[str, Any] | None = None,
               tensors: dict[str, torch.Tensor] | None = None, answer: bool = True
               ) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """The worker's next frame before `deadline` (`timeout` seconds after the request), having first sent
        `header` and `tensors` where given (only sent, without `answer`); any fault stops the worker."""
        try:
            if header is not None:
                send(self.write_fd, header, tensors, deadline)
            return receive(self.read_fd, MAX_OUTPUT, deadline) if answer else ({}, {})
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
        """A worker that has run the notebook's code: started (again, after a failure) if need be."""
        self.start()
        if self.starting is not None:
            self._await_code()

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
        remove_soon([self.group, self.memory_group, self.cpu_group])  # killing whatever of the worker's is left
        for fd in (self.read_fd, self.write_fd, self.report_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        self.log.close()
        self.pid, self.proc, self.group, self.memory_group, self.cpu_group = None, None, None, None, None
        self.starting = None
        return code

    def __enter__(self) -> "Worker":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""Does a Binder session fit in Binder's 2 GB? A JupyterLab server like Binder's (this environment, instructor tools
hidden by `autograder student-env`) runs an assignment's solution notebook, training included, in one of its kernels,
while the resident memory of the server and all its children (the kernel) is sampled. Prints the peak and final
memory, and each process's own high-water mark summed, against the limit. Torch gets one thread, as on Binder's
single CPU.

    python benchmarks/binder_memory.py [--assignment a3-transformer] [--limit-gb 2]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import psutil
import websocket

from autograder.commands.student_env import write_student_env
from autograder.course import copy_course, load_course
from autograder.notebook import read_notebook
from autograder.student_files import write_support_files

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "binder-memory"


def tree_rss(proc: psutil.Process) -> tuple[int, int]:
    """(server, server + every descendant) resident bytes."""
    own = proc.memory_info().rss
    total = own
    for child in proc.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return own, total


def high_water(proc: psutil.Process) -> int:
    """The most resident memory each process of the tree ever had (Linux's VmHWM), summed: a bound on the peak
    that no sampling interval can miss."""
    total = 0
    for p in (proc, *proc.children(recursive=True)):
        status = Path(f"/proc/{p.pid}/status").read_text()
        total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) * 1024
    return total


class Sampler(threading.Thread):
    """Samples the tree's memory every `period` seconds and keeps the peak."""

    def __init__(self, proc: psutil.Process, period: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.proc, self.period, self.peak, self.stopped = proc, period, 0, threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            self.peak = max(self.peak, tree_rss(self.proc)[1])
            time.sleep(self.period)


def start_lab(folder: Path, config: Path, home: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    env.update(JUPYTER_CONFIG_PATH=str(config), JUPYTER_CONFIG_DIR=str(home / "config"),
               JUPYTER_DATA_DIR=str(home / "data"), JUPYTER_RUNTIME_DIR=str(home / "runtime"), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "jupyter-lab"), "--no-browser", "--ip=127.0.0.1",
                             f"--port={port}", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={folder}",
                             "--allow-root"], cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=5):
                return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("jupyter lab did not start in 120 s")


def run_cells(url: str, notebook: str, sources: list[str]) -> None:
    """Opens the notebook as Lab does (a session with a new kernel) and runs each cell over the kernel's websocket,
    as Lab's Run All would; stops at an error."""
    body = json.dumps({"path": notebook, "type": "notebook", "name": notebook, "kernel": {"name": "python3"}})
    request = urllib.request.Request(f"{url}/api/sessions?token={TOKEN}", data=body.encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        kernel = json.load(response)["kernel"]["id"]
    ws = websocket.create_connection(f"ws://{url[7:]}/api/kernels/{kernel}/channels?token={TOKEN}", timeout=3600)
    session = uuid.uuid4().hex
    for i, code in enumerate(sources):
        msg_id = uuid.uuid4().hex
        ws.send(json.dumps({"header": {"msg_id": msg_id, "msg_type": "execute_request", "session": session,
                                       "username": "student", "version": "5.3"},
                            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                            "content": {"code": code, "silent": False, "store_history": True,
                                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}))
        t0 = time.perf_counter()
        while True:
            msg = json.loads(ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "error":
                raise SystemExit(f"cell {i} failed: {msg['content']['ename']}: {msg['content']['evalue']}")
            if msg["msg_type"] == "execute_reply":
                break
        if time.perf_counter() - t0 > 5:
            print(f"  cell {i}: {time.perf_counter() - t0:.0f} s")
    ws.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", default="a3-transformer")
    parser.add_argument("--limit-gb", type=float, default=2.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        course = load_course(copy_course(ROOT, tmp_path / "course"))
        assignment = course.assignment(args.assignment)
        folder = tmp_path / "lab"
        write_support_files(folder, assignment, course)  # the solution notebook's coursekit, fixtures and data
        notebook = course.root / assignment.notebooks[0]
        shutil.copy(notebook, folder / notebook.name)
        sources = [c.source for c in read_notebook(notebook).cells if c.cell_type == "code"]
        write_student_env(tmp_path / "config")
        proc, url = start_lab(folder, tmp_path / "config", tmp_path / "home")
        server = psutil.Process(proc.pid)
        try:
            idle = tree_rss(server)[1]
            sampler = Sampler(server)
            sampler.start()
            t0 = time.perf_counter()
            run_cells(url, notebook.name, sources)
            seconds = time.perf_counter() - t0
            sampler.stopped.set()
            sampler.join()
            own, final = tree_rss(server)
            bound = high_water(server)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    gb = 1 << 30
    print(f"{args.assignment}: the {len(sources)} code cells of {notebook.name} (solution) in {seconds:.0f} s")
    print(f"server alone at start: {idle / gb:.2f} GB; server + kernel: peak {sampler.peak / gb:.2f} GB, "
          f"final {final / gb:.2f} GB (server {own / gb:.2f} GB); each process's own peak, summed: {bound / gb:.2f} GB;"
          f" against Binder's {args.limit_gb:g} GB")
    print("fits" if bound < args.limit_gb * gb else "DOES NOT FIT")


if __name__ == "__main__":
    main()

"""Limits a worker puts on a student's code: each one holds, says which limit it was, and costs only the
part that hit it; the grader's environment does not reach the student's code."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from autograder.course import Limits
from autograder.sandbox.cgroups import settle
from autograder.workers.client import ForkServer, Worker, WorkerFailure

LIMITS = Limits(check_timeout_s=10, memory_mb=512, file_size_mb=8).for_worker()


@pytest.fixture(scope="module")
def server():
    with ForkServer() as s:
        yield s


def worker(server: ForkServer, tmp_path: Path, cells: list[str]) -> Worker:
    w = Worker(["import os, torch"] + cells + ["ok = 'still running'"], 10, str(tmp_path), server=server, limits=LIMITS)
    w.ensure()
    return w


def test_memory_bomb_in_a_cell_names_the_limit_and_the_rest_runs(server: ForkServer, tmp_path: Path) -> None:
    with worker(server, tmp_path, ["big = torch.empty(8 * 2**30, dtype=torch.uint8)"]) as w:
        assert any("ran out of memory: the limit is 512 MB" in e["error"] for e in w.cell_errors), w.cell_errors
        assert w.get("ok") == ("still running", None)


def test_memory_bomb_inside_a_graded_function(server: ForkServer, tmp_path: Path) -> None:
    cells = ["def part(x):\n    waste = torch.ones(4 * 2**30, dtype=torch.uint8)\n    return x", "def other(x):\n    return x * 2"]
    with worker(server, tmp_path, cells) as w:
        result = w.call("part", "function", {"x": torch.ones(3)}, {"args": ["x"]})
        assert result.outputs is None and "ran out of memory" in result.error
        again = w.call("other", "function", {"x": torch.ones(3)}, {"args": ["x"]})
        assert torch.equal(again.outputs[0], torch.full((3,), 2.0)), "the worker survives for the other parts"


def test_file_and_output_floods_are_cut_off(server: ForkServer, tmp_path: Path) -> None:
    cells = ["open('fill.bin', 'wb').write(b'x' * (64 << 20))", "print('y' * (32 << 20))"]
    with worker(server, tmp_path, cells) as w:
        errors = [e["error"] for e in w.cell_errors]
        assert len(errors) == 2 and all("larger than the limit of 8 MB" in e for e in errors), errors
        assert w.get("ok") == ("still running", None)
    fill = tmp_path / "fill.bin"
    assert not fill.exists() or fill.stat().st_size <= 8 << 20


def test_many_files_fill_only_the_private_disk_cap(server: ForkServer, tmp_path: Path) -> None:
    """Each file under the size limit, together far over the disk cap: writing stops at the cap, the feedback
    names it, nothing reaches the grader's disk, and the support files are still readable."""
    (tmp_path / "fixtures").mkdir()
    (tmp_path / "fixtures" / "note.txt").write_text("visible")
    limits = {**LIMITS, "disk_mb": 32}
    cells = ["written = 0\nfor i in range(100):\n    with open(f'part{i}.bin', 'wb') as f:\n        f.write(b'x' * (4 << 20))\n"
             "    written += 4", "note = open('fixtures/note.txt').read()"]
    cells.insert(0, "import tempfile\nwith tempfile.TemporaryFile() as t:\n    t.write(b'ok')\ntemp_ok = True")
    before = sorted([p.name for p in tmp_path.rglob("*")] + [".tmp"])  # the worker's temp folder, made before the cap
    with Worker(["import os"] + cells, 10, str(tmp_path), server=server, limits=limits) as w:
        w.ensure()
        if not w.disk_capped:
            pytest.skip("this machine does not allow a private mount namespace")
        assert any("more than the limit of 32 MB of files in all" in e["error"] for e in w.cell_errors), w.cell_errors
        assert 16 <= w.get("written")[0] <= 32
        assert w.get("note") == ("visible", None)
        assert w.get("temp_ok") == (True, None), "the temp folder is there inside the cap too"
    assert sorted(p.name for p in tmp_path.rglob("*")) == before, "nothing the code wrote is on the grader's disk"


def test_the_graders_environment_does_not_reach_student_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADER_TOKEN", "s3cret")
    with ForkServer() as server:  # started with the token in its environment
        assert os.environ["GRADER_TOKEN"] == "s3cret"
        with worker(server, tmp_path, ["seen = ' '.join(sorted(os.environ))", "token = os.environ.get('GRADER_TOKEN', '')",
                                       "started = open('/proc/self/environ', 'rb').read().decode(errors='replace')"]) as w:
            assert w.get("token") == ("", None)
            assert "GRADER_TOKEN" not in w.get("seen")[0].split()
            # what the process was started with: the fork server must not have been given the grader's environment
            assert w.get("started")[1] is None and "s3cret" not in w.get("started")[0]
    fresh = Worker(["import os", "token = os.environ.get('GRADER_TOKEN', '')",
                    "started = open('/proc/self/environ', 'rb').read().decode(errors='replace')"], 10, str(tmp_path),
                   limits=LIMITS)
    with fresh:
        assert fresh.get("token") == ("", None), "a fresh (not forked) worker scrubs too"
        assert "s3cret" not in fresh.get("started")[0]


@pytest.mark.skipif(not __import__("autograder.sandbox.cgroups", fromlist=["x"]).available(), reason="no writable pids control group")
@pytest.mark.parametrize("bomb", [
    "import os, time\nmade = 0\nfor _ in range(300):\n    try:\n        if os.fork() == 0:\n            time.sleep(60); os._exit(0)\n        made += 1\n    except OSError:\n        break",
    "import threading, time\nmade = 0\nfor _ in range(300):\n    try:\n        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n        made += 1\n    except RuntimeError:\n        break",
], ids=["fork bomb", "thread bomb"])
def test_fork_and_thread_bombs_are_capped(server: ForkServer, tmp_path: Path, bomb: str) -> None:
    limits = {**LIMITS, "processes": 32}
    with Worker([bomb], 10, str(tmp_path), server=server, limits=limits) as w:
        w.ensure()
        made = w.get("made")[0]
        assert 0 < made < 32, made
        group = w.group
        assert group is not None and int((group / "pids.current").read_text()) <= 32
    settle()  # removed on a thread of its own once the worker is gone
    assert not group.exists(), "the control group is removed with the worker"


@pytest.mark.skipif(not __import__("autograder.sandbox.cgroups", fromlist=["x"]).available(), reason="no writable pids control group")
def test_a_group_an_earlier_worker_with_the_same_pid_left_is_never_joined(tmp_path: Path) -> None:
    """A worker's groups are removed on a thread while the next worker is forked, and pids wrap (a student can make
    them wrap): a worker that gets the pid of one whose groups are still there gets groups of its own, capped."""
    import signal
    import subprocess
    import sys

    from autograder.sandbox.cgroups import ROOT, remove, worker_pid
    from autograder.workers.client import confine

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    stale = [ROOT / controller / f"autograder-worker-{sleeper.pid}" for controller in ("pids", "memory", "cpu")]
    read, write = os.pipe()
    groups: tuple = ()
    try:
        for group in stale:  # what the groups of an earlier worker with this pid were named, left in place
            if group.parent.is_dir():
                group.mkdir()
        groups = confine(sleeper.pid, write, 32, 256 << 20)
        assert groups[0] is not None and all(g is None or g not in stale for g in groups)
        assert all(g is None or worker_pid(g) == sleeper.pid for g in groups)
        assert (groups[0] / "pids.max").read_text().strip() == "32"
        assert str(sleeper.pid) in (groups[0] / "cgroup.procs").read_text().split()
    finally:
        sleeper.send_signal(signal.SIGKILL)
        sleeper.wait()
        os.close(read), os.close(write)
        for group in [*stale, *(g for g in groups if g is not None)]:
            remove(group)


@pytest.mark.skipif(not __import__("autograder.sandbox.cgroups", fromlist=["x"]).available("memory"),
                    reason="no writable memory control group")
def test_memory_in_memfds_counts_against_the_limit(server: ForkServer, tmp_path: Path) -> None:
    """memfd pages are not address space (RLIMIT_AS misses them); the worker's memory group counts them."""
    hog = ("fds = []\nfor _ in range(250):\n    fd = os.memfd_create('hog')\n    os.write(fd, b'x' * (8 << 20))\n"
           "    fds.append(fd)")  # 2 GB in files of 8 MB, the file-size limit
    w = Worker(["import os", hog, "ok = 'still running'"], 30, str(tmp_path), server=server, limits=LIMITS)
    with pytest.raises(WorkerFailure, match="ran out of memory: the limit is 512 MB"):
        w.ensure()
    assert w.memory_group is None and w.pid is None, "the worker and its groups are gone"
    assert w.troubles == {"limit hit"}, "the class report counts it"


def test_support_files_too_large_to_send_to_a_worker_are_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every worker is sent the support files in its first request: a course whose data files would not fit is
    told so before any grading, with the largest files named."""
    import autograder.student_files as student_files
    from autograder.course import CourseError, load_course

    course = load_course(Path(__file__).resolve().parents[1] / "course.yml")
    monkeypatch.setattr(student_files, "MAX_SUPPORT_BYTES", 1000)
    with pytest.raises(CourseError, match=r"a4-bert: its support files .* the largest: data/bert-pydoc.safetensors"):
        student_files.support_files(course.assignment("a4-bert"), course)

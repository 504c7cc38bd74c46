"""200 submissions at once, honest, buggy, malformed and hostile: every one gets the score its kind earns,
the grader's memory stays bounded, and nothing is left running afterwards, here and on a Dask cluster (where
the graders are the Dask workers' processes, started before the batch and still running after it)."""
from __future__ import annotations

import csv
import dataclasses
import socket
import tempfile
import time
from pathlib import Path

import nbformat
import psutil
import pytest

from autograder.course import Limits, copy_course, load_course
from autograder.sandbox.stranger import BASE_UID
from autograder.commands.release import release
from autograder.workers.scratch import NAME as SCRATCH

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENT = "a2-attention"
SDPA_DEF = "def scaled_dot_product_attention(q, k, v, mask=None):"


def sysv_objects() -> str:
    return "".join(Path(f"/proc/sysvipc/{t}").read_text() for t in ("shm", "msg", "sem"))


def mountinfo(pid: int) -> str:
    return Path(f"/proc/{pid}/mountinfo").read_text()


def edited(source: Path, old: str, new: str) -> bytes:
    nb = nbformat.read(str(source), as_version=4)
    hits = [c for c in nb.cells if old in c.source]
    assert len(hits) == 1, old
    hits[0].source = hits[0].source.replace(old, new)
    return nbformat.writes(nb).encode()


def kinds(course_root: Path) -> dict[str, tuple[bytes | None, str, float | None]]:
    """kind -> (file content or None for no file, expected status, expected score or None: checked per part)."""
    src = course_root / "assignments" / ASSIGNMENT / "attention.ipynb"
    setup = "torch.manual_seed(0)"
    return {
        "honest": (src.read_bytes(), "graded", 30.0),
        "no scaling": (edited(src, "/ math.sqrt(q.size(-1))", ""), "graded", None),
        "heads split wrong": (edited(src, "return t.view(t.size(0), t.size(1), self.n_heads, self.d_head).transpose(1, 2)",
                                     "return t.reshape(t.size(0), self.n_heads, t.size(1), self.d_head)"), "graded", None),
        "untouched release": ((course_root / "release" / ASSIGNMENT / "attention.ipynb").read_bytes(), "graded", 0.0),
        "invalid json": (b'{"cells": [', "unreadable", 0.0),
        "empty": (b"", "unreadable", 0.0),
        "missing": (None, "missing", 0.0),
        "patched allclose": (edited(src, setup, setup + "\ntorch.allclose = lambda *a, **k: True"), "graded", 30.0),
        "memory bomb": (edited(src, setup, setup + "\ntry:\n    hog = torch.ones(2**36, dtype=torch.uint8)\nexcept Exception:\n    pass"),
                        "graded", 30.0),
        "fork bomb": (edited(src, setup, setup + "\nimport os, time\nfor _ in range(200):\n    try:\n        if os.fork() == 0:\n"
                                               "            time.sleep(120); os._exit(0)\n    except OSError:\n        break"),
                      "graded", 18.0),  # the parts graded with stand-ins need a process of their own: none left
        "hangs": (edited(src, setup, setup + "\nimport time\ntime.sleep(3600)"), "graded", 0.0),
    }


@pytest.mark.slow
def test_two_hundred_mixed_submissions(tmp_path: Path, grading, grade_batch) -> None:
    copy_course(ROOT, tmp_path)
    course = load_course(tmp_path / "course.yml")
    # 2 s a check (8 s for the notebook's own code): short for the hanging kind, and room for the fork bomb's 60
    # forks of a warm process on a loaded machine (1 s timed it out under a load average of 9)
    assignment = dataclasses.replace(course.assignment(ASSIGNMENT), limits=Limits(check_timeout_s=2.0, memory_mb=1024))
    release(course, assignment)
    table = kinds(tmp_path)
    names = list(table)
    weights = {"hangs": 2, "fork bomb": 4, "memory bomb": 6}  # the slow kinds are rarer
    students: dict[str, str] = {}
    i = 0
    while len(students) < 200:
        kind = names[i % len(names)]
        i += 1
        if kind in weights and sum(k == kind for k in students.values()) >= weights[kind]:
            continue
        student = f"s{len(students):03d}"
        students[student] = kind
        folder = tmp_path / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        content = table[kind][0]
        if content is not None:
            (folder / "attention.ipynb").write_bytes(content)

    graders = grading.grader_processes()  # this process; on Dask also each worker's nanny and worker process
    before_procs = grading.processes()
    host, ipc, mounts = socket.gethostname(), sysv_objects(), {p.pid: mountinfo(p.pid) for p in graders}
    temp = {p.name for p in Path(tempfile.gettempdir()).iterdir()}
    rss_before = {p.pid: p.memory_info().rss for p in graders}
    t0 = time.perf_counter()
    results = grade_batch(course, assignment, tmp_path / "submitted", jobs=2, progress=False)
    elapsed = time.perf_counter() - t0
    rss_growth = max((p.memory_info().rss - rss_before[p.pid]) >> 20 for p in graders)
    print(f"\n[batch] {grading.where}: 200 mixed submissions in {elapsed:.0f} s, grader memory grew {rss_growth} MB")

    assert len(results) == 200
    rows = {r["student"]: r for r in csv.DictReader((tmp_path / "grades.csv").open())}
    for result in results:
        kind = students[result.student]
        _, status, score = table[kind]
        assert result.status == status, (kind, result.status, result.notes)
        parts = {p.grade_id: p.score for p in result.parts}
        if score is not None:
            assert result.score == score, (kind, result.score, parts, result.notes[:3])
            if kind == "fork bomb":
                lost = [m for p in result.parts if p.score == 0 for m in p.messages]
                assert lost and all("limit of" in m and "processes" in m for m in lost), lost
        else:  # a typical bug: that part loses points, the others keep theirs
            buggy = "scaled-dot-product-attention" if kind == "no scaling" else "multi-head-attention"
            assert parts[buggy] < {"scaled-dot-product-attention": 8, "multi-head-attention": 8}[buggy]
            assert parts["causal-mask"] == 3 and parts["padding-mask"] == 3
        assert rows[result.student]["status"] == status
    assert rss_growth < 600, f"grader memory grew by {rss_growth} MB"
    left = grading.leftovers(before_procs)
    assert not left, left
    assert not list(Path("/sys/fs/cgroup").glob("*/autograder-worker-*"))
    workers = [p for p in psutil.process_iter(["uids"]) if p.info["uids"] and p.info["uids"].real >= BASE_UID]
    assert not [p for p in psutil.wait_procs(workers, timeout=30)[1] if p.status() != psutil.STATUS_ZOMBIE]
    assert socket.gethostname() == host and sysv_objects() == ipc
    assert {p.pid: mountinfo(p.pid) for p in graders} == mounts, "a worker's mount reached the grader"
    ours = {str(p.pid) for p in graders}
    made = {n for n in {p.name for p in Path(tempfile.gettempdir()).iterdir()} - temp
            if (match := SCRATCH.match(n)) and match[1] in ours}
    assert not made, f"a scratch folder was left behind: {made}"

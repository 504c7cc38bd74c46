"""Grading on a real Dask cluster (a `dask scheduler` and `dask worker` processes on loopback): the same grades,
feedback and gradebook as grading here; a worker killed in the middle costs nobody a grade and leaves nothing
behind; a worker with other code, a cluster without GPUs, or a bad address are refused with a clear reason."""
from __future__ import annotations

import csv
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import psutil
import pytest

from autograder.course import copy_course, load_course
from autograder.grading.batch import grade_batch
from autograder.grading.seeds import SECRET_FILE, course_secret
from autograder.records.gradebook import open_gradebook
from autograder.sandbox.cgroups import worker_pid
from autograder.sandbox.landlock import abi_version
from autograder.workers.scratch import NAME as SCRATCH_NAME
from dask_cluster import dask_cluster as start_cluster
from dask_cluster import workers_may_grade

pytestmark = [pytest.mark.dask, pytest.mark.skipif(not workers_may_grade(), reason="a Dask worker here would "
                                                    "refuse to grade: no file or network isolation for student code")]

ROOT = Path(__file__).resolve().parents[1]
AID = "a2-attention"
NOTEBOOK = "attention.ipynb"
AUTOGRADER = str(Path(sys.executable).with_name("autograder"))
HONEST = 30.0  # a2's autograded points; the other 2 are graded by hand
BATCH_GUARD_S = 900  # a hang guard for a loaded machine, not a speed bound
NO_SCALING = ("/ math.sqrt(q.size(-1))", "")
SETUP = "torch.manual_seed(0)"
PATCHED_ALLCLOSE = (SETUP, SETUP + "\ntorch.allclose = lambda *a, **k: True")
FORK_BOMB = (SETUP, SETUP + "\nimport os, time\nfor _ in range(200):\n    try:\n        if os.fork() == 0:\n"
                            "            time.sleep(120); os._exit(0)\n    except OSError:\n        break")


def notebook(edits: list[tuple[str, str]] = (), first_cell: str = "") -> bytes:
    """The source notebook with each (old, new) edit made in the one cell holding old, and `first_cell` put at the
    start of its first code cell."""
    nb = nbformat.read(str(ROOT / "assignments" / AID / NOTEBOOK), as_version=4)
    for old, new in edits:
        hits = [c for c in nb.cells if old in c.source]
        assert len(hits) == 1, f"edit target not found exactly once: {old!r}"
        hits[0].source = hits[0].source.replace(old, new)
    if first_cell:
        cell = next(c for c in nb.cells if c.cell_type == "code")
        cell.source = first_cell + "\n" + cell.source
    return nbformat.writes(nb).encode()


def hand_in(course_root: Path, student: str, files: dict[str, bytes]) -> None:
    """submitted/<student>/a2-attention/ holding `files` (name -> content); an empty dict hands in the folder only."""
    folder = course_root / "submitted" / student / AID
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)


def scratch_course(root: Path, device: str | None = None) -> Path:
    """A copy of the course in `root` (course.yml's device changed where asked); returns root."""
    copy_course(ROOT, root)
    if device is not None:
        yml = root / "course.yml"
        text = yml.read_text()
        assert "device: auto" in text
        yml.write_text(text.replace("device: auto", f"device: {device}"))
    return root


def autograder(course_root: Path, *args: str) -> subprocess.CompletedProcess:
    """The `autograder` command, run as an instructor runs it, on the course at course_root."""
    if args[0] == "grade" and abi_version() == 0:
        args = (*args, "--unsafe")
    return subprocess.run([AUTOGRADER, "--course", str(course_root / "course.yml"), *args], cwd=course_root,
                          capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under `folder`, by relative path."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def gradebook_contents(course_root: Path) -> dict[str, tuple[float, dict[str, float | None], float | None]]:
    """student -> (total, auto score per grade cell, late penalty) of a2 as nbgrader's gradebook holds them."""
    course = load_course(course_root / "course.yml")
    out = {}
    with open_gradebook(course) as gb:
        for sub in gb.find_assignment(AID).submissions:
            (nb,) = sub.notebooks
            out[sub.student.id] = (sub.score, {g.name: g.auto_score for g in nb.grades}, nb.late_submission_penalty)
    return out


def rows_of(course_root: Path) -> dict[str, dict[str, str]]:
    """grades.csv's rows by student."""
    with (course_root / "grades.csv").open(newline="") as f:
        return {row["student"]: row for row in csv.DictReader(f)}


# --- 1. the same grades both ways ---------------------------------------------------------------------------------

MIXED = {  # student -> (files handed in, status, score)
    "ada-honest": ({NOTEBOOK: notebook()}, "graded", HONEST),
    "ben-noscale": ({NOTEBOOK: notebook([NO_SCALING])}, "graded", None),  # checked per part
    "cat-json": ({NOTEBOOK: b'{"cells": ['}, "unreadable", 0.0),
    "dan-allclose": ({NOTEBOOK: notebook([PATCHED_ALLCLOSE])}, "graded", HONEST),
    "eve-forkbomb": ({NOTEBOOK: notebook([FORK_BOMB])}, "graded", 18.0),
    "fay-renamed": ({"my attention (1).ipynb": notebook()}, "graded", HONEST),
    "gus-missing": ({}, "missing", 0.0),
    "hal-late": ({NOTEBOOK: notebook(), "timestamp.txt": b"2027-02-03 12:00:00.000000 UTC\n"}, "graded", HONEST * 0.8),
}


def test_a_batch_graded_on_dask_matches_one_graded_here_byte_for_byte(tmp_path: Path, dask_cluster) -> None:
    here, there = scratch_course(tmp_path / "here"), scratch_course(tmp_path / "there")
    secret = course_secret(load_course(here / "course.yml"))
    shutil.copy(here / SECRET_FILE, there / SECRET_FILE)
    assert course_secret(load_course(there / "course.yml")) == secret, "both copies draw the same hidden cases"
    for root in (here, there):
        for student, (files, _, _) in MIXED.items():
            hand_in(root, student, files)

    run = autograder(here, "grade", AID, "--jobs", "2")
    assert run.returncode == 0, run.stdout + run.stderr
    run = autograder(there, "grade", AID, "--dask", dask_cluster.address)
    assert run.returncode == 0, run.stdout + run.stderr

    assert (here / "grades.csv").read_bytes() == (there / "grades.csv").read_bytes()
    feedback = tree(here / "feedback")
    assert feedback == tree(there / "feedback")
    assert {name.split("/")[0] for name in feedback} == set(MIXED), "every student has feedback"
    autograded = tree(here / "autograded")
    assert autograded == tree(there / "autograded")
    graded = {student for student, (_, status, _) in MIXED.items() if status == "graded"}
    assert {name.split("/")[0] for name in autograded} == graded
    gradebook = gradebook_contents(here)
    assert gradebook == gradebook_contents(there)
    assert set(gradebook) == set(MIXED)

    # not vacuous: each kind earned what it should, the same in the gradebook and in grades.csv
    rows = rows_of(there)
    for student, (_, status, score) in MIXED.items():
        row = rows[student]
        assert row["status"] == status, (student, row)
        if score is not None:
            assert float(row["score"]) == pytest.approx(score), (student, row)
            total, _, penalty = gradebook[student]  # nbgrader keeps the raw score and the late penalty apart
            assert total - (penalty or 0) == pytest.approx(score), (student, gradebook[student])
    assert float(rows["ben-noscale"]["scaled-dot-product-attention"]) < 8, "the missing scaling costs its part"
    assert rows["ben-noscale"]["causal-mask"] == "3" and rows["ben-noscale"]["padding-mask"] == "3"
    assert rows["hal-late"]["late_multiplier"] == "0.8"
    assert gradebook["hal-late"][0] == HONEST and gradebook["hal-late"][2] == pytest.approx(HONEST * 0.2)
    assert "submitted late" in (there / "feedback" / "hal-late" / AID / "attention.html").read_text()
    renamed = (there / "feedback" / "fay-renamed" / AID / "attention.html").read_text()
    assert "was submitted as my attention (1).ipynb" in renamed
    forkbomb = (there / "feedback" / "eve-forkbomb" / AID / "attention.html").read_text()
    assert "limit of" in forkbomb and "processes" in forkbomb


# --- 2. a worker killed in the middle ------------------------------------------------------------------------------

class Watcher(threading.Thread):
    """Notes every process below the cluster's own (nannies, workers, fork servers, graders) while it runs, so
    that what the cluster started can be told from what other programs on this machine start."""

    def __init__(self, roots: list[int]) -> None:
        super().__init__(daemon=True)
        self.roots, self.seen, self.done = roots, set(), threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.1):
            for root in self.roots:
                try:
                    below = psutil.Process(root).children(recursive=True)
                except psutil.NoSuchProcess:
                    continue
                for p in below:
                    try:
                        self.seen.add((p.pid, p.create_time()))
                    except psutil.NoSuchProcess:
                        pass

    def stop(self) -> set[int]:
        self.done.set()
        self.join()
        return {pid for pid, _ in self.seen}


def grading_in(pid: int) -> bool:
    """Whether the Dask worker process `pid` is grading: its fork server has forked a child for a submission."""
    try:
        below = psutil.Process(pid).children(recursive=True)
        return sum(p.name() != "bwrap" and "autograder.workers.forkserver" in " ".join(p.cmdline()) for p in below) >= 2
    except psutil.NoSuchProcess:
        return False


def kill_a_grading_worker(address: str, kill: Callable[[int], None] = lambda pid: os.kill(pid, signal.SIGKILL)
                          ) -> tuple[int, list[Path], list[Path]]:
    """SIGKILL, as the OOM killer would, a Dask worker process (not its nanny) in the middle of a submission (or
    call `kill` with its pid then); return its pid, and the scratch folders and control groups it and its graders
    had at that moment."""
    from distributed import Client

    deadline = time.monotonic() + BATCH_GUARD_S
    with Client(address, timeout="60s") as client:
        while time.monotonic() < deadline:
            for worker, keys in client.processing().items():
                if not keys:
                    continue
                pid = client.run(os.getpid, workers=[worker])[worker]
                if grading_in(pid):
                    below = {p.pid for p in psutil.Process(pid).children(recursive=True)}
                    folders = list(Path(tempfile.gettempdir()).glob(f"autograder-*-{pid}-*"))
                    groups = [g for g in Path("/sys/fs/cgroup").glob("*/autograder-worker-*")
                              if worker_pid(g) in below]
                    kill(pid)
                    return pid, folders, groups
            time.sleep(0.2)
    raise AssertionError("no worker started grading")


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_worker_killed_in_the_middle_costs_no_grade_and_leaves_nothing_behind(tmp_path: Path) -> None:
    root = scratch_course(tmp_path / "course")
    course = load_course(root / "course.yml")
    slow = notebook(first_cell="import time; time.sleep(2)")
    students = [f"s{i}" for i in range(8)]
    for student in students:
        hand_in(root, student, {NOTEBOOK: slow})
    temp = Path(tempfile.gettempdir())
    before_folders = {p.name for p in temp.glob("autograder-*")}

    with start_cluster(tmp_path / "cluster", workers=2) as cluster:
        watcher = Watcher([cluster.scheduler.pid] + [w.pid for w in cluster.workers])
        watcher.start()
        with ThreadPoolExecutor(1) as pool:
            batch = pool.submit(grade_batch, course, course.assignment(AID), root / "submitted", progress=False,
                                dask=cluster.address)
            killed, its_folders, its_groups = kill_a_grading_worker(cluster.address)
            results = batch.result(timeout=BATCH_GUARD_S)
        assert not alive(killed)
        cluster.wait_for_workers(2)  # the nanny started the worker process again
    ours = watcher.stop() | {killed}

    assert sorted(r.student for r in results) == students, "one result per submission"
    for result in results:
        assert (result.status, result.score) == ("graded", HONEST), (result.student, result.status, result.notes)
    rows = rows_of(root)
    assert sorted(rows) == students and all(row["score"] == "30" for row in rows.values())
    with open_gradebook(course) as gb:
        subs = gb.find_assignment(AID).submissions
        assert sorted(s.student.id for s in subs) == students and all(s.score == HONEST for s in subs)

    print(f"\n[dask] killed worker {killed} while grading; it had {[f.name for f in its_folders]} and "
          f"{[str(g) for g in its_groups]}; {len(ours)} processes of the cluster seen")
    assert any(f.name.startswith(f"autograder-bundle-{killed}-") for f in its_folders), "killed after unpacking"
    assert not [f for f in its_folders if f.exists()], "the killed worker's scratch folders were swept"
    assert not [g for g in its_groups if g.exists()], "the killed worker's graders' control groups were swept"
    left = [pid for pid in ours if alive(pid)]  # fork servers (autograder.workers.*) and graders among them
    left = [p.pid for p in psutil.wait_procs([psutil.Process(pid) for pid in left if alive(pid)], timeout=30)[1]
            if alive(p.pid)]  # a grace for the kernel to finish the kills, not a speed bound
    assert not left, [psutil.Process(pid).cmdline() for pid in left if alive(pid)]
    new_folders = [name for name in {p.name for p in temp.glob("autograder-*")} - before_folders
                   if (m := SCRATCH_NAME.match(name)) and int(m[1]) in ours]
    assert not new_folders, f"scratch folders of the cluster's workers were left: {new_folders}"
    groups = [g for g in Path("/sys/fs/cgroup").glob("*/autograder-worker-*")
              if worker_pid(g) in ours and not alive(worker_pid(g))]
    assert not groups, f"control groups of dead graders were left: {groups}"


def test_a_submission_whose_every_worker_dies_needs_regrade_and_the_batch_goes_on(tmp_path: Path) -> None:
    """With Dask's allowed-failures at 0, the first death of a task's worker is its last try: that submission is
    reported as needing a regrade, with the reason, nothing is recorded for it, and the others are graded."""
    root = scratch_course(tmp_path / "course")
    course = load_course(root / "course.yml")
    students = [f"s{i}" for i in range(4)]
    for student in students:
        hand_in(root, student, {NOTEBOOK: notebook(first_cell="import time; time.sleep(2)")})
    with start_cluster(tmp_path / "cluster", workers=2,
                       scheduler_env={"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}) as cluster:
        with ThreadPoolExecutor(1) as pool:
            batch = pool.submit(grade_batch, course, course.assignment(AID), root / "submitted", progress=False,
                                dask=cluster.address)
            kill_a_grading_worker(cluster.address)
            results = {r.student: r for r in batch.result(timeout=BATCH_GUARD_S)}
    lost = [s for s, r in results.items() if r.needs_regrade]
    # the killed worker's tasks: the one it was grading, and any the scheduler had already given it
    assert sorted(results) == students and 1 <= len(lost) < len(students), {s: r.notes for s, r in results.items()}
    assert all("each Dask worker that graded it died" in results[s].notes[0] for s in lost), results
    assert all(r.score == HONEST for s, r in results.items() if s not in lost)
    assert all(rows_of(root)[s]["score"] == "needs regrade" for s in lost)
    with open_gradebook(course) as gb:
        assert sorted(s.student.id for s in gb.find_assignment(AID).submissions) == sorted(set(students) - set(lost))


def test_a_scheduler_lost_mid_batch_leaves_every_submission_graded_or_needing_regrade(tmp_path: Path) -> None:
    root = scratch_course(tmp_path / "course")
    course = load_course(root / "course.yml")
    students = [f"s{i}" for i in range(6)]
    for student in students:
        hand_in(root, student, {NOTEBOOK: notebook(first_cell="import time; time.sleep(2)")})
    with start_cluster(tmp_path / "cluster", workers=2) as cluster, ThreadPoolExecutor(1) as pool:
        batch = pool.submit(grade_batch, course, course.assignment(AID), root / "submitted", progress=False,
                            dask=cluster.address)
        kill_a_grading_worker(cluster.address, kill=lambda pid: os.killpg(cluster.scheduler.pid, signal.SIGKILL))
        results = {r.student: r for r in batch.result(timeout=BATCH_GUARD_S)}
    assert sorted(results) == students, "one result per submission, even for those never sent"
    lost = [s for s, r in results.items() if r.needs_regrade]
    assert lost, "the scheduler died while a submission was being graded"
    assert all(results[s].score == HONEST for s in set(students) - set(lost)), results
    assert all("grading failed" in results[s].notes[0] for s in lost), {s: results[s].notes for s in lost}
    rows = rows_of(root)
    assert sorted(rows) == students and all(rows[s]["score"] == "needs regrade" for s in lost)


# --- 3. clear errors ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def one_submission(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A course copy with one honest submission, for the refusals (which grade nothing)."""
    root = scratch_course(tmp_path_factory.mktemp("refusals"))
    hand_in(root, "ada", {NOTEBOOK: notebook()})
    return root


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("args,words", [
    (("--dask", "local:0"), "write local:N"),
    (("--dask", "local"), "write local:N"),
    (("--jobs", "2", "--dask", "local:2"), "give one of them"),
])
def test_a_bad_dask_option_exits_2_naming_the_problem(one_submission: Path, args: tuple[str, ...], words: str) -> None:
    run = autograder(one_submission, "grade", AID, *args)
    assert run.returncode == 2, run.stdout + run.stderr
    assert words in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert not (one_submission / "grades.csv").exists()


def test_an_unreachable_scheduler_exits_2(one_submission: Path) -> None:
    address = f"tcp://127.0.0.1:{closed_port()}"
    t0 = time.monotonic()
    run = autograder(one_submission, "grade", AID, "--dask", address)
    print(f"\n[dask] refusing an unreachable scheduler took {time.monotonic() - t0:.0f} s")
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"cannot reach the Dask scheduler at {address}" in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert not (one_submission / "grades.csv").exists()


# --- 4. a worker with another kit -----------------------------------------------------------------------------------

def test_a_worker_with_another_kit_refuses_and_nothing_is_recorded(tmp_path: Path, dask_cluster,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from nbgrader.api import MissingEntry

    import autograder.cluster.bundle as bundle

    root = scratch_course(tmp_path)
    hand_in(root, "ada", {NOTEBOOK: notebook()})
    course = load_course(root / "course.yml")
    monkeypatch.setattr(bundle, "kit_fingerprint", lambda: "0" * 64)  # this client's kit is another commit's
    (result,) = grade_batch(course, course.assignment(AID), root / "submitted", progress=False,
                            dask=dask_cluster.address)
    assert result.status == "error" and result.needs_regrade, (result.status, result.notes)
    assert "another version of the kit" in result.notes[0], result.notes
    row = rows_of(root)["ada"]
    assert (row["score"], row["status"]) == ("needs regrade", "error")
    with open_gradebook(course) as gb, pytest.raises(MissingEntry):
        gb.find_submission(AID, "ada")
    assert not (root / "feedback").exists() and not (root / "autograded").exists()


# --- 5. GPUs ---------------------------------------------------------------------------------------------------------

def test_device_cuda_on_a_cluster_without_gpus_is_refused(tmp_path: Path, dask_cluster) -> None:
    root = scratch_course(tmp_path, device="cuda")
    hand_in(root, "ada", {NOTEBOOK: notebook()})
    course = load_course(root / "course.yml")
    with pytest.raises(RuntimeError, match="--resources GPU=1"):
        grade_batch(course, course.assignment(AID), root / "submitted", progress=False, dask=dask_cluster.address)
    assert not (root / "grades.csv").exists()


@pytest.mark.gpu
def test_device_cuda_grades_on_a_gpu_worker(tmp_path: Path) -> None:
    root = scratch_course(tmp_path / "course", device="cuda")
    hand_in(root, "ada", {NOTEBOOK: notebook()})
    course = load_course(root / "course.yml")
    with start_cluster(tmp_path / "cluster", workers=0) as cluster:
        cluster.start_worker("gpu0", "--resources", "GPU=1")
        cluster.wait_for_workers(1)
        (result,) = grade_batch(course, course.assignment(AID), root / "submitted", progress=False,
                                dask=cluster.address)
    assert (result.status, result.score) == ("graded", HONEST), result.notes


# --- a local cluster -----------------------------------------------------------------------------------------------

def test_a_local_cluster_grades(tmp_path: Path) -> None:
    root = scratch_course(tmp_path)
    hand_in(root, "ada", {NOTEBOOK: notebook()})
    hand_in(root, "ben", {NOTEBOOK: notebook([NO_SCALING])})
    course = load_course(root / "course.yml")
    results = grade_batch(course, course.assignment(AID), root / "submitted", progress=False, dask="local:2")
    ada, ben = results
    assert (ada.student, ada.status, ada.score) == ("ada", "graded", HONEST), ada.notes
    parts = {p.grade_id: p.score for p in ben.parts}
    assert ben.status == "graded" and parts["scaled-dot-product-attention"] < 8 and parts["causal-mask"] == 3
    assert rows_of(root)["ben"]["score"] == f"{ben.score:g}"

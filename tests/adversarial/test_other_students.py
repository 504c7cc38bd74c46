"""A student who goes after the other students' workers while they are graded: finds their pids (in the control
group files and /proc), takes away their open files with prlimit, lowers their priority, and leaves a detached child
(setsid) to keep doing it to later students and to the next batch. Every honest student keeps full marks, in
this batch and in the next one, and nothing of the attacker's outlives its worker."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import nbformat
import psutil
import pytest

from autograder.commands.doctor import safe_to_grade
from autograder.course import copy_course, load_course
from autograder.sandbox.stranger import BASE_UID

ROOT = Path(__file__).resolve().parents[2]
AID = "a2-attention"

ATTACK = '''import glob, os, resource, threading, time

def harass(seconds):
    me = os.getpid()
    end = time.time() + seconds
    while time.time() < end:
        pids = set()
        for path in glob.glob("/sys/fs/cgroup/*/autograder-worker-*/cgroup.procs"):
            try:
                pids |= {int(p) for p in open(path).read().split()}
            except OSError:
                pass
        try:
            pids |= {int(p) for p in os.listdir("/proc") if p.isdigit()}
        except OSError:
            pass
        for pid in pids - {me, 1}:
            try:
                resource.prlimit(pid, resource.RLIMIT_NOFILE, (0, 0))
            except (OSError, ValueError):
                pass
            try:
                os.setpriority(os.PRIO_PROCESS, pid, 19)
            except OSError:
                pass
        time.sleep(0.01)

if os.fork() == 0:  # a detached helper for the students graded after this one, and the next batch
    os.setsid()
    harass(60)
    os._exit(0)
threading.Thread(target=harass, args=(20,), daemon=True).start()
'''


def make_submission(root: Path, student: str, extra: str = "") -> None:
    nb = nbformat.read(str(root / "assignments" / AID / "attention.ipynb"), as_version=4)
    if extra:
        setup = next(c for c in nb.cells if "torch.manual_seed(0)" in c.source)
        setup.source += "\n" + extra
    folder = root / "submitted" / student / AID
    folder.mkdir(parents=True)
    nbformat.write(nb, str(folder / "attention.ipynb"))


@pytest.mark.skipif(not safe_to_grade()[0], reason="this machine cannot keep students apart")
def test_an_attacker_cannot_touch_other_students_in_this_batch_or_the_next(tmp_path: Path, grading,
                                                                             grade_batch) -> None:
    copy_course(ROOT, tmp_path)
    course = load_course(tmp_path / "course.yml")
    assignment = course.assignment(AID)
    full = assignment.points - 2  # all but the hand-graded answer
    make_submission(tmp_path, "a-mallory", ATTACK)
    for i in range(5):
        make_submission(tmp_path, f"honest-{i}")
    before = grading.processes()  # on Dask: the workers, started before the test, among them

    results = grade_batch(course, assignment, tmp_path / "submitted", jobs=2, progress=False)
    honest = {r.student: (r.score, r.notes) for r in results if r.student.startswith("honest")}
    assert honest == {f"honest-{i}": (full, []) for i in range(5)}, honest

    shutil.rmtree(tmp_path / "submitted")
    make_submission(tmp_path, "honest-next-batch")
    (result,) = grade_batch(course, assignment, tmp_path / "submitted", jobs=2, progress=False)
    assert (result.score, result.notes) == (full, [])
    rows = list(csv.DictReader((tmp_path / "grades.csv").open()))
    assert [(r["student"], r["score"]) for r in rows] == [("honest-next-batch", f"{full:g}")]

    # everything the attacker started is gone (the kernel may take a moment to tear a process down)
    workers = [p for p in psutil.process_iter(["uids"]) if p.info["uids"] and p.info["uids"].real >= BASE_UID]
    _, alive = psutil.wait_procs(workers, timeout=30)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], "a worker's process outlived its worker"
    left = grading.leftovers(before)
    assert not left, left

"""Student code that tries to change the grading machine, or to leave something behind for the next student:
the host's name stays, System V shared memory and message queues die with the worker, the host's devices
cannot be opened, and an honest student graded after the attacker keeps full marks."""
from __future__ import annotations

import socket
from pathlib import Path

import nbformat
import pytest

from autograder.commands.doctor import _can_unshare_network
from autograder.course import copy_course, load_course

ROOT = Path(__file__).resolve().parents[2]
COURSE = load_course(ROOT / "course.yml")
ASSIGNMENT = COURSE.assignment("a2-attention")
KEY = 0x5EC2E7  # the attacker's System V key, for a later accomplice to find

ATTACK = f"""import ctypes, socket
libc = ctypes.CDLL(None, use_errno=True)
try:
    socket.sethostname("pwned-by-a-student")
except OSError:
    pass
shm = libc.shmget({KEY}, 4096, 0o1666)  # IPC_CREAT | 0666: a segment that would outlive the process
queue = libc.msgget({KEY}, 0o1666)
"""


def sysv_keys() -> set[int]:
    keys = set()
    for table in ("shm", "msg"):
        lines = Path(f"/proc/sysvipc/{table}").read_text().splitlines()[1:]
        keys |= {int(line.split()[0]) for line in lines if line.strip()}
    return keys


def submission(tmp_path: Path, student: str, extra: str) -> Path:
    nb = nbformat.read(str(ROOT / ASSIGNMENT.notebooks[0]), as_version=4)
    setup = next(c for c in nb.cells if "torch.manual_seed(0)" in c.source)
    setup.source += "\n" + extra
    path = tmp_path / student / ASSIGNMENT.notebooks[0].name
    path.parent.mkdir(parents=True)
    nbformat.write(nb, str(path))
    return path


@pytest.mark.skipif(not _can_unshare_network(), reason="this machine allows no namespaces per worker")
def test_the_host_keeps_its_name_and_no_ipc_object_outlives_the_worker(tmp_path: Path, grade) -> None:
    hostname, keys = socket.gethostname(), sysv_keys()
    attacker = grade(COURSE, ASSIGNMENT, submission(tmp_path, "mallory", ATTACK), "mallory")
    assert attacker.status == "graded", attacker.notes
    assert socket.gethostname() == hostname
    assert KEY not in sysv_keys() and sysv_keys() <= keys, "a System V object outlived the worker"
    reader = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
              f"found = libc.shmget({KEY}, 0, 0) != -1 or libc.msgget({KEY}, 0) != -1\n"
              "assert not found, 'the attacker left a message'")
    honest = grade(COURSE, ASSIGNMENT, submission(tmp_path, "honest", reader), "honest")
    assert honest.score == ASSIGNMENT.points - 2 and not honest.notes, (honest.score, honest.notes)


DEVICES = ["/dev/kmsg", "/dev/loop-control", "/dev/kvm", "/dev/userfaultfd", "/dev/vcs", "/dev/mem", "/dev/sda"]


@pytest.mark.skipif(not _can_unshare_network(), reason="this machine allows no namespaces per worker")
def test_only_four_devices_exist_for_student_code(tmp_path: Path, fork_server) -> None:
    from autograder.workers.client import Worker

    probe = ("import os\nopened = []\nfor d in %r:\n    try:\n        os.close(os.open(d, os.O_RDONLY | os.O_NONBLOCK))\n"
             "        opened.append(d)\n    except OSError:\n        pass\nopened = ','.join(opened)\n"
             "devices = ','.join(sorted(os.listdir('/dev')))\n"
             "noise = len(open('/dev/urandom', 'rb').read(16))\nopen('/dev/null', 'w').write('x')") % DEVICES
    with Worker([probe], 10, str(tmp_path), server=fork_server) as w:
        w.ensure()
        assert not w.cell_errors, w.cell_errors
        assert w.get("opened") == ("", None)
        assert w.get("devices") == ("null,random,urandom,zero", None)
        assert w.get("noise") == (16, None), "the four devices work"


MACHINE_ATTACKS = {
    "reads the environment it was started with": ('answer_why_scale = "b"',
                                                  "answer_why_scale = open('/proc/self/environ', 'rb').read()"
                                                  ".decode(errors='replace')"),
    "hides 2 GB in memfds": ("torch.manual_seed(0)", "torch.manual_seed(0)\nimport os\nfds = []\nfor _ in range(250):\n"
                             "    fd = os.memfd_create('hog')\n    os.write(fd, b'x' * (8 << 20))\n    fds.append(fd)"),
    "renames the host and leaves IPC": ("torch.manual_seed(0)", "torch.manual_seed(0)\n" + ATTACK),
}


@pytest.mark.skipif(not _can_unshare_network(), reason="this machine allows no namespaces per worker")
def test_machine_attacks_in_a_batch_cost_honest_students_nothing(tmp_path: Path, grading, grade_batch) -> None:
    import dataclasses
    import shutil

    from autograder.course import Limits

    copy_course(ROOT, tmp_path)
    course = load_course(tmp_path / "course.yml")
    assignment = dataclasses.replace(course.assignment("a2-attention"), limits=Limits(check_timeout_s=10, memory_mb=512))
    full = assignment.points - 2
    hostname, keys = socket.gethostname(), sysv_keys()

    def submit(student: str, edit: tuple[str, str] | None) -> None:
        nb = nbformat.read(str(ROOT / ASSIGNMENT.notebooks[0]), as_version=4)
        if edit:
            cell = next(c for c in nb.cells if edit[0] in c.source)
            cell.source = cell.source.replace(*edit)
        folder = tmp_path / "submitted" / student / assignment.id
        folder.mkdir(parents=True)
        nbformat.write(nb, str(folder / ASSIGNMENT.notebooks[0].name))

    for i, edit in enumerate(MACHINE_ATTACKS.values()):
        submit(f"attacker-{i}", edit)
    for i in range(2):
        submit(f"honest-{i}", None)
    with grading.environment("GRADER_TOKEN", "grader-s3cret-token"):  # the grader's environment: never the student's
        results = {r.student: r for r in grade_batch(course, assignment, tmp_path / "submitted", jobs=2, progress=False)}
    assert all((results[f"honest-{i}"].score, results[f"honest-{i}"].notes) == (full, []) for i in range(2))
    environ = {p.grade_id: p for p in results["attacker-0"].parts}["why-scale"]
    assert environ.score == 0 and "GRADER_TOKEN" not in " ".join(environ.messages)
    assert not any("grader-s3cret-token" in p.read_text() for p in (tmp_path / "feedback").rglob("*.html"))
    assert any("ran out of memory: the limit is 512 MB" in n for n in results["attacker-1"].notes), results["attacker-1"].notes
    assert socket.gethostname() == hostname and sysv_keys() <= keys

    shutil.rmtree(tmp_path / "submitted")
    submit("honest-next-batch", None)
    (again,) = grade_batch(course, assignment, tmp_path / "submitted", jobs=2, progress=False)
    assert (again.score, again.notes) == (full, [])

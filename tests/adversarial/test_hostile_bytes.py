"""Every byte from a worker or a submission folder is hostile: frames cut short or forged, a pipe that stops
being read, absurd sizes, text that cannot be encoded, file names that are not UTF-8, a timestamp.txt that
links elsewhere. The batch finishes, nothing is quoted that should not be, the attacker earns nothing for it,
and honest students in the same batch and in the next one keep full marks."""
from __future__ import annotations

import csv
import dataclasses
import os
import shutil
from pathlib import Path

import nbformat
import pytest

from autograder.course import Limits, copy_course, load_course

ROOT = Path(__file__).resolve().parents[2]
AID = "a2-attention"
SDPA = "def scaled_dot_product_attention(q, k, v, mask=None):"

# helpers the attacks share: the worker's own pipes, found among its open file descriptors
PIPES = '''import fcntl, json, os, stat, struct, time
def pipes(writable):
    out = []
    for fd in range(3, 256):
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode) and (fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY) == writable:
                out.append(fd)
        except OSError:
            pass
    return out
def frame(header):
    raw = json.dumps({**header, "blob": 0}).encode()
    return struct.pack("<I", len(raw)) + raw
'''

ATTACKS = {
    "half a frame, then silence": PIPES + SDPA + '''
    for fd in pipes(True):
        os.write(fd, b"\\x40\\x00\\x00\\x00{\\"ok\\"")
    time.sleep(3600)''',
    "a forged answer, then a pipe nobody reads": PIPES + SDPA + '''
    for fd in pipes(False):
        fcntl.fcntl(fd, 1031, 4096)  # F_SETPIPE_SZ: the grader's next request no longer fits
    for fd in pipes(True):
        os.write(fd, frame({"ok": False, "error": "forged"}))
    time.sleep(3600)''',
    "a header that claims ten billion outputs": PIPES + SDPA + '''
    for fd in pipes(True):
        os.write(fd, frame({"ok": True, "n": 10**10}))
    time.sleep(3600)''',
    "an error message that is not text": SDPA + '''
    raise ValueError("\\udcff\\x1b[2J" + "x" * 100000)''',
}


def notebook(sdpa_source: str | None) -> bytes:
    nb = nbformat.read(str(ROOT / "assignments" / AID / "attention.ipynb"), as_version=4)
    if sdpa_source is not None:
        next(c for c in nb.cells if c.source.startswith("def scaled_dot_product_attention(")).source = sdpa_source
    return nbformat.writes(nb).encode()


def put(root: Path, student: str, content: bytes, name: bytes = b"attention.ipynb") -> Path:
    folder = root / "submitted" / student / AID
    folder.mkdir(parents=True)
    Path(os.fsdecode(os.fsencode(folder) + b"/" + name)).write_bytes(content)
    return folder


def test_hostile_bytes_cost_nothing_but_the_attackers_own_points(tmp_path: Path, grade_batch) -> None:
    copy_course(ROOT, tmp_path)
    course = load_course(tmp_path / "course.yml")
    assignment = dataclasses.replace(course.assignment(AID), limits=Limits(check_timeout_s=2.0))
    full = assignment.points - 2
    secret = tmp_path / ".grading-secret"
    secret.write_text("the-course-secret-" + "0" * 40)
    for i, code in enumerate(ATTACKS.values()):
        put(tmp_path, f"attacker-{i}", notebook(code))
    put(tmp_path, "odd-name", notebook(None), name=b"attention \xff\xfe.ipynb")  # not UTF-8: a lone notebook
    linked = put(tmp_path, "linked-stamp", notebook(None))
    (linked / "timestamp.txt").symlink_to(secret)
    put(tmp_path, "fifo-stamp", notebook(None))
    os.mkfifo(tmp_path / "submitted" / "fifo-stamp" / AID / "timestamp.txt")
    for i in range(3):
        put(tmp_path, f"honest-{i}", notebook(None))

    results = {r.student: r for r in grade_batch(course, assignment, tmp_path / "submitted", jobs=2, progress=False)}
    for i in range(3):
        assert (results[f"honest-{i}"].score, results[f"honest-{i}"].notes) == (full, [])
    for i, attack in enumerate(ATTACKS):
        parts = {p.grade_id: p for p in results[f"attacker-{i}"].parts}
        assert parts["scaled-dot-product-attention"].score == 0, attack
        assert parts["multi-head-attention"].score == 8, f"{attack}: the attacker's other parts are still graded"
    first = {p.grade_id: p.messages for p in results["attacker-0"].parts}["scaled-dot-product-attention"]
    assert all("timed out" in m for m in first), first
    noisy = {p.grade_id: p.messages for p in results["attacker-3"].parts}["scaled-dot-product-attention"]
    assert noisy and all("\\udcff" in m and "\x1b" not in m and len(m) < 2500 for m in noisy), noisy[0][:200]
    odd = results["odd-name"]
    assert odd.score == full and any("\\xff" in n or "\\udcff" in n for n in odd.notes), odd.notes
    for student in ("linked-stamp", "fifo-stamp"):
        r = results[student]
        assert r.score == full and r.submitted_at is not None, (student, r.notes)
        assert any("timestamp.txt" in n and "arrival time" in n for n in r.notes), r.notes
    for path in (tmp_path / "feedback").rglob("*.html"):
        assert "the-course-secret" not in path.read_text(), path
    rows = {r["student"]: r for r in csv.DictReader((tmp_path / "grades.csv").open(encoding="utf-8"))}
    assert set(rows) == set(results) and rows["honest-0"]["score"] == f"{full:g}"

    shutil.rmtree(tmp_path / "submitted")
    put(tmp_path, "honest-next-batch", notebook(None))
    (again,) = grade_batch(course, assignment, tmp_path / "submitted", jobs=2, progress=False)
    assert (again.score, again.notes) == (full, [])


@pytest.mark.parametrize("name", [b"stud\xffent", "stud\nent".encode()])
def test_a_student_folder_whose_name_cannot_be_shown_is_reported_not_recorded(tmp_path: Path, name: bytes,
                                                                             grade_batch) -> None:
    copy_course(ROOT, tmp_path)
    course = load_course(tmp_path / "course.yml")
    folder = os.fsencode(tmp_path / "submitted") + b"/" + name + b"/" + AID.encode()
    os.makedirs(folder)
    Path(os.fsdecode(folder + b"/attention.ipynb")).write_bytes(notebook(None))
    put(tmp_path, "honest", notebook(None))
    results = grade_batch(course, course.assignment(AID), tmp_path / "submitted", jobs=1, progress=False)
    bad = [r for r in results if r.student != "honest"]
    assert len(bad) == 1 and bad[0].status == "bad-name" and "rename it" in bad[0].notes[0]
    rows = list(csv.DictReader((tmp_path / "grades.csv").open(encoding="utf-8")))
    assert [r["student"] for r in rows] == ["honest"]


def test_a_forged_timestamp_counts_for_nothing_where_the_course_takes_arrival_times(tmp_path: Path, grade) -> None:
    import datetime as dt

    course = load_course(ROOT / "course.yml")
    course = dataclasses.replace(course, submission_time="arrival")
    assignment = dataclasses.replace(course.assignment(AID), due=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1))
    folder = put(tmp_path, "late", notebook(None))
    (folder / "timestamp.txt").write_text("2020-01-01 00:00:00 UTC")  # long before the deadline, and false
    result = grade(course, assignment, folder / "attention.ipynb", "late")
    assert result.late_multiplier == pytest.approx(0.9), "one started day late, whatever timestamp.txt says"
    assert result.submitted_at > assignment.due


def test_frames_that_are_not_headers_are_refused_before_anything_is_built() -> None:
    import struct
    import threading

    from autograder.workers.wire import WireError, receive

    for raw, words in [(b"[" * 500_000, "not JSON"), (b"\xff\xfe", "not JSON"), (b"[1, 2]", "not a JSON object"),
                       (b'{"blob": 1e300}', "not allowed"), (b'{"blob": 99999999999}', "not allowed")]:
        read_fd, write_fd = os.pipe()
        writer = threading.Thread(target=lambda: (os.write(write_fd, struct.pack("<I", len(raw)) + raw),
                                                  os.close(write_fd)))
        writer.start()
        with pytest.raises(WireError, match=words):
            receive(read_fd, 1 << 20)
        writer.join()
        os.close(read_fd)

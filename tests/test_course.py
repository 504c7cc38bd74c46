"""course.yml: the shipped file loads, and every kind of mistake is reported with file, line and key."""
from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from autograder.course import CourseError, LatePolicy, copy_course, load_course

ROOT = Path(__file__).resolve().parents[1]

VALID = """\
course:
  id: demo
  title: Demo course
device: cpu
limits:
  check_timeout_s: 10
late_policy:
  penalty_per_day: 0.2
  max_late_days: 2
assignments:
  - id: a1
    title: Attention
    points: 10
    due: 2027-01-25T23:59:00+00:00
    notebooks: [a1/attention.ipynb]
  - id: a2
    title: Later
    status: planned
    points: 5
    due: 2027-02-01
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "a1").mkdir(exist_ok=True)
    (tmp_path / "a1" / "attention.ipynb").write_text("{}")
    path = tmp_path / "course.yml"
    path.write_text(textwrap.dedent(text))
    return path


def test_shipped_course_lists_the_nine_parts_of_the_lecture() -> None:
    course = load_course(ROOT / "course.yml")
    assert len(course.assignments) == 9
    titles = " ".join(a.title.lower() for a in course.assignments)
    for part in ["embeddings", "attention", "transformer", "bert", "gpt", "fine-tuning", "vision", "audio", "multimodal"]:
        assert part in titles
    assert course.device in ("auto", "cpu", "cuda")


def test_valid_file_loads_into_typed_objects(tmp_path: Path) -> None:
    course = load_course(write(tmp_path, VALID))
    a1, a2 = course.assignments
    assert (course.id, course.device, course.limits.check_timeout_s, course.limits.memory_mb) == ("demo", "cpu", 10.0, 2048)
    assert a1.notebooks == (Path("a1/attention.ipynb"),) and a1.points == 10.0 and a1.status == "active"
    assert a1.due == dt.datetime(2027, 1, 25, 23, 59, tzinfo=dt.timezone.utc)
    assert a1.late_policy == LatePolicy(penalty_per_day=0.2, max_late_days=2)
    assert a2.due == dt.datetime(2027, 2, 1, 23, 59, tzinfo=dt.timezone.utc)  # a bare date means the day's end
    assert course.active == (a1,) and course.assignment("a2") is a2
    assert course.db_url == f"sqlite:///{tmp_path}/gradebook.db", "a relative SQLite gradebook lives in the course folder"
    with pytest.raises(KeyError, match="known: a1, a2"):
        course.assignment("a3")


@pytest.mark.parametrize("old,new,line,message", [
    ("device: cpu", "device: cpu\ncolour: blue", 5, r"colour: unknown key 'colour'"),
    ("    points: 10", "    points: 10\n    pionts: 3", 14, r"assignments\[0\]\.pionts: unknown key"),
    ("    points: 10", "    points: ten", 13, r"assignments\[0\]\.points: expected a number, got a string 'ten'"),
    ("  - id: a2", "  - id: a1", 16, r"assignments\[1\]\.id: duplicate assignment id 'a1' \(first used by assignments\[0\]\)"),
    ("notebooks: [a1/attention.ipynb]", "notebooks: [a1/missing.ipynb]", 15, r"notebook 'a1/missing.ipynb' does not exist"),
    ("notebooks: [a1/attention.ipynb]", "notebooks: [a1/notes.txt]", 15, r"is not a notebook"),
    ("notebooks: [a1/attention.ipynb]", "notebooks: []", 15, r"active assignment must list at least one notebook"),
    ("device: cpu", "device: gpu", 4, r"device: must be one of auto, cpu, cuda, got 'gpu'"),
    ("device: cpu", "device: cpu\nsubmission_time: whenever", 5,
     r"submission_time: must be one of timestamp-file, arrival, got 'whenever'"),
    ("  title: Demo course", "  title: Demo course\n  id: again", 4, r"course\.id is given twice \(first on line 2\)"),
    ("    due: 2027-01-25T23:59:00+00:00", "    due: next monday", 14, r"assignments\[0\]\.due: expected a date"),
    ("  penalty_per_day: 0.2", "  penalty_per_day: 20", 8, r"late_policy\.penalty_per_day: is a fraction"),
    ("  check_timeout_s: 10", "  check_timeout_s: -1", 6, r"limits\.check_timeout_s: must be at least 0.1"),
    ("    status: planned", "    status: maybe", 18, r"assignments\[1\]\.status: must be one of active, planned"),
    ("    points: 10", "    points: true", 13, r"expected a number, got a boolean True"),
    ("  id: demo\n", "", 1, r"course: missing required key 'id'"),
    ("device: cpu", "device: [cpu", 5, r"not valid YAML"),  # the parser notices on the next line
    ("    points: 10", "    points: 10\n    data: [a1/missing.bin]", 14, r"assignments\[0\]\.data\[0\]: data file 'a1/missing.bin' does not exist"),
    ("    points: 10", "    points: 10\n    data: [../outside.bin]", 14, r"data file '\.\./outside\.bin' is outside the course folder"),
    ("    points: 10", "    points: 10\n    data: [a1/attention.ipynb, a1/../a1/attention.ipynb]", 14,
     r"data\[1\]: two data files are named 'attention.ipynb'"),
])
def test_mistakes_name_the_file_line_and_key(tmp_path: Path, old: str, new: str, line: int, message: str) -> None:
    assert old in VALID
    path = write(tmp_path, VALID.replace(old, new, 1))
    with pytest.raises(CourseError, match=message) as info:
        load_course(path)
    assert str(info.value).startswith(f"{path}:{line}: "), str(info.value)


def test_data_files_are_listed_per_assignment_and_reach_the_folder_a_notebook_runs_in(tmp_path: Path) -> None:
    from autograder.student_files import write_support_files

    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "model.safetensors").write_bytes(b"\x00\x01checkpoint")
    course = load_course(write(tmp_path, VALID.replace("    points: 10", "    points: 10\n    data: [weights/model.safetensors]", 1)))
    a1, a2 = course.assignments
    nbformat.write(nbformat.v4.new_notebook(), str(tmp_path / "a1" / "attention.ipynb"))
    assert a1.data == (Path("weights/model.safetensors"),) and a2.data == ()
    write_support_files(tmp_path / "out", a1, course)
    assert (tmp_path / "out" / "data" / "model.safetensors").read_bytes() == b"\x00\x01checkpoint"


def test_gradebook_url_is_taken_from_course_yml(tmp_path: Path) -> None:
    course = load_course(write(tmp_path, VALID.replace("device: cpu", "device: cpu\ngradebook: postgresql://grader@db/course")))
    assert course.db_url == "postgresql://grader@db/course"


def test_empty_unreadable_and_non_mapping_files(tmp_path: Path) -> None:
    empty = tmp_path / "course.yml"
    empty.write_text("")
    with pytest.raises(CourseError, match="expected a mapping, got nothing"):
        load_course(empty)
    with pytest.raises(CourseError, match="cannot read the file"):
        load_course(tmp_path / "absent.yml")
    binary = tmp_path / "binary.yml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(CourseError, match="not UTF-8"):
        load_course(binary)


def test_late_policy_multiplier() -> None:
    policy = LatePolicy(grace_minutes=15, penalty_per_day=0.1, max_late_days=3)
    due = dt.datetime(2027, 1, 1, 12, tzinfo=dt.timezone.utc)
    at = lambda **kw: policy.multiplier(due, due + dt.timedelta(**kw))
    assert at(minutes=-5) == 1.0 and at(minutes=15) == 1.0
    assert at(minutes=16) == pytest.approx(0.9)  # a started day counts as a day
    assert at(days=2) == pytest.approx(0.8) and at(days=2, minutes=20) == pytest.approx(0.7)
    assert at(days=4) == 0.0


def test_cli_reports_errors_and_prints_the_outline(tmp_path: Path) -> None:
    bad = write(tmp_path, VALID.replace("    points: 10", "    points: ten"))
    run = subprocess.run([sys.executable, "-m", "autograder.cli", "--course", str(bad), "outline"],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 2 and f"{bad}:13: assignments[0].points" in run.stderr
    run = subprocess.run([sys.executable, "-m", "autograder.cli", "outline"], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    course = load_course(ROOT / "course.yml")
    total = sum(a.points for a in course.assignments)
    assert all(a.id in run.stdout for a in course.assignments)
    assert re.search(rf"^\s+total\s+{total:g}$", run.stdout, re.M), run.stdout


@pytest.mark.slow
def test_demo_runs_the_whole_workflow(tmp_path: Path) -> None:
    
    from autograder.content import folder_of, load_module
    from autograder.notebook import graded_cells, read_notebook

    copy_course(ROOT, tmp_path)
    run = subprocess.run([sys.executable, "-m", "autograder.cli", "--course", str(tmp_path / "course.yml"), "demo"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "1. validate: course and notebooks are valid" in out
    # one summary per active assignment, in course order; each autograded total leaves out the hand-graded points
    course = load_course(tmp_path / "course.yml")
    blocks = out.split("4. grade ")[1:]
    assert [b.split(" ", 1)[0].rstrip(":") for b in blocks] == [a.id for a in course.active]
    for block, assignment in zip(blocks, course.active):
        total = assignment.points
        manual = sum(c.points for c in graded_cells(read_notebook(course.root / assignment.notebooks[0])) if c.cell_type == "markdown")
        bug = load_module(folder_of(course, assignment), "mistakes").MISTAKES[0][3]
        rows = {line.split()[0]: line for line in block.splitlines() if line.endswith(("graded", "(late x0.8)"))}
        assert f"{total - manual:g} / {total:g}" in rows["ada"] and f"0 / {total:g}" in rows["dee"] and "late x0.8" in rows["cy"]
        assert bug in block and f"{total - manual:g} / {total:g}" not in rows["ben"]
    import csv

    graded = list(csv.DictReader((tmp_path / "demo-out" / "grades.csv").open()))
    assert sorted({(r["assignment"], r["student"]) for r in graded}) == sorted(
        (a.id, s) for a in course.active for s in ("ada", "ben", "cy", "dee")), \
        "each batch keeps the rows of the assignments graded before it"

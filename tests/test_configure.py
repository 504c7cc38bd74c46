"""`autograder configure` on a copy of the course: nbgrader's own command line and formgrader in a real Jupyter
server read the nbgrader_config.py it writes and list every active assignment with its due date, a source notebook
runs in place, a re-run changes nothing but what course.yml changed, the instructor's own lines are kept, and the
generated support folders never reach a release."""
from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from autograder.student_files import SUPPORT
from autograder.course import copy_course, load_course
from autograder.nbgrader_run import OWN_LINES

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def autograder(course_root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder.cli", *args], cwd=course_root, env=ENV,
                          capture_output=True, text=True)


def due_dates_listed(text: str) -> dict[str, str]:
    """assignment -> due date, from `nbgrader db assignment list`."""
    return {line.split(" (due: ")[0]: line.split(" (due: ")[1].rstrip(")")
            for line in text.splitlines() if " (due: " in line}


@pytest.fixture(scope="module")
def course_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("course")
    copy_course(ROOT, root)
    run = autograder(root, "configure")
    assert run.returncode == 0, run.stderr
    return root


def expected_due_dates(root: Path) -> dict[str, str]:
    return {a.id: f"{a.due.astimezone(dt.timezone.utc):%Y-%m-%d %H:%M:%S}" for a in load_course(root / "course.yml").active}


def test_nbgrader_reads_the_config_and_lists_every_assignment_with_its_due_date(course_root: Path) -> None:
    text = (course_root / "nbgrader_config.py").read_text()
    assert text.startswith("# nbgrader's configuration") and OWN_LINES in text
    listed = subprocess.run([sys.executable, "-m", "nbgrader", "db", "assignment", "list"], cwd=course_root, env=ENV,
                            capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert due_dates_listed(listed.stdout + listed.stderr) == expected_due_dates(course_root)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_formgrader_in_a_plain_jupyter_lab_lists_the_assignments(course_root: Path, tmp_path: Path) -> None:
    port, token = free_port(), "configure-test"
    log = (tmp_path / "lab.log").open("w")
    lab = subprocess.Popen([str(BIN / "jupyter"), "lab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
                            f"--ServerApp.port={port}", f"--ServerApp.token={token}"],
                           cwd=course_root, env=ENV, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/formgrader/api/assignments"
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    try:
        for _ in range(600):  # the server answers once it is up; a guard against one that never starts
            if lab.poll() is not None:
                pytest.fail(f"jupyter lab exited:\n{(tmp_path / 'lab.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    assignments = json.loads(response.read())
                break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail(f"jupyter lab did not answer:\n{(tmp_path / 'lab.log').read_text()[-3000:]}")
    finally:
        lab.terminate()
        lab.wait(timeout=30)
        log.close()
    shown = {a["name"]: a["duedate"].replace("T", " ") for a in assignments}
    assert shown == expected_due_dates(course_root)
    assert {a["source_path"] for a in assignments} == {f"assignments/{aid}" for aid in shown}


def test_a_source_notebook_runs_in_place_up_to_its_first_check(course_root: Path) -> None:
    course = load_course(course_root / "course.yml")
    notebook = course_root / course.active[0].notebooks[0]
    nb = nbformat.read(str(notebook), as_version=4)
    first_check = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.startswith("check("))
    nb.cells = nb.cells[:first_check + 1]
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(notebook.parent)}}).execute()
    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert "✓" in printed, printed


def test_support_folders_stay_out_of_the_release(course_root: Path) -> None:
    course = load_course(course_root / "course.yml")
    assignment = course.active[0]
    assert all((course_root / "assignments" / assignment.id / name).is_dir() for name in ("coursekit", "fixtures"))
    run = autograder(course_root, "release", assignment.id)
    assert run.returncode == 0, run.stderr
    released = course_root / "release" / assignment.id
    assert sorted(p.name for p in released.iterdir()) == sorted(
        [nb.name for nb in assignment.notebooks] + [name for name in SUPPORT if name != "data" or assignment.data])
    assert sorted(p.name for p in (released / "fixtures").iterdir()) == \
        sorted(p.name for p in (course_root / "assignments" / assignment.id / "fixtures").iterdir())


def test_rerun_keeps_the_instructors_lines_and_follows_course_yml(course_root: Path) -> None:
    config = course_root / "nbgrader_config.py"
    before = config.read_text()
    assert autograder(course_root, "configure").returncode == 0
    assert config.read_text() == before, "a re-run with the same course.yml writes the same file"
    config.write_text(before + 'c.Exchange.root = "/srv/exchange"\n')
    course_yml = course_root / "course.yml"
    course_yml.write_text(course_yml.read_text().replace("2027-01-25T23:59:00+00:00", "2027-01-27T12:00:00+01:00"))
    run = autograder(course_root, "configure")
    assert run.returncode == 0, run.stderr
    assert config.read_text().endswith(f'{OWN_LINES}\nc.Exchange.root = "/srv/exchange"\n')
    listed = subprocess.run([sys.executable, "-m", "nbgrader", "db", "assignment", "list"], cwd=course_root, env=ENV,
                            capture_output=True, text=True)
    dates = due_dates_listed(listed.stdout + listed.stderr)
    assert dates == expected_due_dates(course_root) and dates["a1-embeddings"] == "2027-01-27 11:00:00"


@pytest.mark.parametrize("content,message", [
    ("c = get_config()\nc.CourseDirectory.root = '/elsewhere'\n", "was not written by autograder"),
    (b"\xff\xfe not text", "cannot be read"),
    (f"c = get_config()\n{OWN_LINES}\nc.CourseDirectory.db_url = 'sqlite:///other.db'\n", "CourseDirectory.db_url"),
])
def test_a_config_file_autograder_did_not_write_is_left_alone(tmp_path: Path, content, message: str) -> None:
    copy_course(ROOT, tmp_path)
    config = tmp_path / "nbgrader_config.py"
    config.write_bytes(content if isinstance(content, bytes) else content.encode())
    run = autograder(tmp_path, "configure")
    assert run.returncode == 2
    assert str(config) in run.stderr and message in run.stderr
    assert config.read_bytes() == (content if isinstance(content, bytes) else content.encode())
    assert not (tmp_path / "gradebook.db").exists()


def test_the_settings_autograder_manages_are_the_ones_it_refuses_below_the_marker() -> None:
    from autograder.nbgrader_run import MANAGED_KEYS, nbgrader_settings

    assert tuple(nbgrader_settings(load_course(ROOT / "course.yml"))) == MANAGED_KEYS


def test_a_data_file_inside_a_generated_folder_is_refused_not_deleted(tmp_path: Path) -> None:
    copy_course(ROOT, tmp_path)
    kept = tmp_path / "assignments" / "a1-embeddings" / "data" / "words.txt"
    kept.parent.mkdir()
    kept.write_text("the instructor's own file")
    course_yml = tmp_path / "course.yml"
    course_yml.write_text(course_yml.read_text().replace(
        "notebooks: [assignments/a1-embeddings/embeddings.ipynb]",
        "notebooks: [assignments/a1-embeddings/embeddings.ipynb]\n    data: [assignments/a1-embeddings/data/words.txt]"))
    run = autograder(tmp_path, "configure")
    assert run.returncode == 2 and "assignments/a1-embeddings/data/words.txt" in run.stderr, run.stderr
    assert kept.read_text() == "the instructor's own file"


@pytest.mark.slow
def test_grading_after_configure_alone_registers_the_notebooks_first(course_root: Path, tmp_path: Path) -> None:
    """configure registers assignments without notebooks; grading must still find the grade cells it records."""
    aid = "a2-attention"
    notebook = load_course(course_root / "course.yml").assignment(aid).notebooks[0]
    (tmp_path / "ada" / aid).mkdir(parents=True)
    (tmp_path / "ada" / aid / notebook.name).write_bytes((course_root / notebook).read_bytes())
    run = autograder(course_root, "grade", aid, "--submissions", str(tmp_path))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "needs regrade" not in run.stdout and "graded" in run.stdout, run.stdout

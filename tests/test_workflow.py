"""The instructor's workflow through the `autograder` command on real nbgrader: release, grade a mixed batch,
regrade, export; and the release scanned for anything that must stay hidden."""
from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch

from autograder.course import copy_course
from autograder.notebook import nbgrader_meta

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "a2-attention"
NOTEBOOK = "attention.ipynb"
NO_SCALING = ("scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))", "scores = q @ k.transpose(-2, -1)")


def autograder(course: Path, *args: str) -> subprocess.CompletedProcess:
    from autograder.sandbox.landlock import abi_version

    if args and args[0] == "grade" and abi_version() == 0:
        args = (*args, "--unsafe")  # this kernel cannot hide files; the sandbox's own tests are skipped here
    return subprocess.run([sys.executable, "-m", "autograder.cli", "--course", str(course / "course.yml"), *args],
                          capture_output=True, text=True, cwd=course)


def submit(course: Path, student: str, content: bytes | None) -> None:
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True)
    if content is not None:
        (folder / NOTEBOOK).write_bytes(content)


def with_edit(path: Path, old: str, new: str) -> bytes:
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        cell.source = cell.source.replace(old, new)
    return nbformat.writes(nb).encode()


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("course")
    copy_course(ROOT, root)
    run = autograder(root, "release")
    assert run.returncode == 0, run.stderr
    source = root / "assignments" / ASSIGNMENT / NOTEBOOK
    submit(root, "ada", source.read_bytes())
    submit(root, "ben", with_edit(source, *NO_SCALING))
    submit(root, "dee", (root / "release" / ASSIGNMENT / NOTEBOOK).read_bytes())
    submit(root, "eve", b'{"cells": [ this is not json')
    submit(root, "fay", None)
    submit(root, "gus", b"")
    submit(root, "hal", b"\x89PNG\r\n\x1a\n\x00\x00binary")
    renamed = root / "submitted" / "ivy" / ASSIGNMENT
    renamed.mkdir(parents=True)
    (renamed / "attention (1).ipynb").write_bytes(source.read_bytes())
    return root


@pytest.fixture(scope="module")
def graded(course: Path) -> tuple[Path, dict[str, dict[str, str]], dict[str, str], str]:
    before = digest(course / "submitted")
    run = autograder(course, "grade", ASSIGNMENT, "--jobs", "2")
    assert run.returncode == 0, run.stderr
    rows = {r["student"]: r for r in csv.DictReader((course / "grades.csv").open())}
    return course, rows, before, run.stdout


def test_batch_grades_every_kind_of_submission(graded: tuple) -> None:
    course, rows, _, stdout = graded
    assert set(rows) == {"ada", "ben", "dee", "eve", "fay", "gus", "hal", "ivy"}
    assert (rows["ivy"]["score"], rows["ivy"]["status"]) == ("30", "graded")
    assert (rows["ada"]["score"], rows["ada"]["status"]) == ("30", "graded")
    assert rows["ada"]["heads-answer"] == "", "the free-text answer waits for manual grading"
    assert float(rows["ben"]["score"]) < 30 and rows["ben"]["multi-head-attention"] == "8"
    assert rows["dee"]["score"] == "0"
    for student in ("eve", "gus", "hal"):
        assert (rows[student]["status"], rows[student]["score"]) == ("unreadable", "0"), student
    assert rows["fay"]["status"] == "missing"
    assert "ada" in stdout and "unreadable" in stdout


def test_scores_are_in_nbgrader_gradebook(graded: tuple) -> None:
    from autograder.course import load_course
    from autograder.records.gradebook import gradebook_scores

    course, rows, _, _ = graded
    c = load_course(course / "course.yml")
    scores = gradebook_scores(c, ASSIGNMENT)
    for student in ("ada", "ben", "dee"):
        assert scores[student] == pytest.approx(float(rows[student]["score"]))
    from nbgrader.api import Gradebook

    with Gradebook(c.db_url, course_id=c.id) as gb:  # what formgrader reads
        free_text = gb.find_grade("heads-answer", "attention", ASSIGNMENT, "ada")
        assert free_text.needs_manual_grade and free_text.auto_score is None
        assert not gb.find_grade("scaled-dot-product-attention", "attention", ASSIGNMENT, "ada").needs_manual_grade
    for student in ("ada", "ivy"):  # ivy submitted the notebook under another name
        assert (course / "autograded" / student / ASSIGNMENT / NOTEBOOK).is_file(), "formgrader shows the autograded copy"


def test_feedback_explains_without_leaking(graded: tuple) -> None:
    course, _, _, _ = graded
    html = (course / "feedback" / "ben" / ASSIGNMENT / "attention.html").read_text()
    assert "not divided by sqrt(d_k)" in html
    source = (course / "assignments" / ASSIGNMENT / NOTEBOOK).read_text()
    for secret in ("BEGIN HIDDEN", "ANSWER", "masked_fill(~mask.any"):
        assert secret in source and secret not in html
    eve = (course / "feedback" / "eve" / ASSIGNMENT / "attention.html").read_text()
    assert "is not valid JSON" in eve and "line 1" in eve


def test_submissions_are_untouched_and_a_second_run_changes_nothing(graded: tuple) -> None:
    course, _, before, _ = graded
    assert digest(course / "submitted") == before
    first_csv = (course / "grades.csv").read_bytes()
    run = autograder(course, "grade", ASSIGNMENT)
    assert run.returncode == 0, run.stderr
    assert (course / "grades.csv").read_bytes() == first_csv
    assert digest(course / "submitted") == before


def test_grade_reports_a_missing_folder_or_assignment(course: Path) -> None:
    run = autograder(course, "grade", ASSIGNMENT, "--submissions", str(course / "nowhere"))
    assert run.returncode == 2 and "no submissions folder" in run.stderr and "Traceback" not in run.stderr
    run = autograder(course, "grade", "a0-nothing")
    assert run.returncode == 2 and "no assignment 'a0-nothing'" in run.stderr


def test_exports(graded: tuple) -> None:
    course, rows, _, _ = graded
    assert autograder(course, "export", "--format", "csv").returncode == 0
    exported = {r["student"]: r for r in csv.DictReader((course / "gradebook_export.csv").open())}
    assert float(exported["ada"]["score"]) == 30 and exported["ada"]["needs_manual_grade"] == "True"
    assert autograder(course, "export", "--format", "gradescope").returncode == 0
    results = json.loads((course / "gradescope" / ASSIGNMENT / "ben" / "results.json").read_text())
    assert results["score"] == pytest.approx(float(rows["ben"]["score"]))
    assert {t["name"] for t in results["tests"]} >= {"scaled-dot-product-attention", "multi-head-attention"}


def test_validate_accepts_the_course_and_reports_broken_markup(course: Path, tmp_path: Path) -> None:
    run = autograder(course, "validate")
    assert run.returncode == 0, run.stderr
    broken = tmp_path / "broken"
    copy_course(course, broken)
    path = broken / "assignments" / ASSIGNMENT / NOTEBOOK
    nb = nbformat.read(str(path), as_version=4)
    graded_cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    graded_cells[0].metadata["nbgrader"]["points"] = 5  # points no longer add up
    graded_cells[1].metadata["nbgrader"]["grade_id"] = "no-such-check"
    nbformat.write(nb, str(path))
    run = autograder(broken, "validate")
    assert run.returncode == 1
    assert "grade cells add up to 35 points" in run.stderr
    assert re.search(r"cell \d+ \(no-such-check\): no part in a2-attention/checks.py grades this cell", run.stderr)


def test_command_line_check_gives_the_notebooks_own_messages(course: Path, tmp_path: Path) -> None:
    """In the student's release folder, without course.yml: the same line as the notebook's own check, and a part
    built on the broken one is not checked until that one is fixed (the grader would grade it with a correct one)."""
    folder = tmp_path / "release"
    shutil.copytree(course / "release" / ASSIGNMENT, folder)
    buggy = folder / NOTEBOOK
    buggy.write_bytes(with_edit(course / "assignments" / ASSIGNMENT / NOTEBOOK, *NO_SCALING))
    run = subprocess.run([sys.executable, "-m", "autograder.cli", "check", NOTEBOOK], capture_output=True, text=True,
                         cwd=folder)
    assert not (folder / "course.yml").exists() and run.returncode == 1, run.stdout + run.stderr
    line = next(l for l in run.stdout.splitlines() if "scaled-dot-product-attention" in l)
    # the same check inside the notebook: the release's coursekit on the same buggy function
    sys.path.insert(0, str(folder))
    try:
        import coursekit

        namespace: dict = {}
        exec("import math, torch\nfrom torch import nn\n" + "\n".join(
            c.source for c in nbformat.read(str(buggy), as_version=4).cells
            if "def scaled_dot_product_attention" in c.source or "class MultiHeadAttention" in c.source), namespace)
        with pytest.raises(AssertionError) as info:
            coursekit.check("scaled-dot-product-attention", namespace["scaled_dot_product_attention"])
        with pytest.raises(AssertionError) as blocked:
            coursekit.check("multi-head-attention", namespace["scaled_dot_product_attention"].__globals__["MultiHeadAttention"])
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("coursekit", None)
    assert line == "✗ " + str(info.value)
    assert "✗ " + str(blocked.value) in run.stdout.splitlines()
    assert "not checked yet: this part is meant to use your scaled_dot_product_attention" in str(blocked.value)
    assert "✓ causal-mask" in run.stdout


def test_hidden_inputs_cannot_be_predicted_from_the_release(course: Path) -> None:
    from safetensors.torch import load_file

    from autograder.content import checks_of
    from autograder.course import load_course
    from autograder.grading.seeds import student_seed

    fixtures = load_file(str(course / "release" / ASSIGNMENT / "fixtures" / "scaled-dot-product-attention.safetensors"))
    c = load_course(course / "course.yml")
    SDPA = checks_of(c, c.assignment(ASSIGNMENT))["scaled-dot-product-attention"]
    seed = student_seed(c, ASSIGNMENT, "ada", SDPA.id)
    hidden_q = SDPA.cases(torch.Generator().manual_seed(seed), True)[0].tensors["q"]
    assert not any(t.shape == hidden_q.shape and torch.equal(t, hidden_q) for t in fixtures.values())
    # the seed depends on the course's secret, which never leaves the instructor's folder
    secret = course / ".grading-secret"
    saved = secret.read_text()
    secret.write_text("another course")
    try:
        assert student_seed(c, ASSIGNMENT, "ada", SDPA.id) != seed
    finally:
        secret.write_text(saved)


def test_command_line_check_of_the_untouched_release_says_what_is_not_answered(course: Path, tmp_path: Path) -> None:
    folder = tmp_path / "release"
    shutil.copytree(course / "release" / ASSIGNMENT, folder)
    run = subprocess.run([sys.executable, "-m", "autograder.cli", "check", NOTEBOOK], capture_output=True, text=True,
                         cwd=folder)
    graded = [nbgrader_meta(c)["grade_id"] for c in nbformat.read(str(folder / NOTEBOOK), as_version=4).cells
              if c.cell_type == "code" and nbgrader_meta(c).get("grade")]
    assert run.returncode == 1 and run.stdout.splitlines() == [f"not answered yet: {g}" for g in graded], run.stdout

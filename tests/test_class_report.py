"""`autograder report`: what a generated class got wrong, ranked, and who copied, from what grading stored.
The class (tests/generated_class.py) is graded once per session by the `graded_class` fixture."""
from __future__ import annotations

import csv
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import LATE, PLANTED_MISTAKES

ROOT = Path(__file__).resolve().parents[1]


def autograder(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder.cli", *args], cwd=root, capture_output=True, text=True)


def graded_copy(root: Path, dest: Path) -> Path:
    """A copy of the graded course: what grading stored (results, graded copies, gradebook, secret) included."""
    from autograder.course import copy_course

    copy_course(root, dest)
    for folder in ("results", "autograded"):
        shutil.copytree(root / folder, dest / folder)
    for name in ("gradebook.db", ".grading-secret"):
        shutil.copyfile(root / name, dest / name)
    return dest


def mistakes_of_a2() -> dict[str, tuple[str, str]]:
    """MISTAKES entry name -> (its part, words the grader's message holds)."""
    spec = importlib.util.spec_from_file_location("a2_mistakes", ROOT / "assignments/a2-attention/mistakes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {name: (part, words) for name, part, _, words in module.MISTAKES}


def test_the_report_ranks_the_planted_mistakes_and_lists_the_planted_copies_first(graded_class) -> None:
    root, made = graded_class
    run = autograder(root, "report", "a2-attention")
    assert run.returncode == 0, run.stderr
    data = json.loads((root / "reports/a2-attention/report.json").read_text())
    parts = {p["grade_id"]: p for p in data["parts"]}
    known = mistakes_of_a2()
    for name, count in PLANTED_MISTAKES.items():
        part, words = known[name]
        if parts[part]["kind"] == "choice":
            continue  # a choice has no typical mistakes: its poll is checked below
        ranked = parts[part]["mistakes"]
        planted_here = sorted(((n, c) for n, c in PLANTED_MISTAKES.items() if known[n][0] == part), key=lambda x: -x[1])
        rank = [i for i, (n, _) in enumerate(planted_here) if n == name][0]
        assert words in ranked[rank]["message"] and ranked[rank]["students"] == count, (name, ranked)
    sdpa = parts["scaled-dot-product-attention"]["mistakes"]
    assert [m["students"] for m in sdpa] == sorted((m["students"] for m in sdpa), reverse=True)
    poll = parts["why-scale"]
    wrong = len(made.mistakes["wrong answer: why scale"])
    assert poll["right_choice"] == "b" and poll["choices"]["a"] == wrong
    assert poll["choices"]["b"] == len(made.students) - wrong, "every other student answered right"
    assert all(p["unexplained"] == 0 for p in data["parts"]), "every planted wrong answer is a known mistake"
    assert data["statuses"] == {"graded": len(made.students)}
    assert data["lateness"] == {"late, penalised": 1, "too late, nothing kept": 1, "on time": len(made.students) - 2}
    assert len(data["hours_late"]) == len(LATE)
    planted = {frozenset((a, b)) for a, b, _ in made.copies}
    top = data["similar_pairs"][:len(planted)]
    assert {frozenset((p["first"], p["second"])) for p in top} == planted, top
    with (root / "reports/a2-attention/mistakes.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["part"] == "scaled-dot-product-attention"]
    assert [(r["mistake"], int(r["students"])) for r in rows] == [(m["key"], m["students"]) for m in sdpa]


def test_hand_grades_from_formgrader_are_what_the_report_counts(graded_class, tmp_path: Path) -> None:
    """The scores are the gradebook's: a manual part scored in formgrader shows up without regrading."""
    from autograder.course import load_course
    from autograder.records.gradebook import open_gradebook
    from autograder.reports.class_summary import summarize

    root, made = graded_class
    course = load_course(root / "course.yml")
    assignment = course.assignment("a2-attention")
    before = {p.grade_id: p for p in summarize(course, assignment).parts}["heads-answer"]
    assert before.scores == [] and before.waiting == len(made.students)
    with open_gradebook(course) as gb:
        grade = gb.find_grade("heads-answer", "attention", "a2-attention", made.honest[0])
        grade.manual_score, grade.needs_manual_grade = 2.0, False
        gb.db.commit()
    try:
        after = {p.grade_id: p for p in summarize(course, assignment).parts}["heads-answer"]
        assert after.scores == [2.0] and after.waiting == len(made.students) - 1 and after.full_marks == 1
    finally:
        with open_gradebook(course) as gb:
            grade = gb.find_grade("heads-answer", "attention", "a2-attention", made.honest[0])
            grade.manual_score, grade.needs_manual_grade = None, True
            gb.db.commit()


def test_a_damaged_stored_result_costs_its_row_only_and_is_named(graded_class, tmp_path: Path) -> None:

    root, made = graded_class
    copy = graded_copy(root, tmp_path / "course")
    damaged = copy / "results/a2-attention" / made.honest[1] / "attention.json"
    damaged.write_text('{"parts": [')
    run = autograder(copy, "report", "a2-attention")
    assert run.returncode == 0, run.stderr
    data = json.loads((copy / "reports/a2-attention/report.json").read_text())
    assert data["submissions"] == len(made.students) - 1
    assert any(str(damaged) in n and "not a stored result" in n for n in data["notes"]), data["notes"]
    assert str(damaged) in (copy / "reports/a2-attention/report.html").read_text()
    assert data["statuses"] == {"graded": len(made.students) - 1, "result unreadable": 1}, "not counted as absent"


def test_a_regrade_a_missing_notebook_and_an_old_notebook_count_as_what_they_are(graded_class, tmp_path: Path) -> None:
    """Only the status of a result that needs regrading counts; a notebook the assignment no longer lists is left
    out with a note; a student the gradebook knows without any result has no submission."""
    from autograder.course import load_course
    from autograder.records.gradebook import open_gradebook
    from autograder.records.stored_results import read_results, write_result

    root, made = graded_class
    copy = graded_copy(root, tmp_path / "course")
    results = {r.student: r for r in read_results(copy, "a2-attention")[0]}
    planted = made.mistakes["no scaling"][0]
    regrade = results[planted]
    regrade.status = "error"
    write_result(copy, regrade)
    old = results[made.honest[0]]
    old.notebook = "attention-v0.ipynb"
    write_result(copy, old)
    with open_gradebook(load_course(copy / "course.yml")) as gb:
        gb.add_student("zoe")
    run = autograder(copy, "report", "a2-attention", "--top", "25")
    assert run.returncode == 0, run.stderr
    data = json.loads((copy / "reports/a2-attention/report.json").read_text())
    assert data["statuses"] == {"graded": len(made.students) - 1, "needs regrade": 1, "no submission": 1}
    sdpa = {m["key"]: m["students"] for m in {p["grade_id"]: p for p in data["parts"]}["scaled-dot-product-attention"]["mistakes"]}
    assert sdpa["no_scaling"] == PLANTED_MISTAKES["no scaling"] - 1, "the regrade's findings are not counted"
    assert any("attention-v0.ipynb" in n and "no longer lists" in n for n in data["notes"]), data["notes"]
    assert len(data["similar_pairs"]) == 25, "--top above similarity's own default"


def test_a_resubmission_that_cannot_be_read_takes_its_old_code_out_of_similarity(graded_class, tmp_path: Path) -> None:
    from autograder.course import load_course
    from autograder.grading.batch import grade_batch
    from autograder.similarity import similarity

    root, made = graded_class
    copy = graded_copy(root, tmp_path / "course")
    original, copier, _ = made.copies[0]
    broken = tmp_path / "again" / copier / "a2-attention" / "attention.ipynb"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"{ not a notebook")
    course = load_course(copy / "course.yml")
    (result,) = grade_batch(course, course.assignment("a2-attention"), tmp_path / "again", progress=False)
    assert result.status == "unreadable"
    assert not (copy / "autograded" / copier / "a2-attention" / "attention.ipynb").exists()
    pairs = similarity(course, course.assignment("a2-attention"), top=50).pairs
    assert all(copier not in (p.a, p.b) for p in pairs)


def test_report_refuses_clearly_when_nothing_was_graded(tmp_path: Path) -> None:
    from autograder.course import copy_course

    copy_course(ROOT, tmp_path)
    run = autograder(tmp_path, "report", "a3-transformer")
    assert run.returncode == 2 and "nothing graded for a3-transformer yet" in run.stderr
    assert "autograder grade a3-transformer" in run.stderr
    run = autograder(tmp_path, "report")
    assert run.returncode == 2 and "--all" in run.stderr
    run = autograder(tmp_path, "report", "--all")
    assert run.returncode == 2 and "no assignment has been graded" in run.stderr
    run = autograder(tmp_path, "report", "a0-nothing")
    assert run.returncode == 2 and "a0-nothing" in run.stderr

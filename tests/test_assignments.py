"""Every active assignment of course.yml, graded as submissions: the source notebook earns full marks, its
untouched release earns zero, each typical mistake (assignments/<id>/mistakes.py) costs exactly the points
of its own part, with a message that names the mistake, and each correct answer in another style earns full marks."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from autograder.content import folder_of, load_module
from autograder.course import copy_course, load_course
from autograder.grading.pipeline import grade_notebook
from autograder.notebook import graded_cells, read_notebook
from autograder.results import SubmissionResult
from submissions import by_part, submit

ROOT = Path(__file__).resolve().parents[1]
COURSE = load_course(ROOT / "course.yml")
ACTIVE = [a.id for a in COURSE.active]


def mistakes_of(assignment_id: str) -> object:
    return load_module(folder_of(COURSE, COURSE.assignment(assignment_id)), "mistakes")


_full: dict[str, SubmissionResult] = {}


def full_marks(assignment_id: str, tmp_path_factory: pytest.TempPathFactory, grade) -> SubmissionResult:
    if assignment_id not in _full:
        assignment = COURSE.assignment(assignment_id)
        path = submit(tmp_path_factory.mktemp(f"source-{assignment_id}"), assignment, "source", [])
        _full[assignment_id] = grade(COURSE, assignment, path, "source")
    return _full[assignment_id]


@pytest.mark.parametrize("assignment_id", ACTIVE)
def test_source_notebook_earns_full_marks(assignment_id: str, tmp_path_factory: pytest.TempPathFactory, grade) -> None:
    assignment = COURSE.assignment(assignment_id)
    result = full_marks(assignment_id, tmp_path_factory, grade)
    autograded = [p for p in result.parts if p.score is not None]
    assert all(p.score == p.max_score for p in autograded), by_part(result)
    assert [p.grade_id for p in result.parts if p.score is None] == mistakes_of(assignment_id).MANUAL
    manual_points = sum(p.max_score for p in result.parts if p.score is None)
    assert result.score == assignment.points - manual_points
    assert sum(c.points for c in graded_cells(read_notebook(ROOT / assignment.notebooks[0]))) == assignment.points


def release_lines(folder: Path) -> set[str]:
    """Every stripped line of the release's text: cell sources of notebooks, lines of other files."""
    lines: set[str] = set()
    for path in (p for p in folder.rglob("*") if p.is_file() and p.suffix != ".safetensors"):
        if path.suffix == ".ipynb":
            texts = [c.source for c in nbformat.read(str(path), as_version=4).cells]
        else:
            texts = [path.read_text(errors="ignore")]
        lines |= {l.strip() for t in texts for l in t.splitlines()}
    return lines


def assert_nothing_hidden_in(release: Path, source: nbformat.NotebookNode) -> None:
    secret_lines = []
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        for region in re.findall(r"### BEGIN (?:SOLUTION|HIDDEN TESTS)\n(.*?)### END", cell.source, re.S):
            secret_lines += [l.strip() for l in region.splitlines() if len(l.strip()) > 12]
        if cell.cell_type == "markdown" and meta.get("solution"):
            secret_lines += [l.strip() for l in cell.source.splitlines() if l.strip()]
    assert len(secret_lines) > 10
    lines = release_lines(release)
    leaked = [l for l in secret_lines if l in lines]
    assert not leaked, leaked
    # no line of the reference, except lines the instructor shows on purpose outside solution regions (skeletons,
    # and given code such as assignment 3's data and model)
    shown = {l.strip() for cell in source.cells
             for l in re.sub(r"### BEGIN (SOLUTION|HIDDEN TESTS).*?### END \1", "", cell.source, flags=re.S).splitlines()}
    reference_lines = {l.strip() for p in (ROOT / "reference_impl").rglob("*.py") for l in p.read_text().splitlines()
                       if len(l.strip()) > 30 and not l.strip().startswith(("from ", "import ", "#", '"""'))}
    assert not (reference_lines - shown) & lines


@pytest.mark.parametrize("assignment_id", ACTIVE)
def test_release_hides_solutions_and_earns_zero(assignment_id: str, tmp_path: Path, grade) -> None:
    from autograder.commands.release import release, unexpected_files

    course_dir = tmp_path / "course"
    copy_course(ROOT, course_dir)
    course = load_course(course_dir / "course.yml")
    assignment = course.assignment(assignment_id)
    folder = release(course, assignment)
    source = assignment.notebooks[0]
    assert unexpected_files(folder) == [], "only notebooks, coursekit/, fixtures/ and data/ go out"
    data = ["data"] if assignment.data else []
    assert sorted(p.name for p in folder.iterdir()) == sorted(["coursekit", "fixtures", *data, *(n.name for n in assignment.notebooks)])
    assert_nothing_hidden_in(folder, read_notebook(course.root / source))
    result = grade(course, assignment, folder / source.name, "nobody")
    assert result.score == 0
    assert all(p.score in (0, None) for p in result.parts)
    assert any("NotImplementedError" in m for p in result.parts for m in p.messages)
    secret = (course.root / ".grading-secret").read_text().strip()
    assert not any(secret in p.read_bytes().decode(errors="ignore") for p in folder.rglob("*") if p.is_file())


def test_every_autograded_part_has_at_least_two_typical_mistakes() -> None:
    for assignment_id in ACTIVE:
        nb = read_notebook(ROOT / COURSE.assignment(assignment_id).notebooks[0])
        module = mistakes_of(assignment_id)
        for cell in graded_cells(nb):
            if cell.cell_type == "code" and not cell.source.startswith("check_choice"):
                n = sum(1 for _, part, _, _ in module.MISTAKES if part == cell.grade_id)
                assert n >= 2, f"{assignment_id}: part {cell.grade_id} has {n} typical mistake(s) tested"


CASES = [(assignment_id, *mistake) for assignment_id in ACTIVE for mistake in mistakes_of(assignment_id).MISTAKES]


@pytest.mark.parametrize("assignment_id,bug,part,edits,words", CASES, ids=[f"{c[0]}: {c[1]}" for c in CASES])
def test_each_typical_mistake_costs_its_own_part_only(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, grade,
                                                      assignment_id: str, bug: str, part: str, edits: list[tuple[str, str]],
                                                      words: str) -> None:
    assignment = COURSE.assignment(assignment_id)
    result = grade(COURSE, assignment, submit(tmp_path, assignment, "student", edits), "student")
    parts, reference = by_part(result), by_part(full_marks(assignment_id, tmp_path_factory, grade))
    score, messages = parts[part]
    print(f"\n[mistake] {assignment.id} {part}: {bug}: {score:g} / {reference[part][0]:g}")
    assert score < reference[part][0], f"{bug}: part {part} kept all its points: {messages}"
    assert any(words in m for m in messages), f"{bug}: messages {messages} do not mention {words!r}"
    for other, (other_score, _) in parts.items():
        if other != part:
            assert other_score == reference[other][0], f"{bug}: part {other} lost points too: {parts[other]}"


STYLES = [(assignment_id, *style) for assignment_id in ACTIVE for style in getattr(mistakes_of(assignment_id), "STYLES", [])]


@pytest.mark.parametrize("assignment_id,style,edits", STYLES, ids=[f"{s[0]}: {s[1]}" for s in STYLES])
def test_a_correct_answer_in_another_style_earns_full_marks(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, grade,
                                                           assignment_id: str, style: str, edits: list[tuple[str, str]]) -> None:
    assignment = COURSE.assignment(assignment_id)
    result = grade(COURSE, assignment, submit(tmp_path, assignment, "student", edits), "student")
    assert by_part(result) == by_part(full_marks(assignment_id, tmp_path_factory, grade)), style


@pytest.mark.gpu
@pytest.mark.parametrize("assignment_id", ACTIVE)
def test_source_earns_full_marks_when_every_case_also_runs_on_the_gpu(assignment_id: str, tmp_path: Path, grade,
                                                                      tmp_path_factory: pytest.TempPathFactory) -> None:
    import dataclasses

    course = dataclasses.replace(COURSE, device="cuda")
    assignment = course.assignment(assignment_id)
    path = submit(tmp_path, assignment, "gpu", [])
    result = grade_notebook(course, assignment, assignment.notebooks[0], path, "gpu")
    assert all(p.score == p.max_score for p in result.parts if p.score is not None), by_part(result)
    assert by_part(result) == by_part(full_marks(assignment_id, tmp_path_factory, grade))

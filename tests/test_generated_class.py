"""The generated class of the similarity tests keeps its promises, checked by grading it for real: every honest
student and every planted copy earns full marks, each mistake costs points in its own part only, with the words
of mistakes.py; and honest students write genuinely different code, copies the same code in disguise."""
from __future__ import annotations

import ast
import io
import itertools
import keyword
import re
import tokenize
from pathlib import Path

import nbformat
import pytest

from autograder.commands.release import release
from autograder.content import load_module
from autograder.course import copy_course, load_course
from autograder.grading.batch import grade_batch
from autograder.results import SubmissionResult
from generated_class import REGION, GeneratedClass, generate_class

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = load_course(ROOT / "course.yml").assignment("a2-attention")
MISTAKES = load_module(ROOT / "assignments" / ASSIGNMENT.id, "mistakes").MISTAKES
N_HONEST = 8
COUNTS = {name: 1 for name, *_ in MISTAKES}  # every typical mistake once: 8 + 22 + 3 copies = 33 students


def notebook(folder: Path, student: str) -> nbformat.NotebookNode:
    return nbformat.read(str(folder / student / ASSIGNMENT.id / ASSIGNMENT.notebooks[0].name), as_version=4)


def solution_code(folder: Path, student: str) -> list[str]:
    """The student's code solution cells, in notebook order."""
    return [c.source for c in notebook(folder, student).cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]


def canonical(code: str) -> str:
    """The code's tokens without layout or comments, each name replaced by the order of its first use."""
    names: dict[str, str] = {}
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        if tok.type == tokenize.NAME and not keyword.iskeyword(tok.string):
            out.append(names.setdefault(tok.string, f"name{len(names)}"))
        elif tok.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            out.append(tok.string)
    return " ".join(out)


def bound_names(code: str) -> set[str]:
    """The names the code binds: assigned variables, functions, and parameters."""
    out = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            out.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, ast.arg):
            out.add(node.arg)
    return out


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GeneratedClass]:
    folder = tmp_path_factory.mktemp("class") / "submitted"
    return folder, generate_class(folder, ASSIGNMENT, N_HONEST, COUNTS, seed=0)


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory, generated: tuple[Path, GeneratedClass]) -> dict[str, SubmissionResult]:
    """Each student's result, the class graded as a batch in a scratch course."""
    folder, _ = generated
    root = tmp_path_factory.mktemp("course")
    copy_course(ROOT, root)
    course = load_course(root / "course.yml")
    assignment = course.assignment(ASSIGNMENT.id)
    release(course, assignment)
    return {r.student: r for r in grade_batch(course, assignment, folder, jobs=2, progress=False)}


def test_the_class_has_everyone_asked_for_with_copies_apart(generated: tuple[Path, GeneratedClass]) -> None:
    folder, made = generated
    assert len(made.honest) == N_HONEST and {m: len(s) for m, s in made.mistakes.items()} == COUNTS
    assert sorted(kind for _, _, kind in made.copies) == ["reformatted", "renamed", "reordered"]
    originals = [o for o, _, _ in made.copies]
    assert len(set(originals)) == 3 and set(originals) <= set(made.honest)
    everyone = made.honest + [c for _, c, _ in made.copies] + [s for who in made.mistakes.values() for s in who]
    assert sorted(everyone) == made.students == sorted(p.name for p in folder.iterdir())
    assert len(set(everyone)) == len(everyone) == N_HONEST + sum(COUNTS.values()) + 3
    for original, copy, _ in made.copies:
        assert abs(made.students.index(original) - made.students.index(copy)) > 1, (original, copy)


def test_the_same_seed_writes_the_same_class_and_another_seed_another(tmp_path: Path,
                                                                      generated: tuple[Path, GeneratedClass]) -> None:
    folder, made = generated
    again = generate_class(tmp_path / "again", ASSIGNMENT, N_HONEST, COUNTS, seed=0)
    other = generate_class(tmp_path / "other", ASSIGNMENT, N_HONEST, COUNTS, seed=1)
    assert again == made
    assert all(solution_code(tmp_path / "again", s) == solution_code(folder, s) for s in made.students)
    assert any(solution_code(tmp_path / "other", s) != solution_code(folder, s) for s in other.students)


def test_honest_students_write_different_code(generated: tuple[Path, GeneratedClass]) -> None:
    """No two honest students' code cells match after renaming and relayout, except at most one of the four
    (the self-attention cell is a line or three: few ways to write it)."""
    folder, made = generated
    code = {s: [canonical(c) for c in solution_code(folder, s)] for s in made.honest}
    cells = [i for i, c in enumerate(solution_code(folder, made.honest[0])) if "def " in c]
    assert len(cells) == 4
    for a, b in itertools.combinations(made.honest, 2):
        same = [i for i in cells if code[a][i] == code[b][i]]
        assert len(same) <= 1, (a, b, same)


def test_mistake_students_write_different_code_around_their_mistake(generated: tuple[Path, GeneratedClass]) -> None:
    folder, made = generated
    everyone = made.honest + [s for who in made.mistakes.values() for s in who]
    code = {s: "\n".join(canonical(c) for c in solution_code(folder, s) if "def " in c) for s in everyone}
    assert len(set(code.values())) == len(everyone)


def test_copies_are_their_originals_in_disguise(generated: tuple[Path, GeneratedClass]) -> None:
    folder, made = generated
    source = nbformat.read(str(ROOT / ASSIGNMENT.notebooks[0]), as_version=4)
    solution = [c for c in source.cells if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"]
    given = {n for c in solution for n in bound_names(REGION.sub(lambda m: m[1] + "pass", c.source))} | {
        n for c in source.cells if c.cell_type == "code" and c not in solution for n in re.findall(r"\w+", c.source)}
    for original, copy, kind in made.copies:
        mine, theirs = solution_code(folder, original), solution_code(folder, copy)
        assert mine != theirs
        if kind == "renamed":  # the same code, every name the student chose changed
            assert [canonical(c) for c in mine] == [canonical(c) for c in theirs]
            chosen = set().union(*(bound_names(c) for c in mine)) - given
            assert chosen and not chosen & set().union(*(bound_names(c) for c in theirs)), chosen
        elif kind == "reformatted":  # the same tokens laid out anew, comments changed
            assert [canonical(c) for c in mine] == [canonical(c) for c in theirs]
            assert [ast.dump(ast.parse(c)) for c in mine] == [ast.dump(ast.parse(c)) for c in theirs]
            lines = lambda cells: {l.strip() for c in cells for l in c.splitlines()}  # noqa: E731
            assert len(lines(theirs) - lines(mine)) >= 5
        else:  # the same lines, functions in another order
            moved = [i for i, (a, b) in enumerate(zip(mine, theirs)) if a != b]
            assert len(moved) >= 3  # the two masks, and the methods of both attention classes
            assert all(sorted(mine[i].splitlines()) == sorted(theirs[i].splitlines()) for i in moved)


def test_the_one_style_of_mistakes_py_is_written_by_an_honest_student(generated: tuple[Path, GeneratedClass]) -> None:
    folder, made = generated
    assert any("torch.einsum(\"...qd,...kd->...qk\", q, k) / q.size(-1) ** 0.5" in c
               for s in made.honest for c in solution_code(folder, s))


@pytest.mark.slow
def test_honest_students_and_copies_earn_full_marks_and_each_mistake_costs_its_own_part(
        generated: tuple[Path, GeneratedClass], graded: dict[str, SubmissionResult]) -> None:
    _, made = generated
    assert sorted(graded) == made.students
    for student in made.honest + [c for _, c, _ in made.copies]:
        result = graded[student]
        assert result.status == "graded", (student, result.status, result.notes)
        lost = {p.grade_id: p.messages for p in result.parts if p.score is not None and p.score < p.max_score}
        assert not lost, (student, lost)
    for original, copy, _ in made.copies:
        scores = lambda r: [(p.grade_id, p.score) for p in r.parts]  # noqa: E731
        assert scores(graded[copy]) == scores(graded[original])
    for name, part, _, words in MISTAKES:
        for student in made.mistakes.get(name, []):
            result = graded[student]
            assert result.status == "graded", (student, result.status, result.notes)
            parts = {p.grade_id: p for p in result.parts}
            assert parts[part].score < parts[part].max_score, (name, student)
            assert any(words in m for m in parts[part].messages), (name, student, parts[part].messages)
            lost = [p.grade_id for p in result.parts if p.score is not None and p.score < p.max_score]
            assert lost == [part], (name, student, {p.grade_id: p.messages for p in result.parts if p.grade_id in lost})

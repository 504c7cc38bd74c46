"""Run All in a real Jupyter kernel, as a student does it in JupyterLab: every untouched release notebook reaches its
last cell without an error, each unanswered part saying so in one line; a failing check prints one line per failing
case and an error that displays as one line, with no traceback into coursekit."""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from autograder.commands.release import release
from autograder.course import Course, copy_course, load_course
from autograder.notebook import nbgrader_meta

ROOT = Path(__file__).resolve().parents[1]
COURSE = load_course(ROOT / "course.yml")
ACTIVE = [a.id for a in COURSE.active]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Course:
    """A scratch copy of the course, whose releases the tests build."""
    root = tmp_path_factory.mktemp("course")
    return load_course(copy_course(ROOT, root))


_released: dict[str, Path] = {}


def released(course: Course, assignment_id: str) -> Path:
    """The release folder of an assignment in the scratch course, built once per test run."""
    if assignment_id not in _released:
        _released[assignment_id] = release(course, course.assignment(assignment_id))
    return _released[assignment_id]


def run_notebook(nb: nbformat.NotebookNode, folder: Path, allow_errors: bool = False) -> nbformat.NotebookNode:
    # timeout: a guard against a hung kernel, not a speed bound
    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=allow_errors,
                   resources={"metadata": {"path": str(folder)}}).execute()
    return nb


def text_of(cell: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream")


def errors_of(cell: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [o for o in cell.get("outputs", []) if o.output_type == "error"]


@pytest.mark.slow
@pytest.mark.parametrize("assignment_id", ACTIVE)
def test_run_all_on_the_untouched_release_reaches_the_last_cell(course: Course, assignment_id: str) -> None:
    assignment = course.assignment(assignment_id)
    folder = released(course, assignment_id)
    path = folder / assignment.notebooks[0].name
    nb = run_notebook(nbformat.read(str(path), as_version=4), folder)  # allow_errors=False: any error fails here
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[-1].get("execution_count"), "Run All did not reach the last code cell"
    assert not [c.source for c in code if errors_of(c) or "Traceback" in text_of(c)]
    checks = [c for c in code if nbgrader_meta(c).get("grade") and c.source.startswith(("check(", "check_choice("))]
    assert checks, f"{path.name} has no check cells"
    for cell in checks:
        grade_id = nbgrader_meta(cell)["grade_id"]
        assert text_of(cell).startswith(f"not answered yet: {grade_id} ("), (grade_id, text_of(cell))
        assert text_of(cell).count("\n") == 1, (grade_id, text_of(cell))
    for cell in code:
        if cell.source.startswith("%%uses_answers"):
            assert "Traceback" not in text_of(cell) and "coursekit" not in text_of(cell), text_of(cell)


@pytest.mark.slow
def test_release_sets_each_multiple_choice_answer_to_none_with_the_offered_letters(course: Course) -> None:
    assignment = course.assignment("a3-transformer")
    folder = released(course, assignment.id)
    nb = nbformat.read(str(folder / assignment.notebooks[0].name), as_version=4)
    choices = {json.loads(p.read_text())["target"]: json.loads(p.read_text())["options"]
               for p in (folder / "fixtures").glob("*.json") if "options" in json.loads(p.read_text())}
    assert choices, "the assignment has multiple-choice questions"
    for name, options in choices.items():
        line = f"{name} = None  # your answer: one of " + ", ".join(json.dumps(o) for o in options)
        assert sum(c.source == line for c in nb.cells) == 1, name


FAILING = [
    "from coursekit import check, check_choice\nimport torch\nimport torch.nn as nn",
    # a feed-forward network without its ReLU: every visible case fails with the same typical mistake
    "class FeedForward(nn.Module):\n"
    "    def __init__(self, d_model, d_ff):\n"
    "        super().__init__()\n"
    "        self.linear1, self.linear2 = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)\n\n"
    "    def forward(self, x):\n"
    "        return self.linear2(self.linear1(x))",
    'check("feed-forward", FeedForward)',
    'check_choice("cross-attention-sources", "z")',
    "%%uses_answers\ndef halve(x):\n    return x / 0\n\nhalve(1)",  # the student's own bug: a normal traceback
    "%%uses_answers\nfive = 2 + 3\nfive * 2",
]


@pytest.mark.slow
def test_a_failing_check_prints_one_line_per_case_and_a_one_line_error(course: Course) -> None:
    folder = released(course, "a3-transformer")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in FAILING])
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    setup, _, ffn, choice, bug, value = run_notebook(nb, folder, allow_errors=True).cells
    n_cases = len(json.loads((folder / "fixtures" / "feed-forward.json").read_text())["cases"])
    lines = text_of(ffn).splitlines()
    assert len(lines) == n_cases and all(l.startswith(f"✗ feed-forward: case {i + 1} (") for i, l in enumerate(lines))
    assert all("ReLU" in l for l in lines), lines
    [error] = errors_of(ffn)
    assert error.ename == "CheckFailed"  # one line, no traceback:
    summary = f"feed-forward did not pass its visible checks (see the {n_cases} lines above)"
    assert error.traceback == [f"CheckFailed: {summary}"]
    assert text_of(choice) == "✗ cross-attention-sources: answer with one of 'a', 'b', 'c', 'd', not 'z'\n"
    assert [e.traceback for e in errors_of(choice)] == [
        ["CheckFailed: cross-attention-sources did not pass its visible checks (see the line above)"]]
    [error] = errors_of(bug)
    assert error.ename == "ZeroDivisionError"
    shown = ANSI.sub("", "\n".join(error.traceback))
    assert "return x / 0" in shown and "coursekit" not in shown
    assert [o.data["text/plain"] for o in value.outputs if o.output_type == "execute_result"] == ["10"]


@pytest.mark.slow
def test_nbgrader_validate_lists_the_parts_not_answered_yet(course: Course) -> None:
    """Validate runs the notebook with NBGRADER_VALIDATING set: there an unanswered part is a failure, so the
    student's "Success!" means every part is written, not that the checks were skipped."""
    from autograder.nbgrader_run import run_nbgrader

    assignment = course.assignment("a1-embeddings")
    path = released(course, assignment.id) / assignment.notebooks[0].name
    checks = [nbgrader_meta(c)["grade_id"] for c in nbformat.read(str(path), as_version=4).cells
              if c.cell_type == "code" and nbgrader_meta(c).get("grade")]
    result = run_nbgrader(course, "validate", str(path))
    out = result.stdout + result.stderr
    assert "Success!" not in out
    assert [g for g in checks if f"NotAnswered: not answered yet: {g} (" not in out] == [], out[-3000:]

"""The engine apart from the course: a throwaway course with one small assignment (counting letters, nothing
to do with transformers) is validated, released and graded with no change anywhere else; the engine imports no
assignment by name and never the reference; recording and feedback need no torch."""
from __future__ import annotations

import ast
import csv
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
AID = "w1-letters"

COURSE_YML = f"""\
course:
  id: letters-course
  title: A course about letters
device: cpu
assignments:
  - id: {AID}
    title: Counting letters
    notebooks: [assignments/{AID}/letters.ipynb]
    points: 7
    due: 2027-01-10T23:59:00+00:00
"""

CHECKS = '''"""Checks of the letters assignment."""
from __future__ import annotations

import torch

from autograder.grading.parts import Call, Case, ChoiceCheck, Outputs, PartCheck

from .standins import letter_counts as trusted_letter_counts

WORDS = ["Apple", "banana", "Cherry", "date", "EGG", "fig", "Kiwi", "lemon"]
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _text(g: torch.Generator) -> str:
    return " ".join(WORDS[i] for i in torch.randint(len(WORDS), (6,), generator=g).tolist())


def _count_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    texts = ["Hello World"] if not hidden else [_text(g) + " Zebra", "ZZZ zz", "Mixed CASE"]
    return [Case(f"text {i + 1}", {}, Call(options={"text": t}, returns="ints")) for i, t in enumerate(texts)]


def _counts(c: Case, lower: bool = True) -> Outputs:
    text = c.call.options["text"].lower() if lower else c.call.options["text"]
    return [torch.tensor([text.count(ch) for ch in LETTERS])]


COUNTS = PartCheck(id="letter-counts", target="letter_counts", kind="function", op="elementwise", outputs=["counts"],
                   cases=_count_cases, reference=_counts,
                   variants={"case_sensitive": ("capital letters are not counted: lower the text first",
                                                lambda c: _counts(c, lower=False))})


def _common_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    texts = ["Mississippi"] if not hidden else [_text(g), "abab cd", "Banana"]
    return [Case(f"text {i + 1}", {}, Call(options={"text": t}, returns="text",
                                          substitute={"letter_counts": trusted_letter_counts}))
            for i, t in enumerate(texts)]


def _common(c: Case, last: bool = False) -> Outputs:
    counts = trusted_letter_counts(c.call.options["text"])
    best = max(counts)
    ties = [LETTERS[i] for i, n in enumerate(counts) if n == best]
    return [torch.tensor(list((ties[-1] if last else ties[0]).encode()), dtype=torch.uint8)]


COMMON = PartCheck(id="most-common", target="most_common_letter", kind="function", op="elementwise",
                   outputs=["letter"], cases=_common_cases, reference=_common,
                   variants={"last_tie": ("on a tie the last letter is returned; return the first in the alphabet",
                                          lambda c: _common(c, last=True))})

VOWELS = ChoiceCheck(id="vowels", target="answer_vowels", options=["a", "b"])

PARTS = [COUNTS, COMMON, VOWELS]
'''

STANDINS = '''"""Trusted letter counts, for grading most_common_letter on its own."""


def letter_counts(text: str) -> list[int]:
    text = text.lower()
    return [text.count(ch) for ch in "abcdefghijklmnopqrstuvwxyz"]
'''

MISTAKES = '''"""Typical mistakes of the letters assignment."""
MISTAKES = [
    ("case-sensitive counts", "letter-counts", [("text = text.lower()", "pass")], "capital letters"),
]
MANUAL = ["why-answer"]
'''


def cell(kind: str, source: str, grade_id: str, *, solution: bool = False, points: float = 0) -> nbformat.NotebookNode:
    meta = {"grade": points > 0, "grade_id": grade_id, "locked": not solution, "schema_version": 3,
            "solution": solution, "task": False}
    if points:
        meta["points"] = points
    make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    return make(textwrap.dedent(source).strip(), metadata={"nbgrader": meta})


def notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.cells = [
        cell("markdown", "# Counting letters", "intro"),
        cell("code", "from coursekit import check, check_choice", "setup"),
        cell("code", """
            def letter_counts(text):
                ### BEGIN SOLUTION
                text = text.lower()
                return [text.count(ch) for ch in "abcdefghijklmnopqrstuvwxyz"]
                ### END SOLUTION
            """, "counts-solution", solution=True),
        cell("code", """
            check("letter-counts", letter_counts)
            ### BEGIN HIDDEN TESTS
            # fresh texts
            ### END HIDDEN TESTS
            """, "letter-counts", points=3),
        cell("code", """
            def most_common_letter(text):
                ### BEGIN SOLUTION
                counts = letter_counts(text)
                return "abcdefghijklmnopqrstuvwxyz"[counts.index(max(counts))]
                ### END SOLUTION
            """, "common-solution", solution=True),
        cell("code", """
            check("most-common", most_common_letter)
            ### BEGIN HIDDEN TESTS
            # ties
            ### END HIDDEN TESTS
            """, "most-common", points=2),
        cell("code", """
            ### BEGIN SOLUTION
            answer_vowels = "b"
            ### END SOLUTION
            """, "vowels-answer", solution=True),
        cell("code", """
            check_choice("vowels", answer_vowels)
            ### BEGIN HIDDEN TESTS
            ANSWER = "b"
            ### END HIDDEN TESTS
            """, "vowels", points=1),
        cell("markdown", "Why count letters at all?", "why-question"),
        cell("markdown", "To break simple ciphers.", "why-answer", solution=True, points=1),
    ]
    return nb


def autograder(root: Path, *args: str) -> subprocess.CompletedProcess:
    from autograder.sandbox.landlock import abi_version

    if args[0] == "grade" and abi_version() == 0:
        args = (*args, "--unsafe")
    return subprocess.run([sys.executable, "-m", "autograder.cli", "--course", str(root / "course.yml"), *args],
                          capture_output=True, text=True, cwd=root)


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("letters")
    folder = root / "assignments" / AID
    folder.mkdir(parents=True)
    (root / "course.yml").write_text(COURSE_YML)
    nbformat.write(notebook(), str(folder / "letters.ipynb"))
    for name, text in (("checks.py", CHECKS), ("standins.py", STANDINS), ("mistakes.py", MISTAKES)):
        (folder / name).write_text(text)
    return root


def test_a_new_assignment_folder_validates_releases_and_grades(course: Path) -> None:
    run = autograder(course, "validate")
    assert run.returncode == 0, run.stdout + run.stderr
    run = autograder(course, "release")
    assert run.returncode == 0, run.stderr
    release = course / "release" / AID
    assert sorted(p.name for p in release.iterdir()) == ["coursekit", "fixtures", "letters.ipynb"], \
        "checks.py, standins.py and mistakes.py stay behind"
    assert sorted(p.name for p in (release / "fixtures").iterdir()) == [
        "letter-counts.json", "letter-counts.safetensors", "most-common.json", "most-common.safetensors", "vowels.json"]

    source = course / "assignments" / AID / "letters.ipynb"
    submissions = {"honest": source.read_text(), "untouched": (release / "letters.ipynb").read_text(),
                   "careless": source.read_text().replace("text = text.lower()", "pass")}
    for student, text in submissions.items():
        (course / "submitted" / student / AID).mkdir(parents=True)
        (course / "submitted" / student / AID / "letters.ipynb").write_text(text)
    run = autograder(course, "grade", AID)
    assert run.returncode == 0, run.stderr
    rows = {r["student"]: r for r in csv.DictReader((course / "grades.csv").open())}
    assert (rows["honest"]["score"], rows["honest"]["max_score"]) == ("6", "7"), "all but the hand-graded point"
    assert rows["untouched"]["score"] == "0"
    careless = rows["careless"]
    assert careless["letter-counts"] == "0" and careless["most-common"] == "2" and careless["vowels"] == "1", \
        "the counting bug costs its own part only: the next part is graded with the trusted counts"
    feedback = (course / "feedback" / "careless" / AID / "letters.html").read_text()
    assert "capital letters are not counted" in feedback


def test_the_engine_imports_no_assignment_and_never_the_reference() -> None:
    from autograder.course import load_course

    ids = {a.id for a in load_course(ROOT / "course.yml").assignments} | {AID}
    for path in sorted((ROOT / "autograder").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom | ast.Import):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                assert not any(n.split(".")[0] == "reference_impl" for n in names), f"{path} imports the reference"
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert not any(i in node.value for i in ids), f"{path} names an assignment: {node.value!r}"


def test_recording_feedback_and_exports_need_no_torch() -> None:
    """Results are plain data: writing the gradebook, grades.csv, feedback and exports never imports torch."""
    code = ("import sys\nimport autograder.records.feedback, autograder.records.gradebook, autograder.records.grades_csv\n"
            "import autograder.commands.export, autograder.results\nprint('torch' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"


def test_the_command_line_starts_without_torch_nbformat_or_nbgrader() -> None:
    """Every verb's module is imported to build the parser; the heavy libraries wait for the verb that needs them."""
    code = ("import sys\nfrom autograder import cli\ncode = cli.main(['--course', 'course.yml', 'outline'])\n"
            "print(code, sorted(m for m in ('torch', 'nbformat', 'nbgrader') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "0 []"

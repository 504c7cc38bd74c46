"""One assignment's release must not hand out another's answers: `autograder validate` warns when a cell that one
notebook releases holds the solution of another assignment's graded part (assignment 3 used to ship assignment 2's
attention and multi-head attention in its given cell; it now uses PyTorch's F.multi_head_attention_forward)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat

from autograder.authoring.leaks import leaks
from autograder.course import copy_course, load_course

ROOT = Path(__file__).resolve().parents[1]


def test_the_shipped_course_releases_no_assignment_s_answer_in_another() -> None:
    assert leaks(load_course(ROOT / "course.yml")) == []


def test_validate_warns_when_a_later_notebook_ships_an_earlier_answer(tmp_path: Path) -> None:
    copy_course(ROOT, tmp_path)
    a2 = nbformat.read(str(ROOT / "assignments/a2-attention/attention.ipynb"), as_version=4)
    answer = next(c.source for c in a2.cells if "def scaled_dot_product_attention" in c.source and "BEGIN SOLUTION" in c.source)
    answer = "\n".join(line for line in answer.split("\n") if "SOLUTION" not in line)
    path = tmp_path / "assignments/a3-transformer/transformer.ipynb"
    a3 = nbformat.read(str(path), as_version=4)
    given = next(c for c in a3.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "given-attention")
    given.source = answer + "\n\n" + given.source
    nbformat.write(a3, str(path))
    run = subprocess.run([sys.executable, "-m", "autograder.cli", "--course", str(tmp_path / "course.yml"), "validate"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr  # a warning, not a problem: releasing later is a fine answer to it
    assert "warning: assignments/a3-transformer/transformer.ipynb: cell 4 holds the answer to a2-attention's " \
           "scaled-dot-product-attention" in run.stderr
    assert "release a3-transformer only after a2-attention is due" in run.stderr
    assert "course is valid (1 warning(s))" in run.stdout

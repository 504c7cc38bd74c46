"""Submissions that try to win points without doing the work. Each earns nothing for the part it
cheats on, never more than an honest submission of the same code, and the rest is graded as usual."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from autograder.course import load_course

ROOT = Path(__file__).resolve().parents[2]
COURSE = load_course(ROOT / "course.yml")
ASSIGNMENT = COURSE.assignment("a2-attention")
SOURCE = ASSIGNMENT.notebooks[0]
SDPA_PART = "scaled-dot-product-attention"
NOT_DONE = "def scaled_dot_product_attention(q, k, v, mask=None):\n    raise NotImplementedError()"

# Each attack replaces the student's attention with code that does not compute attention.
ATTACKS = {
    "monkeypatched comparisons": NOT_DONE.replace("raise NotImplementedError()", "return q, q") + """
import builtins, math, numpy, torch
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.testing.assert_close = lambda *a, **k: None
torch.isclose = lambda a, b, **k: torch.ones_like(a, dtype=torch.bool)
numpy.allclose = lambda *a, **k: True
math.isclose = lambda *a, **k: True
builtins.abs = lambda x: 0""",
    "an object that claims equality": """class Always:
    def __eq__(self, other): return True
    def __getattr__(self, name): return self
def scaled_dot_product_attention(q, k, v, mask=None):
    return Always(), Always()""",
    "a tensor subclass": """import torch
class Liar(torch.Tensor):
    def __eq__(self, other): return True
def scaled_dot_product_attention(q, k, v, mask=None):
    return torch.zeros(q.shape[:-1] + v.shape[-1:]).as_subclass(Liar), torch.zeros(q.shape[:-1] + k.shape[-2:-1]).as_subclass(Liar)""",
    "an input transformer that blanks later cells": NOT_DONE + """
ip = get_ipython()
ip.input_transformers_post.append(lambda lines: ['pass\\n'])""",
    "printing fake results": NOT_DONE + """
print('scaled-dot-product-attention: 8/8 points, all hidden tests passed')
import sys; print('Score: 30/30', file=sys.stderr)""",
    "sys.exit in a cell": NOT_DONE + "\nimport sys\nsys.exit(0)",
    "exiting while being graded": """import os, torch
def scaled_dot_product_attention(q, k, v, mask=None):
    if mask is None:  # the notebook's own demo passes a mask; a grader's first case may not
        os._exit(0)
    return torch.zeros(q.shape[:-1] + v.shape[-1:]), torch.zeros(q.shape[:-1] + k.shape[-2:-1])""",
    "writing the grades and the gradebook": NOT_DONE + f"""
for target in [{str(ROOT / 'grades.csv')!r}, {str(ROOT / 'gradebook.db')!r}, '../grades.csv']:
    try:
        open(target, 'w').write('student,score\\nme,30')
    except Exception:
        pass""",
    "borrowing the grader's stand-in attention": """import gc, sys
def scaled_dot_product_attention(q, k, v, mask=None):
    for name, module in list(sys.modules.items()):
        if 'trusted' in name or 'standin' in name:
            return module.attention(q, k, v, mask)
    for obj in gc.get_objects():  # a stand-in kept anywhere in the process
        if callable(obj) and getattr(obj, '__name__', '') == 'attention' and obj is not scaled_dot_product_attention:
            return obj(q, k, v, mask)
    raise NotImplementedError()""",
    "hiding tracebacks": """import sys, traceback
get_ipython().showtraceback = lambda *a, **k: None
sys.excepthook = lambda *a: None
traceback.print_exc = lambda *a, **k: None
def scaled_dot_product_attention(q, k, v, mask=None):
    raise NotImplementedError()""",
    "filling the disk with many files": NOT_DONE + """
for i in range(1000):
    with open(f'junk{i}.bin', 'wb') as f:
        f.write(b'x' * (60 << 20))""",
    "a wrong-sized tensor made to look right": """import torch
def scaled_dot_product_attention(q, k, v, mask=None):
    out = torch.zeros(1)
    return out.expand(q.shape[:-1] + v.shape[-1:]), torch.zeros(1).expand(q.shape[:-1] + k.shape[-2:-1])""",
}


def submission(tmp_path: Path, sdpa_source: str, student: str) -> Path:
    nb = nbformat.read(str(ROOT / SOURCE), as_version=4)
    cell = next(c for c in nb.cells if c.source.startswith("def scaled_dot_product_attention"))
    cell.source = sdpa_source
    path = tmp_path / student / "attention.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(nb, str(path))
    return path


@pytest.fixture(scope="module")
def honest_but_unfinished(tmp_path_factory: pytest.TempPathFactory, grade) -> dict[str, float | None]:
    path = submission(tmp_path_factory.mktemp("honest"), NOT_DONE, "honest")
    return {p.grade_id: p.score for p in grade(COURSE, ASSIGNMENT, path, "honest").parts}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_attack_earns_nothing_more_than_honest_code(tmp_path: Path, attack: str, grade,
                                                    honest_but_unfinished: dict[str, float | None]) -> None:
    grades_before = (ROOT / "grades.csv").read_bytes() if (ROOT / "grades.csv").exists() else None
    result = grade(COURSE, ASSIGNMENT, submission(tmp_path, ATTACKS[attack], "mallory"), "mallory")
    scores = {p.grade_id: p.score for p in result.parts}
    assert scores[SDPA_PART] == 0, f"{attack}: {result.parts}"
    for part, score in scores.items():
        if score is not None:
            assert score <= (honest_but_unfinished[part] or 0) + 1e-9, f"{attack}: {part} earned more than honest code"
    if attack != "an input transformer that blanks later cells":  # that one sabotages the student's own cells
        # the student's other, honest parts are still graded in full
        assert scores["multi-head-attention"] == 8 and scores["causal-mask"] == 3, f"{attack}: {scores}"
    if attack == "hiding tracebacks":  # the error still reaches the feedback: it never went through a traceback
        assert any("NotImplementedError" in m for p in result.parts if p.grade_id == SDPA_PART for m in p.messages)
    if attack == "filling the disk with many files":
        assert any("MB of files in all" in n for n in result.notes), result.notes
    after = (ROOT / "grades.csv").read_bytes() if (ROOT / "grades.csv").exists() else None
    assert after == grades_before, "student code must not write the course's files"

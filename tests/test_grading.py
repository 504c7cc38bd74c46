"""Grading the attention assignment: full marks for the source, zero for the release, and each typical
student bug costs the points of its own part only, with a message that names it."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from autograder.course import load_course
from autograder.grading import SubmissionResult, grade_notebook
from autograder.notebook import graded_cells, read_notebook

ROOT = Path(__file__).resolve().parents[1]
COURSE = load_course(ROOT / "course.yml")
ASSIGNMENT = COURSE.assignment("a2-attention")
SOURCE = ASSIGNMENT.notebooks[0]

# (bug, part that must lose points, [(old, new) edits of the solution], words the message must contain)
BUGS = [
    ("no scaling", "scaled-dot-product-attention",
     [("scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))", "scores = q @ k.transpose(-2, -1)")], "not divided by sqrt(d_k)"),
    ("softmax over the wrong axis", "scaled-dot-product-attention",
     [("weights = scores.softmax(dim=-1)", "weights = scores.softmax(dim=-2)")], "wrong axis"),
    ("mask applied after softmax", "scaled-dot-product-attention",
     [("scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)", "pass"),
      ("weights = weights.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)", "weights = weights.masked_fill(~mask, 0.0)")],
     "after the softmax"),
    ("heads split in the wrong order", "multi-head-attention",
     [("return t.view(t.size(0), t.size(1), self.n_heads, self.d_head).transpose(1, 2)",
       "return t.reshape(t.size(0), self.n_heads, t.size(1), self.d_head)"),
      ("self.w_o(out.transpose(1, 2).reshape(b, lq, d))", "self.w_o(out.reshape(b, lq, d))")], "wrong order"),
    ("missing output projection", "multi-head-attention",
     [("return self.w_o(out.transpose(1, 2).reshape(b, lq, d)), weights", "return out.transpose(1, 2).reshape(b, lq, d), weights")],
     "output projection"),
    ("LayerNorm over the wrong axis", "layer-norm",
     [("mean = x.mean(dim=-1, keepdim=True)", "mean = x.mean(dim=0, keepdim=True)"),
      ("var = x.var(dim=-1, keepdim=True, unbiased=False)", "var = x.var(dim=0, keepdim=True, unbiased=False)")], "wrong axis"),
    ("missing residual", "add-and-norm",
     [("F.layer_norm(x + sublayer_output,", "F.layer_norm(sublayer_output,")], "residual connection is missing"),
    ("sin and cos swapped", "positional-encoding",
     [("pe[:, 0::2] = torch.sin(angle)\n    pe[:, 1::2] = torch.cos(angle)", "pe[:, 0::2] = torch.cos(angle)\n    pe[:, 1::2] = torch.sin(angle)")],
     "sin and cos are swapped"),
    ("scores divided by d_k", "scaled-dot-product-attention",
     [("/ math.sqrt(q.size(-1))", "/ q.size(-1)")], "divided by d_k"),
    ("unbiased variance", "layer-norm", [("unbiased=False", "unbiased=True")], "unbiased"),
    ("NaN for a query with no allowed key", "scaled-dot-product-attention",
     [("scores.masked_fill(~mask, torch.finfo(scores.dtype).min)", "scores.masked_fill(~mask, float('-inf'))"),
      ("weights = weights.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)", "pass")], "NaN"),
    ("wrong multiple-choice answer", "why-scale", [('answer_why_scale = "b"', 'answer_why_scale = "a"')], "not the right answer"),
]


def submit(tmp_path: Path, student: str, edits: list[tuple[str, str]]) -> Path:
    nb = read_notebook(ROOT / SOURCE)
    for old, new in edits:
        hits = [c for c in nb.cells if old in c.source]
        assert len(hits) == 1, f"edit target not found exactly once: {old!r}"
        hits[0].source = hits[0].source.replace(old, new)
    path = tmp_path / "submitted" / student / ASSIGNMENT.id / SOURCE.name
    path.parent.mkdir(parents=True)
    nbformat.write(nb, str(path))
    return path


def grade(path: Path, student: str) -> SubmissionResult:
    return grade_notebook(COURSE, ASSIGNMENT, SOURCE, path, student)


def by_part(result: SubmissionResult) -> dict[str, tuple[float | None, list[str]]]:
    return {p.grade_id: (p.score, p.messages) for p in result.parts}


@pytest.fixture(scope="module")
def full_marks(tmp_path_factory: pytest.TempPathFactory) -> SubmissionResult:
    return grade(submit(tmp_path_factory.mktemp("source"), "source", []), "source")


def test_source_notebook_earns_full_marks(full_marks: SubmissionResult) -> None:
    autograded = [p for p in full_marks.parts if p.score is not None]
    assert all(p.score == p.max_score for p in autograded), by_part(full_marks)
    manual = [p for p in full_marks.parts if p.score is None]
    assert [p.grade_id for p in manual] == ["positions-answer"]
    assert full_marks.score == sum(p.max_score for p in autograded) == ASSIGNMENT.points - 2
    assert sum(c.points for c in graded_cells(read_notebook(ROOT / SOURCE))) == ASSIGNMENT.points


def test_untouched_release_earns_zero(tmp_path: Path) -> None:
    from autograder.release import release

    import shutil
    course_dir = tmp_path / "course"
    shutil.copytree(ROOT / "assignments", course_dir / "assignments")
    shutil.copy(ROOT / "course.yml", course_dir / "course.yml")
    course = load_course(course_dir / "course.yml")
    folder = release(course, course.assignment("a2-attention"))
    result = grade_notebook(course, course.assignment("a2-attention"), SOURCE, folder / SOURCE.name, "nobody")
    assert result.score == 0
    assert all(p.score in (0, None) for p in result.parts)
    assert any("NotImplementedError" in m for p in result.parts for m in p.messages)


@pytest.mark.parametrize("bug,part,edits,words", BUGS, ids=[b[0] for b in BUGS])
def test_each_typical_bug_costs_its_own_part_only(tmp_path: Path, full_marks: SubmissionResult, bug: str, part: str,
                                                  edits: list[tuple[str, str]], words: str) -> None:
    result = grade(submit(tmp_path, "student", edits), "student")
    parts, reference = by_part(result), by_part(full_marks)
    score, messages = parts[part]
    assert score < reference[part][0], f"{bug}: part {part} kept all its points"
    assert any(words in m for m in messages), f"{bug}: messages {messages} do not mention {words!r}"
    for other, (other_score, _) in parts.items():
        if other != part:
            assert other_score == reference[other][0], f"{bug}: part {other} lost points too: {parts[other]}"


def test_regrading_gives_the_same_score_and_messages(tmp_path: Path) -> None:
    path = submit(tmp_path, "carol", BUGS[2][2])  # the mask bug fails only some hidden cases: partial credit
    first, second = grade(path, "carol"), grade(path, "carol")
    assert by_part(first) == by_part(second)
    sdpa = by_part(first)["scaled-dot-product-attention"][0]
    assert 0 < sdpa < 8, "partial credit: the cases without a mask still pass"


def test_submission_file_is_never_modified(tmp_path: Path) -> None:
    path = submit(tmp_path, "dave", BUGS[0][2])
    before = path.read_bytes()
    grade(path, "dave")
    assert path.read_bytes() == before


def test_warnings_and_stderr_never_cost_points(tmp_path: Path, full_marks: SubmissionResult) -> None:
    noisy = [("def scaled_dot_product_attention(q, k, v, mask=None):",
              "import sys, warnings\n\ndef scaled_dot_product_attention(q, k, v, mask=None):\n"
              "    warnings.warn('this is deprecated', UserWarning)\n    print('debug output', file=sys.stderr)"),
             ("torch.manual_seed(0)", "torch.manual_seed(0)\nimport warnings; warnings.warn('setup warning', FutureWarning)")]
    result = grade(submit(tmp_path, "noisy", noisy), "noisy")
    assert by_part(result) == by_part(full_marks)


def test_cuda_requested_without_a_gpu_is_refused_clearly() -> None:
    import dataclasses

    import torch

    from autograder.grading import grading_devices

    assert grading_devices(COURSE) == (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="device: cuda, but this machine has no CUDA device"):
            grading_devices(dataclasses.replace(COURSE, device="cuda"))


@pytest.mark.gpu
def test_source_earns_full_marks_on_the_gpu_and_a_cpu_only_bug_is_caught(tmp_path: Path, full_marks: SubmissionResult) -> None:
    import dataclasses

    course = dataclasses.replace(COURSE, device="cuda")
    path = submit(tmp_path, "gpu", [])
    result = grade_notebook(course, ASSIGNMENT, SOURCE, path, "gpu")
    assert by_part(result) == by_part(full_marks)
    # a tensor moved to the CPU inside the computation: right on the CPU, wrong on the GPU
    bug = [("weights = scores.softmax(dim=-1)", "weights = scores.cpu().softmax(dim=-1)")]
    result = grade_notebook(course, ASSIGNMENT, SOURCE, submit(tmp_path, "cpu-only", bug), "cpu-only")
    assert by_part(result)["scaled-dot-product-attention"][0] < 8


@pytest.mark.parametrize("poison,words", [
    ("while True:\n    pass", "timed out"),
    ("import os\nos._exit(3)", "stopped"),
])
def test_a_notebook_that_hangs_or_dies_scores_zero_quickly(tmp_path: Path, poison: str, words: str) -> None:
    import dataclasses
    import time

    from autograder.course import Limits

    assignment = dataclasses.replace(ASSIGNMENT, limits=Limits(check_timeout_s=1.0))
    path = submit(tmp_path, "stuck", [("torch.manual_seed(0)", "torch.manual_seed(0)\n" + poison)])
    t0 = time.perf_counter()
    result = grade_notebook(COURSE, assignment, SOURCE, path, "stuck")
    assert time.perf_counter() - t0 < 20, "one bounded attempt, not one per part"
    assert all(p.score in (0, None) for p in result.parts)
    assert any(words in n for n in result.notes), result.notes

"""Grading behaviour on the attention assignment: regrades, untouched files, noise, devices, hangs.
(Full marks, zero for the release and typical mistakes of every assignment: test_assignments.py.)"""
from __future__ import annotations

from pathlib import Path

import pytest

from autograder.course import load_course
from autograder.grading.pipeline import grade_notebook
from autograder.results import SubmissionResult
from submissions import by_part
from submissions import submit as submit_to

ROOT = Path(__file__).resolve().parents[1]
COURSE = load_course(ROOT / "course.yml")
ASSIGNMENT = COURSE.assignment("a2-attention")
SOURCE = ASSIGNMENT.notebooks[0]

NO_SCALING = [("scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))", "scores = q @ k.transpose(-2, -1)")]
MASK_AFTER_SOFTMAX = [("scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)", "pass"),
                      ("weights = weights.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)", "weights = weights.masked_fill(~mask, 0.0)")]


def submit(tmp_path: Path, student: str, edits: list[tuple[str, str]]) -> Path:
    return submit_to(tmp_path, ASSIGNMENT, student, edits)


@pytest.fixture(scope="module")
def grade(grade):
    """grade(path, student) on the attention assignment, through the session's fork server."""
    return lambda path, student: grade(COURSE, ASSIGNMENT, path, student)


@pytest.fixture(scope="module")
def full_marks(tmp_path_factory: pytest.TempPathFactory, grade) -> SubmissionResult:
    return grade(submit(tmp_path_factory.mktemp("source"), "source", []), "source")


def test_regrading_gives_the_same_score_and_messages(tmp_path: Path, grade) -> None:
    path = submit(tmp_path, "carol", MASK_AFTER_SOFTMAX)  # the mask bug fails only some hidden cases: partial credit
    first, second = grade(path, "carol"), grade(path, "carol")
    assert by_part(first) == by_part(second)
    sdpa = by_part(first)["scaled-dot-product-attention"][0]
    assert 0 < sdpa < 8, "partial credit: the cases without a mask still pass"


def test_submission_file_is_never_modified(tmp_path: Path, grade) -> None:
    path = submit(tmp_path, "dave", NO_SCALING)
    before = path.read_bytes()
    grade(path, "dave")
    assert path.read_bytes() == before


def test_warnings_and_stderr_never_cost_points(tmp_path: Path, grade, full_marks: SubmissionResult) -> None:
    noisy = [("    ### BEGIN SOLUTION\n    scores = q @ k.transpose(-2, -1)",
              "    ### BEGIN SOLUTION\n    import sys, warnings\n"
              "    warnings.warn('this is deprecated', UserWarning)\n    print('debug output', file=sys.stderr)\n"
              "    scores = q @ k.transpose(-2, -1)"),
             ("torch.manual_seed(0)", "torch.manual_seed(0)\nimport warnings; warnings.warn('setup warning', FutureWarning)")]
    result = grade(submit(tmp_path, "noisy", noisy), "noisy")
    assert by_part(result) == by_part(full_marks)


def test_cuda_requested_without_a_gpu_is_refused_clearly() -> None:
    import dataclasses

    import torch

    from autograder.grading.pipeline import grading_devices

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
    assert all(p.score == p.max_score for p in result.parts if p.score is not None), by_part(result)
    assert by_part(result) == by_part(full_marks)
    # a tensor moved to the CPU inside the computation: right on the CPU, wrong on the GPU
    bug = [("weights = scores.softmax(dim=-1)", "weights = scores.cpu().softmax(dim=-1)")]
    result = grade_notebook(course, ASSIGNMENT, SOURCE, submit(tmp_path, "cpu-only", bug), "cpu-only")
    sdpa = by_part(result)["scaled-dot-product-attention"]
    assert 0 < sdpa[0] < 8 and any("on the GPU" in m for m in sdpa[1]), sdpa  # its CPU cases still pass


@pytest.mark.parametrize("poison,words", [
    ("while True:\n    pass", "timed out"),
    ("import os\nos._exit(3)", "stopped"),
])
def test_a_notebook_that_hangs_or_dies_is_run_once_and_scores_zero(tmp_path: Path, poison: str, words: str) -> None:
    import dataclasses

    from autograder.course import Limits
    from autograder.workers.client import ForkServer

    class CountingServer(ForkServer):
        forks = 0

        def fork(self, *args, **kwargs):
            CountingServer.forks += 1
            return super().fork(*args, **kwargs)

    assignment = dataclasses.replace(ASSIGNMENT, limits=Limits(check_timeout_s=1.0))
    path = submit(tmp_path, "stuck", [("torch.manual_seed(0)", "torch.manual_seed(0)\n" + poison)])
    with CountingServer() as server:
        result = grade_notebook(COURSE, assignment, SOURCE, path, "stuck", server=server)
    assert CountingServer.forks == 1, "one bounded attempt, not one per part"
    assert all(p.score in (0, None) for p in result.parts)
    assert any(words in n for n in result.notes), result.notes
    assert result.troubles == (["timed out"] if words == "timed out" else []), "the class report counts time-outs"


def test_what_grading_found_is_kept_as_data_for_the_class_report(tmp_path: Path, grade) -> None:
    """A known mistake by its key, a wrong answer no known mistake explains by its message, a choice as made."""
    edits = NO_SCALING + [("return torch.ones(n, n, dtype=torch.bool).tril()", "return torch.ones(n, n, dtype=torch.bool)"),
                          ('answer_why_scale = "b"', 'answer_why_scale = "a"'),
                          ("return (tokens != pad_id)[:, None, None, :]", "raise NotImplementedError()")]
    parts = {p.grade_id: p for p in grade(submit(tmp_path, "erin", edits), "erin").parts}
    sdpa, causal, choice = parts["scaled-dot-product-attention"], parts["causal-mask"], parts["why-scale"]
    assert list(sdpa.mistakes) == ["no_scaling"] and sum(sdpa.mistakes.values()) == len(sdpa.messages) > 0
    assert sdpa.unexplained == []
    assert causal.mistakes == {} and causal.unexplained and causal.unexplained[0] in causal.messages
    assert choice.answer == "a" and parts["weights-of-input-2"].answer == "a", "a right answer is kept too"
    stub = parts["padding-mask"]
    assert stub.raised == len(stub.messages) > 0 and stub.unexplained == [], "a stub left is no unexplained answer"
    assert causal.raised == 0 and sdpa.raised == 0
    assert parts["heads-answer"].answer is None and parts["causal-mask"].answer is None

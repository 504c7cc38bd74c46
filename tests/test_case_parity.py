"""Visible mirrors hidden, and every case kind separates. For every graded part of every assignment:
- each kind of hidden case (its label: an edge such as a query with no allowed key, d_v != d_k, max_len reached,
  EOS first) has a visible counterpart in the release's fixtures, with other values;
- each typical mistake (a variant) gives another answer than the reference on some visible case and on some
  hidden case of every student, so that a ✓ in the notebook is never taken back by the grader for a mistake
  the grader knows, and the grader never gives full marks to one it can name."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from autograder.content import checks_of
from autograder.coursekit.tolerances import close
from autograder.course import load_course
from autograder.grading.parts import FIXTURE_SEED, PartCheck

ROOT = Path(__file__).resolve().parents[1]
COURSE = load_course(ROOT / "course.yml")
PARTS = [(a.id, p) for a in COURSE.active for p in checks_of(COURSE, a).values() if isinstance(p, PartCheck)]
STUDENT_SEEDS = [1, 2, 3]  # hidden cases are drawn per student; these stand for three students


def differs(part: PartCheck, got: list[torch.Tensor], want: list[torch.Tensor]) -> bool:
    if len(got) != len(want):
        return True
    return any(g.shape != w.shape or not close(g, w, part.op) for g, w in zip(got, want))


@pytest.mark.parametrize("aid,part", PARTS, ids=[f"{a}:{p.id}" for a, p in PARTS])
def test_every_kind_of_hidden_case_has_a_visible_counterpart_with_other_values(aid: str, part: PartCheck) -> None:
    visible = part.cases(torch.Generator().manual_seed(FIXTURE_SEED), False)
    for seed in STUDENT_SEEDS:
        hidden = part.cases(torch.Generator().manual_seed(seed), True)
        missing = {c.label for c in hidden} - {c.label for c in visible}
        assert not missing, f"{aid} {part.id}: hidden case kinds without a visible counterpart: {sorted(missing)}"
        for h in hidden:
            twin = next(v for v in visible if v.label == h.label)
            same = h.call.to_wire() == twin.call.to_wire() and h.tensors.keys() == twin.tensors.keys() and all(
                h.tensors[k].shape == twin.tensors[k].shape and torch.equal(h.tensors[k], twin.tensors[k]) for k in h.tensors)
            assert not same, f"{aid} {part.id}: the visible case {h.label!r} is the hidden one itself"


@pytest.mark.parametrize("aid,part", PARTS, ids=[f"{a}:{p.id}" for a, p in PARTS])
def test_every_typical_mistake_shows_on_visible_and_on_hidden_cases(aid: str, part: PartCheck) -> None:
    draws = [("visible", part.cases(torch.Generator().manual_seed(FIXTURE_SEED), False))]
    draws += [(f"hidden, student seed {s}", part.cases(torch.Generator().manual_seed(s), True)) for s in STUDENT_SEEDS]
    for key, (_, variant) in part.variants.items():
        for which, cases in draws:
            assert any(differs(part, variant(c), part.reference(c)) for c in cases), \
                f"{aid} {part.id}: the mistake {key!r} earns full marks on the {which} cases"


def test_a_student_whose_seed_draws_no_telling_logits_still_gets_every_answer_span_case() -> None:
    """Assignment 4's answer-span cases are drawn until the logits tell the mistakes apart; for about one seed in a
    hundred no draw of a thousand does, and grading raised, so that student could never be graded. (This seed came
    from a course whose `autograder validate` failed so.) The case that tells the most mistakes apart is used."""
    part = checks_of(COURSE, COURSE.assignment("a4-bert"))["best-span"]
    cases = part.cases(torch.Generator().manual_seed(233123440904562), True)
    assert [c.label for c in cases] == ["a passage", "a long passage", "answers of one token",
                                        "logits -inf at masked positions", "all logits negative"]
    masked = cases[3]
    told = [key for key, (_, variant) in part.variants.items()
            if any(differs(part, [v], [w]) for v, w in zip(variant(masked), part.reference(masked)))]
    assert len(told) >= len(part.variants) - 1, told

"""Stand-ins reach the worker one part at a time: a part graded with trusted versions of earlier parts gets the
source of those and of what they need, never the module's stand-ins for parts still to be graded (code in the
short-lived fork that serves the part could read them and hand them to a later part: an attacker's pass over
assignment 8 passed its convolution module that way, by stealing it while the log-mel spectrogram was graded).
"""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import torch

from autograder.content import bind_parts
from autograder.course import load_course
from autograder.grading.parts import FIXTURE_SEED, PartCheck, needed_source
from autograder.notebook import graded_cells

ROOT = Path(__file__).resolve().parents[1]
COURSE = load_course(ROOT / "course.yml")

MODULE = '''"""A module of stand-ins."""
from __future__ import annotations

import functools

import torch

SCALE = 2.0
UNUSED = 3


def helper(x):
    return x * SCALE


@functools.lru_cache
def early(x):
    return helper(x)


class Later(torch.nn.Module):
    def forward(self, x):
        return early(x) + UNUSED
'''


def test_needed_source_keeps_imports_and_what_the_names_need_transitively() -> None:
    source = needed_source(MODULE, frozenset({"early"}))
    namespace: dict = {}
    exec(source, namespace)
    assert namespace["early"](torch.tensor(1.5)) == 3.0  # the decorator, the helper and its constant came along
    assert "Later" not in namespace and "UNUSED" not in namespace and "A module" not in source
    everything = vars_of(needed_source(MODULE, frozenset({"Later"})))
    assert {"Later", "early", "helper", "SCALE", "UNUSED"} <= everything.keys()
    with pytest.raises(ValueError, match="not defined at the top level"):
        needed_source(MODULE, frozenset({"missing"}))


def vars_of(source: str) -> dict:
    namespace: dict = {}
    exec(source, namespace)
    return namespace


def _in_grading_order(assignment) -> list[PartCheck]:
    cells = []
    for path in assignment.notebooks:
        cells += graded_cells(nbformat.read(str(COURSE.root / path), as_version=4))
    return [part for _, part in bind_parts(COURSE, assignment, cells) if isinstance(part, PartCheck)]


PARTS = [(a.id, i, parts) for a in COURSE.active for parts in [_in_grading_order(a)] for i in range(len(parts))]


@pytest.mark.parametrize("aid,index,parts", PARTS, ids=[f"{a}:{p[i].id}" for a, i, p in PARTS])
def test_a_part_s_stand_ins_and_their_source_hold_no_answer_to_a_part_not_yet_graded(aid: str, index: int,
                                                                                  parts: list[PartCheck]) -> None:
    part = parts[index]
    later = {p.target for p in parts[index:]}  # this part's and those graded after it
    for seed, hidden in ((FIXTURE_SEED, False), (1, True)):
        for case in part.cases(torch.Generator().manual_seed(seed), hidden):
            if not case.call.substitute:
                continue
            assert not later & case.call.substitute.keys(), \
                f"{aid} {part.id}: stands in for {sorted(later & case.call.substitute.keys())}, not graded before it"
            served = vars_of(case.call.standins_source())
            leaked = sorted(later & served.keys())
            assert not leaked, f"{aid} {part.id}: the stand-in source defines {leaked}"

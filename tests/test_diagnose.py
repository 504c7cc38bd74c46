"""The messages a wrong answer gets when it matches no known mistake: shape, dtype, NaN, a constant factor."""
from __future__ import annotations

import math

import torch

from autograder.coursekit.diagnose import diagnose


def verdict(got: torch.Tensor, want: torch.Tensor) -> str:
    v = diagnose([got], [want], {}, {}, "composite", ["output"])
    assert not v.passed
    return v.message


def test_an_answer_off_by_a_constant_factor_is_named_with_the_factor() -> None:
    want = torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(0))
    assert verdict(want / math.log(2), want) == "output is off by a constant factor of 1.443"  # nats vs bits
    assert verdict(want * 0.5, want) == "output is off by a constant factor of 0.5"


def test_a_single_value_is_called_off_by_a_factor_only_when_the_factor_is_whole() -> None:
    loss = torch.tensor(1.7)
    assert verdict(loss * 6, loss) == "output is off by a constant factor of 6"  # a sum over 6 items, not a mean
    assert verdict(loss / 8, loss) == "output is off by a constant factor of 0.125"
    # a loss averaged over the wrong tokens is some ratio off too, but calling it a factor would mislead
    assert verdict(loss * 0.9461, loss) == "output differs from the expected values (largest difference 0.0916)"


def test_other_wrong_answers_get_the_largest_difference_shape_dtype_or_nan() -> None:
    want = torch.zeros(2, 3)
    want[0, 0] = 1.0
    got = want.clone()
    got[1, 2] = 0.25
    assert verdict(got, want) == "output differs from the expected values (largest difference 0.25)"
    assert verdict(torch.zeros(3, 2), want) == "output has the wrong shape: got (3, 2), expected (2, 3)"
    assert verdict(torch.zeros(2, 3, dtype=torch.long), want) == "output has dtype torch.int64, expected a floating-point tensor"
    assert verdict(torch.full((2, 3), float("nan")), want) == "output contains NaN where the expected values are finite"

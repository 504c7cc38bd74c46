"""The tolerance policy: how close an answer must be, per kind of operation and dtype. Every check uses it."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Tolerance:
    atol: float
    rtol: float


# elementwise: a formula per entry (positional encodings, masks). reduction: sums and normalizations
# (softmax, attention, LayerNorm). composite: several matrix products in a row (multi-head attention, blocks).
POLICY: dict[tuple[str, torch.dtype], Tolerance] = {
    ("elementwise", torch.float32): Tolerance(1e-5, 1e-5),
    ("reduction", torch.float32): Tolerance(1e-5, 1e-4),
    ("composite", torch.float32): Tolerance(1e-4, 1e-4),
    ("elementwise", torch.float64): Tolerance(1e-10, 1e-10),
    ("reduction", torch.float64): Tolerance(1e-9, 1e-8),
    ("composite", torch.float64): Tolerance(1e-8, 1e-8),
    ("elementwise", torch.bfloat16): Tolerance(1e-2, 1e-2),
    ("reduction", torch.bfloat16): Tolerance(2e-2, 2e-2),
    ("composite", torch.bfloat16): Tolerance(5e-2, 5e-2),
}


def tolerance(op: str, dtype: torch.dtype) -> Tolerance:
    try:
        return POLICY[(op, dtype)]
    except KeyError:
        raise KeyError(f"no tolerance for operation {op!r} in {dtype}") from None


def close(actual: torch.Tensor, expected: torch.Tensor, op: str) -> bool:
    """Same shape, and |actual - expected| <= atol + rtol * |expected| everywhere (NaN never matches).
    Integer and boolean answers (token ids, masks) must be exact."""
    if actual.shape != expected.shape:
        return False
    if not expected.is_floating_point():
        return not actual.is_floating_point() and torch.equal(actual.to(expected.dtype), expected)
    tol = tolerance(op, expected.dtype)
    return bool(torch.isclose(actual.to(expected.dtype), expected, atol=tol.atol, rtol=tol.rtol).all())

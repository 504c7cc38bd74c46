"""Turning a wrong output into a message in the student's terms, without showing any input."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .tolerances import close


@dataclass(frozen=True)
class Verdict:
    passed: bool
    message: str
    mistakes: tuple[str, ...] = ()  # the known mistakes whose output the answer matches (their keys)


def _telling(factor: float, n: int) -> bool:
    """Whether "off by a constant factor" says something: any single value is some factor off, so for a scalar
    (a loss) only a whole-number ratio or its inverse, such as a sum instead of a mean, is named."""
    if n > 1:
        return True
    ratio = max(abs(factor), 1 / abs(factor))
    return abs(ratio - round(ratio)) < 1e-3 * ratio


def diagnose(outputs: list[torch.Tensor], expected: list[torch.Tensor], variants: dict[str, list[torch.Tensor]],
             messages: dict[str, str], op: str, output_names: list[str]) -> Verdict:
    """Compare every output; name a known mistake when the answer matches one of its variants."""
    if len(outputs) != len(expected):
        return Verdict(False, f"returned {len(outputs)} value(s), expected {len(expected)} ({', '.join(output_names)})")
    for got, want, name in zip(outputs, expected, output_names):
        if not got.is_floating_point() and want.is_floating_point():
            return Verdict(False, f"{name} has dtype {got.dtype}, expected a floating-point tensor")
        if got.is_floating_point() and not want.is_floating_point() or (want.dtype == torch.bool) != (got.dtype == torch.bool):
            return Verdict(False, f"{name} has dtype {got.dtype}, expected {want.dtype}")
    if all(close(g, w, op) for g, w in zip(outputs, expected)):
        return Verdict(True, "correct")
    keys = tuple(key for key, variant in variants.items()
                 if len(variant) == len(outputs) and all(close(g, v, op) for g, v in zip(outputs, variant)))
    named = [messages[key] for key in keys]
    if named:  # on some inputs two mistakes give the same output: name each
        return Verdict(False, named[0] if len(named) == 1 else "one of these mistakes: " + "; or ".join(named), keys)
    for got, want, name in zip(outputs, expected, output_names):
        if got.shape != want.shape:
            return Verdict(False, f"{name} has the wrong shape: got {tuple(got.shape)}, expected {tuple(want.shape)}")
    for got, want, name in zip(outputs, expected, output_names):
        if close(got, want, op):
            continue
        if not want.is_floating_point():
            wrong = int((got.to(want.dtype) != want).sum())
            return Verdict(False, f"{name} differs from the expected values in {wrong} of {want.numel()} entries")
        if torch.isnan(got).any() and not torch.isnan(want).any():
            return Verdict(False, f"{name} contains NaN where the expected values are finite")
        g, w = got.double().flatten(), want.double().flatten()
        if w.norm() > 0 and g.norm() > 0:
            factor = float(g @ w / (w @ w))
            if abs(factor - 1) > 1e-3 and _telling(factor, w.numel()) \
                    and close((w * factor).reshape(want.shape).to(want.dtype), got.to(want.dtype), op):
                return Verdict(False, f"{name} is off by a constant factor of {factor:.4g}")
        diff = (g - w).abs()
        return Verdict(False, f"{name} differs from the expected values (largest difference {diff.max().item():.3g})")
    return Verdict(False, "the output does not match")

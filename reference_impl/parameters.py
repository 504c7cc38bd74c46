"""Counting parameters: how much of a model a fine-tuning method actually trains."""
from __future__ import annotations

from torch import nn


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of scalars; a tied (shared) matrix counts once."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def trainable_fraction(model: nn.Module) -> float:
    return count_parameters(model, trainable_only=True) / max(1, count_parameters(model))

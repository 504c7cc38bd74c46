"""BitFit: fine-tune only the bias terms (and, optionally, a fresh task head)."""
from __future__ import annotations

from collections.abc import Iterable

from torch import nn


def apply_bitfit(model: nn.Module, also_train: Iterable[str] = ()) -> nn.Module:
    """Freeze every parameter except those named `bias` and those under the module names in `also_train`."""
    prefixes = tuple(f"{m}." for m in also_train)
    for name, p in model.named_parameters():
        p.requires_grad_(name.split(".")[-1] == "bias" or name.startswith(prefixes))
    return model

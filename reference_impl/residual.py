"""Add & Norm: a residual connection around a sublayer, with LayerNorm after (post-norm) or before (pre-norm)."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .norm import LayerNorm


class AddNorm(nn.Module):
    """post-norm (2017 paper): LN(x + sublayer(x)); pre-norm (GPT-2, ViT): x + sublayer(LN(x))."""

    def __init__(self, d_model: int, norm_first: bool = False, dropout: float = 0.0, eps: float = 1e-5) -> None:
        super().__init__()
        self.norm = LayerNorm(d_model, eps)
        self.norm_first = norm_first
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, sublayer: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        if self.norm_first:
            return x + self.dropout(sublayer(self.norm(x)))
        return self.norm(x + self.dropout(sublayer(x)))

"""The encoder: self-attention and a feed-forward network, each wrapped in Add & Norm, stacked N times."""
from __future__ import annotations

import torch
from torch import nn

from .attention import MultiHeadAttention
from .feedforward import FeedForward
from .norm import LayerNorm
from .residual import AddNorm


class EncoderLayer(nn.Module):
    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0, norm_first: bool = False,
                 activation: str = "relu", eps: float = 1e-5) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout=dropout)
        self.ff = FeedForward(d_model, d_ff, activation, dropout)
        self.attn_block = AddNorm(d_model, norm_first, dropout, eps)
        self.ff_block = AddNorm(d_model, norm_first, dropout, eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.attn_block(x, lambda h: self.self_attn(h, mask=mask, need_weights=False)[0])
        return self.ff_block(x, self.ff)


class Encoder(nn.Module):
    """N encoder layers; pre-norm stacks end with a final LayerNorm (their residual stream is never normalized)."""

    def __init__(self, n_layers: int, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0,
                 norm_first: bool = False, activation: str = "relu", eps: float = 1e-5) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            EncoderLayer(d_model, n_heads, d_ff, dropout, norm_first, activation, eps) for _ in range(n_layers))
        self.final_norm = LayerNorm(d_model, eps) if norm_first else nn.Identity()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, mask)
        return self.final_norm(x)

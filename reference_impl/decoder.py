"""The decoder: masked self-attention, encoder-decoder (cross) attention and a feed-forward network."""
from __future__ import annotations

import torch
from torch import nn

from .attention import KVCache, MultiHeadAttention
from .feedforward import FeedForward
from .norm import LayerNorm
from .residual import AddNorm


class DecoderLayer(nn.Module):
    """Queries of the cross-attention come from the decoder; keys and values from the encoder's output."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0, norm_first: bool = False,
                 activation: str = "relu", eps: float = 1e-5) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout=dropout)
        self.cross_attn = MultiHeadAttention(d_model, n_heads, dropout=dropout)
        self.ff = FeedForward(d_model, d_ff, activation, dropout)
        self.self_block = AddNorm(d_model, norm_first, dropout, eps)
        self.cross_block = AddNorm(d_model, norm_first, dropout, eps)
        self.ff_block = AddNorm(d_model, norm_first, dropout, eps)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, self_mask: torch.Tensor | None = None,
                memory_mask: torch.Tensor | None = None, cache: KVCache | None = None,
                need_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Returns (output, cross-attention weights (B, H, Lq, Lsrc) when need_weights)."""
        x = self.self_block(x, lambda h: self.self_attn(h, mask=self_mask, cache=cache, need_weights=False)[0])
        weights: list[torch.Tensor | None] = [None]

        def cross(h: torch.Tensor) -> torch.Tensor:
            out, weights[0] = self.cross_attn(h, memory, mask=memory_mask, need_weights=need_weights)
            return out

        x = self.cross_block(x, cross)
        return self.ff_block(x, self.ff), weights[0]


class Decoder(nn.Module):
    def __init__(self, n_layers: int, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0,
                 norm_first: bool = False, activation: str = "relu", eps: float = 1e-5) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            DecoderLayer(d_model, n_heads, d_ff, dropout, norm_first, activation, eps) for _ in range(n_layers))
        self.final_norm = LayerNorm(d_model, eps) if norm_first else nn.Identity()

    def forward(self, x: torch.Tensor, memory: torch.Tensor, self_mask: torch.Tensor | None = None,
                memory_mask: torch.Tensor | None = None, caches: list[KVCache] | None = None,
                need_weights: bool = False) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
        """Returns (output, the cross-attention weights of every layer)."""
        all_weights = []
        for i, layer in enumerate(self.layers):
            x, w = layer(x, memory, self_mask, memory_mask, None if caches is None else caches[i], need_weights)
            all_weights.append(w)
        return self.final_norm(x), all_weights

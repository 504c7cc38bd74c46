"""Scaled dot-product attention and multi-head attention (self, cross, causal, cached)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .positions import RotaryEmbedding


def scaled_dot_product_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q k^T / sqrt(d_k)) v for q (..., Lq, d_k), k (..., Lk, d_k), v (..., Lk, d_v).

    `mask` is boolean and broadcastable to (..., Lq, Lk), True where a query may attend.
    A query that may attend to nothing gets zero weights and a zero output, never NaN.
    Returns (output (..., Lq, d_v), weights (..., Lq, Lk)).
    """
    # (q / sqrt(d_k)) k^T equals (q k^T) / sqrt(d_k), and scaling q touches Lq*d_k numbers instead of Lq*Lk
    scores = (q / math.sqrt(q.size(-1))) @ k.transpose(-2, -1)  # (..., Lq, Lk)
    if mask is not None:
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    weights = scores.softmax(dim=-1)
    if mask is not None:
        empty_rows = ~mask.any(dim=-1, keepdim=True)  # queries allowed to see no key at all
        if empty_rows.any():
            weights = weights.masked_fill(empty_rows, 0.0)  # softmax gave them uniform weights: zero them
    return weights @ v, weights


@dataclass
class KVCache:
    """Keys and values of the positions decoded so far, (B, H, T, d_head) each."""

    k: torch.Tensor | None = None
    v: torch.Tensor | None = None

    @property
    def length(self) -> int:
        return 0 if self.k is None else self.k.size(2)

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.k = k if self.k is None else torch.cat([self.k, k], dim=2)
        self.v = v if self.v is None else torch.cat([self.v, v], dim=2)
        return self.k, self.v


class MultiHeadAttention(nn.Module):
    """h heads of attention over d_model/h dimensions each, then an output projection.

    Self-attention: forward(x). Cross-attention: forward(x, context) with queries from x and
    keys/values from context. `mask` is boolean, broadcastable to (B, H, Lq, Lk).
    """

    def __init__(self, d_model: int, n_heads: int, bias: bool = True, dropout: float = 0.0,
                 rope: RotaryEmbedding | None = None) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.n_heads, self.d_head = n_heads, d_model // n_heads
        self.w_q = nn.Linear(d_model, d_model, bias=bias)
        self.w_k = nn.Linear(d_model, d_model, bias=bias)
        self.w_v = nn.Linear(d_model, d_model, bias=bias)
        self.w_o = nn.Linear(d_model, d_model, bias=bias)
        self.dropout = dropout
        self.rope = rope

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, d_model) -> (B, H, L, d_head)."""
        b, l, _ = x.shape
        return x.view(b, l, self.n_heads, self.d_head).transpose(1, 2)

    def merge_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, L, d_head) -> (B, L, d_model)."""
        b, h, l, d = x.shape
        return x.transpose(1, 2).reshape(b, l, h * d)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None, mask: torch.Tensor | None = None,
                cache: KVCache | None = None, need_weights: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Returns (output (B, Lq, d_model), weights (B, H, Lq, Lk) or None when not needed)."""
        source = x if context is None else context
        q = self.split_heads(self.w_q(x))
        k = self.split_heads(self.w_k(source))
        v = self.split_heads(self.w_v(source))
        if self.rope is not None:
            offset = cache.length if cache is not None else 0
            q, k = self.rope(q, offset), self.rope(k, offset)
        if cache is not None:
            k, v = cache.append(k, v)
        if need_weights or (mask is not None and not mask.any(-1).all()):
            out, weights = scaled_dot_product_attention(q, k, v, mask)
            if self.training and self.dropout:
                out = F.dropout(weights, self.dropout) @ v
        else:  # the same maths in PyTorch's fused kernel, when nobody looks at the weights
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                                 dropout_p=self.dropout if self.training else 0.0)
            weights = None
        return self.w_o(self.merge_heads(out)), weights

"""Position information: the sinusoidal encoding, learned positions and rotary embeddings (RoPE)."""
from __future__ import annotations

import torch
from torch import nn


def sinusoidal_encoding(n_positions: int, d_model: int) -> torch.Tensor:
    """(n_positions, d_model) table: PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(...)."""
    pos = torch.arange(n_positions, dtype=torch.float64)[:, None]
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)
    angle = pos / 10000 ** (two_i / d_model)  # (n_positions, ceil(d/2))
    pe = torch.zeros(n_positions, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : d_model // 2])
    return pe.float()


class SinusoidalPositions(nn.Module):
    """Adds the fixed sinusoidal encoding to a (B, L, d_model) input."""

    def __init__(self, d_model: int, max_len: int = 4096) -> None:
        super().__init__()
        self.register_buffer("pe", sinusoidal_encoding(max_len, d_model), persistent=False)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        return x + self.pe[offset : offset + x.size(1)].to(x.dtype)


class LearnedPositions(nn.Module):
    """Adds a trained vector per position (BERT, GPT-2, ViT)."""

    def __init__(self, max_len: int, d_model: int) -> None:
        super().__init__()
        self.table = nn.Embedding(max_len, d_model)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        if offset + x.size(1) > self.table.num_embeddings:
            raise ValueError(f"sequence of {offset + x.size(1)} positions exceeds max_len={self.table.num_embeddings}")
        positions = torch.arange(offset, offset + x.size(1), device=x.device)
        return x + self.table(positions)


class RotaryEmbedding(nn.Module):
    """RoPE: rotates each pair (x[2i], x[2i+1]) of a query or key by angle pos * base^(-2i/d).

    Rotations preserve norms, and the score q_m . k_n depends only on the offset m - n.
    """

    def __init__(self, d_head: int, base: float = 10000.0) -> None:
        super().__init__()
        if d_head % 2:
            raise ValueError(f"RoPE needs an even head size, got {d_head}")
        inv_freq = base ** (-torch.arange(0, d_head, 2, dtype=torch.float64) / d_head)
        self.register_buffer("inv_freq", inv_freq.float(), persistent=False)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """x (..., L, d_head) -> the same, rotated for positions offset .. offset+L-1."""
        pos = torch.arange(offset, offset + x.size(-2), device=x.device, dtype=torch.float32)
        angle = pos[:, None] * self.inv_freq[None, :]  # (L, d_head/2)
        cos, sin = angle.cos().to(x.dtype), angle.sin().to(x.dtype)
        even, odd = x[..., 0::2], x[..., 1::2]
        return torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1).flatten(-2)

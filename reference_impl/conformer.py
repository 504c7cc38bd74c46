"""The Conformer block for speech: half feed-forward, self-attention, convolution, half feed-forward."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .attention import MultiHeadAttention
from .feedforward import FeedForward
from .norm import LayerNorm


class ConvSubsampling(nn.Module):
    """Two stride-2 3x3 convolutions over (time, mel): 4x fewer frames, then a projection to d_model."""

    def __init__(self, n_mels: int, d_model: int, channels: int = 32) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(1, channels, 3, stride=2), nn.ReLU(),
                                  nn.Conv2d(channels, channels, 3, stride=2), nn.ReLU())
        freq = ((n_mels - 3) // 2 + 1 - 3) // 2 + 1
        self.proj = nn.Linear(channels * freq, d_model)

    @staticmethod
    def output_lengths(lengths: torch.Tensor) -> torch.Tensor:
        return ((lengths - 3) // 2 + 1 - 3) // 2 + 1

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, T, n_mels) -> (B, T', d_model)."""
        x = self.conv(feats[:, None])  # (B, C, T', F')
        return self.proj(x.permute(0, 2, 1, 3).flatten(2))


class ConvModule(nn.Module):
    """Pointwise conv + GLU, depthwise conv over time, BatchNorm, Swish, pointwise conv."""

    def __init__(self, d_model: int, kernel_size: int = 15, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm = LayerNorm(d_model)
        self.pointwise_in = nn.Conv1d(d_model, 2 * d_model, 1)
        self.depthwise = nn.Conv1d(d_model, d_model, kernel_size, padding=kernel_size // 2, groups=d_model)
        self.batch_norm = nn.BatchNorm1d(d_model)
        self.pointwise_out = nn.Conv1d(d_model, d_model, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, d); keep (B, T) zeroes padded frames so they do not leak through the convolution."""
        h = self.norm(x)
        if keep is not None:
            h = h * keep[..., None]
        h = F.glu(self.pointwise_in(h.transpose(1, 2)), dim=1)  # (B, d, T)
        h = self.pointwise_out(F.silu(self.batch_norm(self.depthwise(h))))
        return self.dropout(h.transpose(1, 2))


class ConformerBlock(nn.Module):
    def __init__(self, d_model: int, n_heads: int, kernel_size: int = 15, dropout: float = 0.0) -> None:
        super().__init__()
        self.ff1_norm, self.ff2_norm = LayerNorm(d_model), LayerNorm(d_model)
        self.ff1 = FeedForward(d_model, 4 * d_model, "silu", dropout)
        self.ff2 = FeedForward(d_model, 4 * d_model, "silu", dropout)
        self.attn_norm = LayerNorm(d_model)
        self.attn = MultiHeadAttention(d_model, n_heads, dropout=dropout)
        self.conv = ConvModule(d_model, kernel_size, dropout)
        self.final_norm = LayerNorm(d_model)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, d); keep (B, T) True on real frames."""
        mask = None if keep is None else keep[:, None, None, :]
        x = x + 0.5 * self.ff1(self.ff1_norm(x))
        x = x + self.attn(self.attn_norm(x), mask=mask, need_weights=False)[0]
        x = x + self.conv(x, keep)
        x = x + 0.5 * self.ff2(self.ff2_norm(x))
        return self.final_norm(x)

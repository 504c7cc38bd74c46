"""The Vision Transformer: an image as a sequence of patches, a [CLS] token, and a pre-norm encoder."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .encoder import Encoder


def patchify(images: torch.Tensor, patch: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, N, C*patch*patch), patches in row-major order, each flattened as (C, p, p)."""
    b, c, h, w = images.shape
    if h % patch or w % patch:
        raise ValueError(f"image {h}x{w} is not divisible into {patch}x{patch} patches")
    x = images.reshape(b, c, h // patch, patch, w // patch, patch)
    return x.permute(0, 2, 4, 1, 3, 5).reshape(b, (h // patch) * (w // patch), c * patch * patch)


@dataclass
class ViTConfig:
    image_size: int = 8
    patch_size: int = 2
    channels: int = 1
    d_model: int = 64
    n_heads: int = 4
    d_ff: int = 128
    n_layers: int = 4
    n_classes: int = 10
    dropout: float = 0.0
    eps: float = 1e-6


class ViTEncoder(nn.Module):
    """Images -> (B, 1 + N, d_model) token features, [CLS] first, after the final LayerNorm."""

    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        n_patches = (cfg.image_size // cfg.patch_size) ** 2
        self.patch_embed = nn.Linear(cfg.channels * cfg.patch_size ** 2, cfg.d_model)
        self.cls = nn.Parameter(torch.zeros(1, 1, cfg.d_model))
        self.pos = nn.Parameter(torch.randn(1, 1 + n_patches, cfg.d_model) * 0.02)
        self.dropout = nn.Dropout(cfg.dropout)
        self.encoder = Encoder(cfg.n_layers, cfg.d_model, cfg.n_heads, cfg.d_ff, cfg.dropout,
                               norm_first=True, activation="gelu", eps=cfg.eps)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(patchify(images, self.cfg.patch_size))  # (B, N, d)
        x = torch.cat([self.cls.expand(x.size(0), -1, -1), x], dim=1) + self.pos
        return self.encoder(self.dropout(x))


class ViT(nn.Module):
    """Classifies an image from its [CLS] feature."""

    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        self.features = ViTEncoder(cfg)
        self.head = nn.Linear(cfg.d_model, cfg.n_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images)[:, 0])

"""A small speech recognizer: log-mel features -> convolutional subsampling -> Conformer blocks -> CTC."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .conformer import ConformerBlock, ConvSubsampling
from .positions import SinusoidalPositions


@dataclass
class SpeechConfig:
    n_mels: int = 40
    vocab_size: int = 13  # the CTC blank (0) + labels
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    kernel_size: int = 15
    dropout: float = 0.0


class SpeechRecognizer(nn.Module):
    def __init__(self, cfg: SpeechConfig) -> None:
        super().__init__()
        self.subsample = ConvSubsampling(cfg.n_mels, cfg.d_model)
        self.positions = SinusoidalPositions(cfg.d_model)
        self.blocks = nn.ModuleList(ConformerBlock(cfg.d_model, cfg.n_heads, cfg.kernel_size, cfg.dropout)
                                    for _ in range(cfg.n_layers))
        self.out = nn.Linear(cfg.d_model, cfg.vocab_size)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """feats (B, T, n_mels), lengths (B,) -> (log-probs (B, T', vocab), output lengths (B,))."""
        x = self.positions(self.subsample(feats))
        out_lengths = ConvSubsampling.output_lengths(lengths).clamp(min=1)
        keep = torch.arange(x.size(1), device=x.device)[None] < out_lengths[:, None]
        for block in self.blocks:
            x = block(x, keep)
        return self.out(x).log_softmax(-1), out_lengths

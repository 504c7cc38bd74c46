"""Token embeddings: a lookup table scaled by sqrt(d_model), optionally tied to the output layer."""
from __future__ import annotations

import math

import torch
from torch import nn


class TokenEmbedding(nn.Module):
    """Maps token ids (B, L) to vectors (B, L, d_model), multiplied by sqrt(d_model) as in the 2017 paper."""

    def __init__(self, vocab_size: int, d_model: int, scale: bool = True) -> None:
        super().__init__()
        self.table = nn.Embedding(vocab_size, d_model)
        self.factor = math.sqrt(d_model) if scale else 1.0
        # std 1/sqrt(d): the scaled vectors have unit variance, and a tied output layer starts with small logits
        nn.init.normal_(self.table.weight, std=1 / self.factor if scale else 1.0)

    @property
    def weight(self) -> nn.Parameter:
        return self.table.weight

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.table(tokens) * self.factor


def tie_weights(output_layer: nn.Linear, embedding: TokenEmbedding) -> None:
    """Share one (vocab, d_model) matrix between the input lookup and the output projection."""
    output_layer.weight = embedding.weight

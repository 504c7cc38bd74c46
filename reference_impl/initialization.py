"""Weight initialization shared by the BERT/GPT family: small normal weights, zero biases."""
from __future__ import annotations

from torch import nn


def init_normal(module: nn.Module, std: float = 0.02) -> None:
    """N(0, std^2) for every Linear and Embedding weight below `module`, zeros for their biases."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=std)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

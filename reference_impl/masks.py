"""Boolean attention masks. Convention everywhere in the kit: True means "may attend"."""
from __future__ import annotations

import torch


def causal_mask(q_len: int, k_len: int | None = None, device: torch.device | str | None = None) -> torch.Tensor:
    """(q_len, k_len) mask letting query i see keys up to its own position.

    With a key/value cache k_len > q_len: the queries are the last q_len positions.
    """
    k_len = q_len if k_len is None else k_len
    return torch.ones(q_len, k_len, dtype=torch.bool, device=device).tril(diagonal=k_len - q_len)


def padding_mask(tokens: torch.Tensor, pad_id: int) -> torch.Tensor:
    """(B, 1, 1, S) mask that hides padded keys from every query of every head."""
    return (tokens != pad_id)[:, None, None, :]

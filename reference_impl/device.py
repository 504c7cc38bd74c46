"""Choosing where tensors live: CUDA when present (or asked for), otherwise the CPU."""
from __future__ import annotations

import torch


def pick_device(preference: str = "auto") -> torch.device:
    """Return the device for `preference` ('auto', 'cpu' or 'cuda'); 'cuda' without a GPU is an error."""
    if preference == "cpu":
        return torch.device("cpu")
    if preference == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("device 'cuda' was asked for, but PyTorch sees no CUDA device here")
        return torch.device("cuda")
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    raise ValueError(f"unknown device {preference!r}: expected 'auto', 'cpu' or 'cuda'")

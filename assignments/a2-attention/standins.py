"""Trusted stand-ins for this assignment's parts, put in place of the student's own while a later part is
graded, so that one bug costs the points of one part only. Plain torch; never released. The grader sends this
file's source to the worker, which runs it only in the short-lived fork that grades such a part."""
from __future__ import annotations

import math

import torch

def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    if mask is not None:
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    weights = scores.softmax(-1)
    if mask is not None:
        weights = weights.masked_fill(~mask.any(-1, keepdim=True), 0.0)
    return weights @ v, weights

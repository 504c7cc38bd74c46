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


class LayerNorm(torch.nn.Module):
    def __init__(self, d_model: int, eps: float = 1e-5):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(d_model))
        self.bias = torch.nn.Parameter(torch.zeros(d_model))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean, var = x.mean(-1, keepdim=True), x.var(-1, keepdim=True, unbiased=False)
        return (x - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias


class FeedForward(torch.nn.Module):
    def __init__(self, d_model: int, d_ff: int):
        super().__init__()
        self.linear1 = torch.nn.Linear(d_model, d_ff)
        self.linear2 = torch.nn.Linear(d_ff, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(torch.relu(self.linear1(x)))


class MultiHeadAttention(torch.nn.Module):
    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.n_heads, self.d_head = n_heads, d_model // n_heads
        self.w_q, self.w_k = torch.nn.Linear(d_model, d_model), torch.nn.Linear(d_model, d_model)
        self.w_v, self.w_o = torch.nn.Linear(d_model, d_model), torch.nn.Linear(d_model, d_model)
        self.weights = None

    def forward(self, x, context=None, mask=None):
        source = x if context is None else context
        b, lq, d = x.shape

        def split(t):
            return t.view(t.size(0), t.size(1), self.n_heads, self.d_head).transpose(1, 2)

        out, self.weights = attention(split(self.w_q(x)), split(self.w_k(source)), split(self.w_v(source)), mask)
        return self.w_o(out.transpose(1, 2).reshape(b, lq, d)), self.weights

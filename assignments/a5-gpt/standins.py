"""Trusted stand-ins for this assignment's parts, put in place of the student's own while a later part is
graded, so that one bug costs the points of one part only. Plain torch; never released. The grader sends this
file's source to the worker, which runs it only in the short-lived fork that grades such a part."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


class CausalSelfAttention(torch.nn.Module):
    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.n_heads, self.d_head = n_heads, d_model // n_heads
        self.w_q, self.w_k = torch.nn.Linear(d_model, d_model), torch.nn.Linear(d_model, d_model)
        self.w_v, self.w_o = torch.nn.Linear(d_model, d_model), torch.nn.Linear(d_model, d_model)

    def forward(self, x, past_k=None, past_v=None):
        b, t, d = x.shape

        def split(y):
            return y.view(b, t, self.n_heads, self.d_head).transpose(1, 2)

        q, k, v = split(self.w_q(x)), split(self.w_k(x)), split(self.w_v(x))
        if past_k is not None:
            k, v = torch.cat([past_k, k], dim=2), torch.cat([past_v, v], dim=2)
        t_all = k.size(2)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)
        allowed = torch.ones(t, t_all, dtype=torch.bool, device=x.device).tril(diagonal=t_all - t)
        weights = scores.masked_fill(~allowed, float("-inf")).softmax(-1)
        return self.w_o((weights @ v).transpose(1, 2).reshape(b, t, d)), k, v


class MLP(torch.nn.Module):
    def __init__(self, d_model: int):
        super().__init__()
        self.fc = torch.nn.Linear(d_model, 4 * d_model)
        self.proj = torch.nn.Linear(4 * d_model, d_model)

    def forward(self, x):
        return self.proj(F.gelu(self.fc(x)))


class Block(torch.nn.Module):
    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.ln1, self.ln2 = torch.nn.LayerNorm(d_model), torch.nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_heads)
        self.mlp = MLP(d_model)

    def forward(self, x, past_k=None, past_v=None):
        out, k, v = self.attn(self.ln1(x), past_k, past_v)
        x = x + out
        return x + self.mlp(self.ln2(x)), k, v

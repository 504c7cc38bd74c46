"""`autograder demo`: validate course.yml, print the outline and a few outputs of the reference implementation."""
from __future__ import annotations

import torch

from reference_impl.attention import scaled_dot_product_attention
from reference_impl.data.text import pydoc_text
from reference_impl.masks import causal_mask
from reference_impl.positions import sinusoidal_encoding
from reference_impl.tokenization import BPETokenizer

from .course import Course
from .outline import render_outline


def reference_samples() -> str:
    """A handful of reference outputs a newcomer can eyeball: attention weights, PE values, BPE merges."""
    torch.manual_seed(0)
    q = k = v = torch.randn(1, 4, 8)
    _, weights = scaled_dot_product_attention(q, k, v, causal_mask(4))
    pe = sinusoidal_encoding(4, 6)
    tok = BPETokenizer.train(pydoc_text(), 256 + 12)
    merges = [tok.vocab[256 + i].decode("utf-8", "replace") for i in range(12)]
    sample = "def attention(q, k, v):"
    lines = ["causal self-attention weights for 4 random tokens (row i attends to tokens <= i):"]
    lines += ["  " + "  ".join(f"{w:.3f}" for w in row) for row in weights[0].tolist()]
    lines += ["sinusoidal position encoding, positions 0-3, d_model = 6:"]
    lines += ["  " + "  ".join(f"{x:+.3f}" for x in row) for row in pe.tolist()]
    lines += [f"first 12 BPE merges learned on Python's documentation: {merges}",
              f"{sample!r} -> {len(tok.encode(sample))} tokens (from {len(sample.encode())} bytes)"]
    return "\n".join(lines)


def run_demo(course: Course) -> str:
    return f"course.yml is valid.\n\n{render_outline(course)}\n\n{reference_samples()}"

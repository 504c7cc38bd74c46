"""How fast the reference is next to PyTorch's own modules of the same size (target: within 1.2x on CPU).

Measures forward + backward of multi-head attention, and a full training step (forward, backward, AdamW)
of a small GPT, against nn.MultiheadAttention and a GPT assembled from nn.TransformerEncoderLayer.
Timings interleave the two sides and report medians, so drift on a shared machine hits both alike.

    python benchmarks/reference_speed.py [--device cpu|cuda] [--repeats 30]
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from reference_impl.attention import MultiHeadAttention
from reference_impl.device import pick_device
from reference_impl.gpt import GPT, GPTConfig
from reference_impl.masks import causal_mask


class TorchGPT(nn.Module):
    """The same GPT built from PyTorch's modules: pre-norm encoder layers with a causal mask, tied output."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.tokens = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.positions = nn.Embedding(cfg.max_len, cfg.d_model)
        layer = nn.TransformerEncoderLayer(cfg.d_model, cfg.n_heads, 4 * cfg.d_model, dropout=0.0,
                                           activation=lambda x: nn.functional.gelu(x, approximate="tanh"),
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False)
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.tokens.weight

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = idx.size(1)
        x = self.tokens(idx) + self.positions(torch.arange(t, device=idx.device))
        mask = nn.Transformer.generate_square_subsequent_mask(t, device=idx.device)
        return self.lm_head(self.ln_f(self.blocks(x, mask=mask, is_causal=True)))


def timed(fn: Callable[[], None], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def compare(name: str, ours: Callable[[], None], theirs: Callable[[], None], device: torch.device, repeats: int) -> float:
    for _ in range(3):
        ours(), theirs()
    a, b = [], []
    for _ in range(repeats):
        a.append(timed(ours, device))
        b.append(timed(theirs, device))
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"{name:<58} reference {ma * 1e3:8.2f} ms   PyTorch {mb * 1e3:8.2f} ms   ratio {ma / mb:5.2f}x")
    return ma / mb


def attention_cases(device: torch.device, repeats: int) -> list[float]:
    b, l, d, h = 16, 128, 256, 8
    torch.manual_seed(0)
    ours, theirs = MultiHeadAttention(d, h).to(device), nn.MultiheadAttention(d, h, batch_first=True).to(device)
    x = torch.randn(b, l, d, device=device, requires_grad=True)
    causal = causal_mask(l, device=device)
    ratios = []
    for need_weights in (True, False):
        def run_ours() -> None:
            out, _ = ours(x, mask=causal, need_weights=need_weights)
            out.sum().backward()

        def run_theirs() -> None:
            out, _ = theirs(x, x, x, attn_mask=~causal, need_weights=need_weights, average_attn_weights=False)
            out.sum().backward()

        label = "with weights" if need_weights else "fused, no weights"
        ratios.append(compare(f"multi-head attention fwd+bwd, causal ({label})", run_ours, run_theirs, device, repeats))
    return ratios


def gpt_case(device: torch.device, repeats: int) -> float:
    # the character GPT of the anchors' measurement: 4 layers, 4 heads, width 128, context 64, batch 12
    cfg = GPTConfig(vocab_size=103, d_model=128, n_heads=4, n_layers=4, max_len=64)
    torch.manual_seed(0)
    ours, theirs = GPT(cfg).to(device), TorchGPT(cfg).to(device)
    opt_ours, opt_theirs = torch.optim.AdamW(ours.parameters()), torch.optim.AdamW(theirs.parameters())
    idx = torch.randint(0, cfg.vocab_size, (12, 64), device=device)
    targets = torch.randint(0, cfg.vocab_size, (12, 64), device=device)

    def step(model: nn.Module, opt: torch.optim.Optimizer) -> Callable[[], None]:
        def run() -> None:
            loss = nn.functional.cross_entropy(model(idx).flatten(0, 1), targets.flatten())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return run

    return compare("GPT training step (4x128, T=64, B=12)", step(ours, opt_ours), step(theirs, opt_theirs), device, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    device = pick_device(args.device)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__} on {device}" + ("" if device.type == "cuda" else f", {args.threads} threads"))
    ratios = attention_cases(device, args.repeats) + [gpt_case(device, args.repeats)]
    verdict = "within" if max(ratios) <= 1.2 else "OUTSIDE"
    print(f"worst ratio {max(ratios):.2f}x: {verdict} the 1.2x target")


if __name__ == "__main__":
    main()

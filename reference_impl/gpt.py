"""GPT: a decoder-only causal language model (GPT-2 layout: pre-norm blocks, learned positions, tied output)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .attention import KVCache, MultiHeadAttention
from .feedforward import FeedForward
from .initialization import init_normal
from .masks import causal_mask
from .norm import LayerNorm
from .positions import LearnedPositions, RotaryEmbedding
from .sampling import sample_next


@dataclass
class GPTConfig:
    vocab_size: int
    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 4
    max_len: int = 256
    dropout: float = 0.0
    positions: str = "learned"  # or "rope"
    eps: float = 1e-5


class Block(nn.Module):
    """x + attn(LN(x)), then x + mlp(LN(x))."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        rope = RotaryEmbedding(cfg.d_model // cfg.n_heads) if cfg.positions == "rope" else None
        self.ln1 = LayerNorm(cfg.d_model, cfg.eps)
        self.attn = MultiHeadAttention(cfg.d_model, cfg.n_heads, dropout=cfg.dropout, rope=rope)
        self.ln2 = LayerNorm(cfg.d_model, cfg.eps)
        self.mlp = FeedForward(cfg.d_model, 4 * cfg.d_model, "gelu_tanh", cfg.dropout)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, cache: KVCache | None = None) -> torch.Tensor:
        x = x + self.dropout(self.attn(self.ln1(x), mask=mask, cache=cache, need_weights=False)[0])
        return x + self.dropout(self.mlp(self.ln2(x)))


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tokens = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.positions = LearnedPositions(cfg.max_len, cfg.d_model) if cfg.positions == "learned" else None
        self.dropout = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = LayerNorm(cfg.d_model, cfg.eps)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.tokens.weight  # weight tying
        init_normal(self)

    def forward(self, idx: torch.Tensor, caches: list[KVCache] | None = None) -> torch.Tensor:
        """idx (B, T) -> logits (B, T, vocab). With caches, idx holds only the new tokens."""
        return self.forward_embeddings(self.tokens(idx), caches)

    def forward_embeddings(self, x: torch.Tensor, caches: list[KVCache] | None = None) -> torch.Tensor:
        """Input vectors (B, T, d_model) -> logits; lets other models (LLaVA) put their own vectors first."""
        offset = 0 if caches is None else caches[0].length
        if self.positions is not None:
            x = self.positions(x, offset)
        x = self.dropout(x)
        t = x.size(1)
        mask = None if t == 1 else causal_mask(t, offset + t, device=x.device)
        for i, block in enumerate(self.blocks):
            x = block(x, mask, None if caches is None else caches[i])
        return self.lm_head(self.ln_f(x))

    def loss(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Next-token cross-entropy: targets are idx shifted left by one."""
        logits = self(idx)
        return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, use_cache: bool = True, generator: torch.Generator | None = None) -> torch.Tensor:
        """Append max_new_tokens sampled tokens to idx (B, T); the KV cache makes each step O(T)."""
        caches = [KVCache() for _ in self.blocks] if use_cache else None
        step_input = idx
        for _ in range(max_new_tokens):
            if caches is None or idx.size(1) > self.cfg.max_len:  # no cache, or the context window slid:
                caches = None if caches is None else [KVCache() for _ in self.blocks]  # run the whole window
                step_input = idx[:, -self.cfg.max_len:]
            logits = self(step_input, caches)[:, -1]
            nxt = sample_next(logits, temperature, top_k, top_p, generator)[:, None]
            idx = torch.cat([idx, nxt], dim=1)
            step_input = nxt
        return idx

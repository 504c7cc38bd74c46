"""The two small pretrained models the course ships, built from PyTorch's own modules only.

The notebooks that load the checkpoints (BERT in assignment 4, GPT in assignment 6) define the same layouts
with the same parameter names; a checkpoint is a plain state dict, so `load_state_dict(strict=True)` checks
that they agree. Nothing here is an assignment's answer: attention and layers are PyTorch's.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]  # ids 0-4, then one id per character


@dataclass
class Config:
    vocab_size: int
    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 2
    max_len: int = 64

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class BertEmbeddings(nn.Module):
    """token + segment + learned position embeddings, then LayerNorm."""

    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.tokens = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.segments = nn.Embedding(2, cfg.d_model)
        self.positions = nn.Embedding(cfg.max_len, cfg.d_model)
        self.norm = nn.LayerNorm(cfg.d_model, eps=1e-12)

    def forward(self, tokens: torch.Tensor, segments: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(tokens.size(1), device=tokens.device)
        return self.norm(self.tokens(tokens) + self.segments(segments) + self.positions(pos))  # (B, L, d)


class MaskedLMHead(nn.Module):
    """Predicts the original token at every position: Linear, GELU, LayerNorm, then the token embedding table
    (passed in, tied to the input embeddings) as the output matrix, plus a bias per token."""

    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.transform = nn.Linear(cfg.d_model, cfg.d_model)
        self.norm = nn.LayerNorm(cfg.d_model, eps=1e-12)
        self.bias = nn.Parameter(torch.zeros(cfg.vocab_size))

    def forward(self, h: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        return self.norm(F.gelu(self.transform(h))) @ table.T + self.bias  # (B, L, d) -> (B, L, vocab)


class TinyBert(nn.Module):
    """A post-norm encoder (PyTorch's layers, GELU, width 4d) with the masked-LM head (tied to the token
    embeddings) and the next-sentence head on the pooled [CLS] vector."""

    def __init__(self, cfg: Config) -> None:
        super().__init__()
        d, self.cfg = cfg.d_model, cfg
        self.embeddings = BertEmbeddings(cfg)
        layer = nn.TransformerEncoderLayer(d, cfg.n_heads, 4 * d, dropout=0.0, activation="gelu",
                                           layer_norm_eps=1e-12, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False)
        self.pooler = nn.Linear(d, d)
        self.mlm = MaskedLMHead(cfg)
        self.nsp = nn.Linear(d, 2)

    def forward(self, tokens: torch.Tensor, segments: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """tokens, segments (B, L) -> hidden states (B, L, d), pooled [CLS] vector (B, d)."""
        h = self.encoder(self.embeddings(tokens, segments), src_key_padding_mask=tokens == 0)
        return h, torch.tanh(self.pooler(h[:, 0]))

    def mlm_logits(self, h: torch.Tensor) -> torch.Tensor:
        """(B, L, d) -> (B, L, vocab): the output matrix is the token embedding table."""
        return self.mlm(h, self.embeddings.tokens.weight)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: Config) -> None:
        super().__init__()
        d, self.n_heads = cfg.d_model, cfg.n_heads
        self.q, self.k, self.v, self.proj = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = (w(x).view(b, t, self.n_heads, d // self.n_heads).transpose(1, 2) for w in (self.q, self.k, self.v))
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, h, T, d_head)
        return self.proj(out.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    """Pre-norm: x + attn(LN(x)), then x + mlp(LN(x))."""

    def __init__(self, cfg: Config) -> None:
        super().__init__()
        d = cfg.d_model
        self.ln1, self.attn, self.ln2 = nn.LayerNorm(d), CausalSelfAttention(cfg), nn.LayerNorm(d)
        self.mlp = nn.Sequential()
        self.mlp.add_module("fc", nn.Linear(d, 4 * d))
        self.mlp.add_module("gelu", nn.GELU())
        self.mlp.add_module("proj", nn.Linear(4 * d, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class TinyGPT(nn.Module):
    """A decoder-only language model: learned positions, pre-norm blocks, output tied to the token table."""

    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.cfg = cfg
        self.tokens = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.positions = nn.Embedding(cfg.max_len, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """idx (B, T) -> logits (B, T, vocab)."""
        x = self.tokens(idx) + self.positions(torch.arange(idx.size(1), device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x) @ self.tokens.weight.T


def init_weights(model: nn.Module) -> None:
    """BERT's and GPT-2's initialization: N(0, 0.02) weights, zero biases, LayerNorm at identity."""
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
        if isinstance(m, nn.MultiheadAttention):
            nn.init.normal_(m.in_proj_weight, std=0.02)
            nn.init.zeros_(m.in_proj_bias)
        if isinstance(getattr(m, "bias", None), torch.Tensor) and isinstance(m, (nn.Linear, nn.LayerNorm)):
            nn.init.zeros_(m.bias)

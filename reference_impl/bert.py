"""BERT: a bidirectional encoder with token + segment + position embeddings, and its task heads."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .encoder import Encoder
from .initialization import init_normal
from .masks import padding_mask
from .norm import LayerNorm


@dataclass
class BertConfig:
    vocab_size: int
    d_model: int = 128
    n_heads: int = 4
    d_ff: int = 512
    n_layers: int = 2
    max_len: int = 128
    n_segments: int = 2
    dropout: float = 0.0
    eps: float = 1e-12
    pad_id: int = 0


class BertEmbeddings(nn.Module):
    """Sum of token, segment (sentence A/B) and learned position embeddings, then LayerNorm."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.tokens = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.segments = nn.Embedding(cfg.n_segments, cfg.d_model)
        self.positions = nn.Embedding(cfg.max_len, cfg.d_model)
        self.norm = LayerNorm(cfg.d_model, cfg.eps)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, tokens: torch.Tensor, segments: torch.Tensor | None = None) -> torch.Tensor:
        segments = torch.zeros_like(tokens) if segments is None else segments
        pos = torch.arange(tokens.size(1), device=tokens.device)
        return self.dropout(self.norm(self.tokens(tokens) + self.segments(segments) + self.positions(pos)))


class Bert(nn.Module):
    """Returns (sequence output (B, L, d), pooled [CLS] output (B, d))."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embeddings = BertEmbeddings(cfg)
        self.encoder = Encoder(cfg.n_layers, cfg.d_model, cfg.n_heads, cfg.d_ff, cfg.dropout,
                               norm_first=False, activation="gelu", eps=cfg.eps)
        self.pooler = nn.Linear(cfg.d_model, cfg.d_model)
        init_normal(self)

    def forward(self, tokens: torch.Tensor, segments: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        mask = padding_mask(tokens, self.cfg.pad_id) if attention_mask is None else attention_mask[:, None, None, :].bool()
        h = self.encoder(self.embeddings(tokens, segments), mask)
        return h, torch.tanh(self.pooler(h[:, 0]))


class MaskedLMHead(nn.Module):
    """Predicts the original token at every position; the output matrix is the input embedding table."""

    def __init__(self, cfg: BertConfig, embedding: nn.Embedding) -> None:
        super().__init__()
        self.transform = nn.Linear(cfg.d_model, cfg.d_model)
        self.norm = LayerNorm(cfg.d_model, cfg.eps)
        self.embedding = embedding
        self.bias = nn.Parameter(torch.zeros(cfg.vocab_size))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.norm(F.gelu(self.transform(h))) @ self.embedding.weight.T + self.bias


class BertForPretraining(nn.Module):
    """Masked language modelling plus next-sentence prediction (is sentence B the real continuation?)."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.bert = Bert(cfg)
        self.mlm = MaskedLMHead(cfg, self.bert.embeddings.tokens)
        self.nsp = nn.Linear(cfg.d_model, 2)

    def forward(self, tokens: torch.Tensor, segments: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        h, pooled = self.bert(tokens, segments)
        return self.mlm(h), self.nsp(pooled)


class BertForClassification(nn.Module):
    """A linear classifier on the pooled [CLS] vector."""

    def __init__(self, cfg: BertConfig, n_classes: int) -> None:
        super().__init__()
        self.bert = Bert(cfg)
        self.dropout = nn.Dropout(cfg.dropout)
        self.classifier = nn.Linear(cfg.d_model, n_classes)

    def forward(self, tokens: torch.Tensor, segments: torch.Tensor | None = None) -> torch.Tensor:
        return self.classifier(self.dropout(self.bert(tokens, segments)[1]))


class BertForQuestionAnswering(nn.Module):
    """Extractive QA: a start logit and an end logit for every token of the passage."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.bert = Bert(cfg)
        self.span = nn.Linear(cfg.d_model, 2)

    def forward(self, tokens: torch.Tensor, segments: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        start, end = self.span(self.bert(tokens, segments)[0]).unbind(-1)
        return start, end


def best_span(start_logits: torch.Tensor, end_logits: torch.Tensor, max_answer_len: int = 30) -> tuple[int, int]:
    """The (start, end) with end >= start, at most max_answer_len long, maximizing start + end logits (1-D inputs)."""
    scores = start_logits[:, None] + end_logits[None, :]
    n = scores.size(0)
    idx = torch.arange(n, device=scores.device)
    valid = (idx[None, :] >= idx[:, None]) & (idx[None, :] - idx[:, None] < max_answer_len)
    flat = scores.masked_fill(~valid, float("-inf")).argmax()
    return int(flat // n), int(flat % n)


def mask_tokens(tokens: torch.Tensor, vocab_size: int, mask_id: int, special_ids: list[int],
                prob: float = 0.15, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking rule: choose `prob` of the non-special tokens; of those, 80% become [MASK],
    10% a random token, 10% stay unchanged. Returns (inputs, labels) with labels -100 where not chosen."""
    g = dict(generator=generator)
    special = torch.isin(tokens, torch.tensor(special_ids, device=tokens.device))
    chosen = (torch.rand(tokens.shape, **g, device=tokens.device) < prob) & ~special
    labels = torch.where(chosen, tokens, torch.full_like(tokens, -100))
    roll = torch.rand(tokens.shape, **g, device=tokens.device)
    inputs = tokens.clone()
    inputs[chosen & (roll < 0.8)] = mask_id
    to_random = chosen & (roll >= 0.8) & (roll < 0.9)
    inputs[to_random] = torch.randint(vocab_size, tokens.shape, **g, device=tokens.device)[to_random]
    return inputs, labels

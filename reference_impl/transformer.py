"""The encoder-decoder Transformer of "Attention Is All You Need", trained with teacher forcing."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .decoder import Decoder
from .embeddings import TokenEmbedding, tie_weights
from .encoder import Encoder
from .masks import causal_mask, padding_mask
from .positions import SinusoidalPositions


@dataclass
class TransformerConfig:
    src_vocab: int
    tgt_vocab: int
    d_model: int = 128
    n_heads: int = 4
    d_ff: int = 256
    n_encoder_layers: int = 2
    n_decoder_layers: int = 2
    dropout: float = 0.0
    norm_first: bool = False
    pad_id: int = 0
    max_len: int = 512
    tie_output: bool = True


class Transformer(nn.Module):
    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.src_embed = TokenEmbedding(cfg.src_vocab, cfg.d_model)
        self.tgt_embed = TokenEmbedding(cfg.tgt_vocab, cfg.d_model)
        self.positions = SinusoidalPositions(cfg.d_model, cfg.max_len)
        self.encoder = Encoder(cfg.n_encoder_layers, cfg.d_model, cfg.n_heads, cfg.d_ff, cfg.dropout, cfg.norm_first)
        self.decoder = Decoder(cfg.n_decoder_layers, cfg.d_model, cfg.n_heads, cfg.d_ff, cfg.dropout, cfg.norm_first)
        self.out = nn.Linear(cfg.d_model, cfg.tgt_vocab, bias=False)
        if cfg.tie_output:
            tie_weights(self.out, self.tgt_embed)

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """src (B, S) -> (memory (B, S, d_model), source padding mask (B, 1, 1, S))."""
        src_mask = padding_mask(src, self.cfg.pad_id)
        return self.encoder(self.positions(self.src_embed(src)), src_mask), src_mask

    def decode(self, tgt_in: torch.Tensor, memory: torch.Tensor, src_mask: torch.Tensor,
               need_weights: bool = False) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
        """tgt_in (B, T) -> (logits (B, T, tgt_vocab), cross-attention weights per layer)."""
        t = tgt_in.size(1)
        self_mask = causal_mask(t, device=tgt_in.device) & padding_mask(tgt_in, self.cfg.pad_id)
        h, weights = self.decoder(self.positions(self.tgt_embed(tgt_in)), memory, self_mask, src_mask,
                                  need_weights=need_weights)
        return self.out(h), weights

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        memory, src_mask = self.encode(src)
        return self.decode(tgt_in, memory, src_mask)[0]


def shift_right(tgt: torch.Tensor, bos_id: int) -> torch.Tensor:
    """Teacher forcing input: [BOS, y1, ..., y_{T-1}] for target [y1, ..., yT]."""
    bos = torch.full_like(tgt[:, :1], bos_id)
    return torch.cat([bos, tgt[:, :-1]], dim=1)


def seq2seq_loss(model: Transformer, src: torch.Tensor, tgt: torch.Tensor, bos_id: int) -> torch.Tensor:
    """Cross-entropy of predicting every target token from the true previous ones (pads ignored)."""
    logits = model(src, shift_right(tgt, bos_id))
    return F.cross_entropy(logits.flatten(0, 1), tgt.flatten(), ignore_index=model.cfg.pad_id)

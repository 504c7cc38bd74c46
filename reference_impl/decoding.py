"""Turning an encoder-decoder model into output sequences: greedy decoding and beam search."""
from __future__ import annotations

import torch

from .transformer import Transformer


@torch.no_grad()
def greedy_decode(model: Transformer, src: torch.Tensor, bos_id: int, eos_id: int, max_len: int) -> torch.Tensor:
    """Pick the most likely next token at each step. src (B, S) -> (B, <= max_len) without BOS, pads after EOS."""
    memory, src_mask = model.encode(src)
    out = torch.full((src.size(0), 1), bos_id, dtype=torch.long, device=src.device)
    done = torch.zeros(src.size(0), dtype=torch.bool, device=src.device)
    for _ in range(max_len):
        logits, _ = model.decode(out, memory, src_mask)
        nxt = logits[:, -1].argmax(-1)
        nxt = torch.where(done, torch.full_like(nxt, model.cfg.pad_id), nxt)
        out = torch.cat([out, nxt[:, None]], dim=1)
        done |= nxt == eos_id
        if done.all():
            break
    return out[:, 1:]


@torch.no_grad()
def beam_search(model: Transformer, src: torch.Tensor, bos_id: int, eos_id: int, max_len: int,
                beam_size: int = 4, length_penalty: float = 1.0) -> list[int]:
    """Keep the `beam_size` best partial outputs for one source (1, S); return the best finished one.

    Hypotheses are ranked by total log-probability / length**length_penalty.
    """
    memory, src_mask = model.encode(src)
    beams: list[tuple[list[int], float]] = [([bos_id], 0.0)]
    finished: list[tuple[list[int], float]] = []
    for _ in range(max_len):
        seqs = torch.tensor([s for s, _ in beams], device=src.device)
        n = len(beams)
        logits, _ = model.decode(seqs, memory.expand(n, -1, -1), src_mask.expand(n, -1, -1, -1))
        logp = logits[:, -1].float().log_softmax(-1)  # (n, V)
        totals = torch.tensor([score for _, score in beams], device=src.device)[:, None] + logp
        top = totals.flatten().topk(min(beam_size, totals.numel()))
        beams = []
        for score, idx in zip(top.values.tolist(), top.indices.tolist()):
            b, tok = divmod(idx, logp.size(1))
            seq = seqs[b].tolist() + [tok]
            (finished if tok == eos_id else beams).append((seq, score))
        if not beams or len(finished) >= beam_size:
            break
    candidates = finished or beams
    best = max(candidates, key=lambda c: c[1] / (len(c[0]) - 1) ** length_penalty)
    return best[0][1:]

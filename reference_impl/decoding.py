"""Turning an encoder-decoder model into output sequences: greedy decoding and beam search.

The search itself only needs a step function: prefixes (n, t) of token ids -> next-token log-probs (n, V).
"""
from __future__ import annotations

from collections.abc import Callable

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


Step = Callable[[torch.Tensor], torch.Tensor]


@torch.no_grad()
def greedy_steps(step: Step, bos_id: int, eos_id: int, max_len: int) -> list[int]:
    """Append the most likely token until EOS (kept) or max_len tokens; the result has no BOS."""
    seq = [bos_id]
    for _ in range(max_len):
        seq.append(int(step(torch.tensor([seq]))[0].argmax()))
        if seq[-1] == eos_id:
            break
    return seq[1:]


@torch.no_grad()
def beam_search_steps(step: Step, bos_id: int, eos_id: int, max_len: int, beam_size: int = 4,
                      length_penalty: float = 1.0) -> list[int]:
    """Keep the `beam_size` best partial outputs by total log-probability; a hypothesis that ends in EOS is set
    aside as finished. Stop when no partial output is left, `beam_size` are finished, or after max_len steps.
    The best finished one wins (partial ones if none finished), ranked by total log-prob / length**length_penalty."""
    beams: list[tuple[list[int], float]] = [([bos_id], 0.0)]
    finished: list[tuple[list[int], float]] = []
    for _ in range(max_len):
        seqs = torch.tensor([s for s, _ in beams])
        logp = step(seqs).float()  # (n, V)
        totals = torch.tensor([score for _, score in beams])[:, None] + logp.cpu()
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


@torch.no_grad()
def beam_search(model: Transformer, src: torch.Tensor, bos_id: int, eos_id: int, max_len: int,
                beam_size: int = 4, length_penalty: float = 1.0) -> list[int]:
    """Beam search for one source (1, S) with the model's next-token log-probabilities."""
    memory, src_mask = model.encode(src)

    def step(seqs: torch.Tensor) -> torch.Tensor:
        n = seqs.size(0)
        logits, _ = model.decode(seqs.to(src.device), memory.expand(n, -1, -1), src_mask.expand(n, -1, -1, -1))
        return logits[:, -1].float().log_softmax(-1)

    return beam_search_steps(step, bos_id, eos_id, max_len, beam_size, length_penalty)

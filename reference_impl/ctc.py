"""Connectionist Temporal Classification: a loss over all alignments, and greedy decoding."""
from __future__ import annotations

import torch

# "Impossible" in log space. A finite stand-in for -inf: logsumexp over all-(-inf) has a NaN gradient.
IMPOSSIBLE = -1e30


def ctc_loss(log_probs: torch.Tensor, targets: torch.Tensor, input_lengths: torch.Tensor,
             target_lengths: torch.Tensor, blank: int = 0) -> torch.Tensor:
    """-log p(target | input) summed over alignments, by the forward algorithm in log space.

    log_probs (T, B, C) log-softmaxed; targets (B, S) padded; returns the batch mean of
    loss / target_length (the reduction of torch.nn.functional.ctc_loss's 'mean').
    """
    log_probs = log_probs.float()
    t_max, batch, _ = log_probs.shape
    s = targets.size(1)
    # the extended label: blank, y1, blank, y2, ..., blank -> (B, 2S+1)
    ext = torch.full((batch, 2 * s + 1), blank, dtype=torch.long, device=targets.device)
    ext[:, 1::2] = targets
    ext_len = 2 * target_lengths + 1
    impossible = torch.tensor(IMPOSSIBLE, device=log_probs.device)
    # a step of 2 is allowed onto a label that differs from the label two back (never onto a blank)
    can_skip = torch.zeros_like(ext, dtype=torch.bool)
    can_skip[:, 2:] = (ext[:, 2:] != blank) & (ext[:, 2:] != ext[:, :-2])
    emit = log_probs.gather(2, ext[None].expand(t_max, -1, -1))  # (T, B, 2S+1)

    alpha = torch.full((batch, 2 * s + 1), IMPOSSIBLE, device=log_probs.device)
    alpha[:, 0] = emit[0, :, 0]
    alpha[:, 1] = torch.where(target_lengths > 0, emit[0, :, 1], impossible)
    for t in range(1, t_max):
        stay = alpha
        step1 = torch.cat([impossible.expand(batch, 1), alpha[:, :-1]], dim=1)
        step2 = torch.cat([impossible.expand(batch, 2), alpha[:, :-2]], dim=1).masked_fill(~can_skip, IMPOSSIBLE)
        new = torch.logsumexp(torch.stack([stay, step1, step2]), dim=0) + emit[t]
        alpha = torch.where((t < input_lengths)[:, None], new, alpha)  # finished sequences keep their alpha

    idx = torch.arange(batch, device=targets.device)
    end = torch.logsumexp(torch.stack([alpha[idx, ext_len - 1], alpha[idx, (ext_len - 2).clamp(min=0)]]), dim=0)
    end = torch.where(target_lengths > 0, end, alpha[idx, 0])
    return (-end / target_lengths.clamp(min=1)).mean()


def ctc_greedy_decode(log_probs: torch.Tensor, lengths: torch.Tensor | None = None, blank: int = 0) -> list[list[int]]:
    """Best label per frame, repeats merged, blanks removed. log_probs (B, T, C) -> one id list per item."""
    best = log_probs.argmax(-1)  # (B, T)
    out = []
    for b, row in enumerate(best.tolist()):
        n = len(row) if lengths is None else int(lengths[b])
        labels, prev = [], None
        for tok in row[:n]:
            if tok != prev and tok != blank:
                labels.append(tok)
            prev = tok
        out.append(labels)
    return out

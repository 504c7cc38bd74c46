"""Python's own documentation (pydoc_data.topics) as a language-modelling corpus, and batches from it."""
from __future__ import annotations

import torch


def pydoc_text() -> str:
    """About 465k characters of the Python reference manual, topics in sorted order (deterministic)."""
    from pydoc_data.topics import topics

    return "\n".join(topics[k] for k in sorted(topics))


def lm_batch(ids: torch.Tensor, block: int, batch: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows of a 1-D id tensor: inputs (batch, block) and targets shifted by one."""
    starts = torch.randint(len(ids) - block - 1, (batch,), generator=generator)
    x = torch.stack([ids[s : s + block] for s in starts.tolist()])
    y = torch.stack([ids[s + 1 : s + block + 1] for s in starts.tolist()])
    return x, y

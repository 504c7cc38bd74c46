"""A minimal training loop shared by the tests and notebooks: AdamW, gradient clipping, a progress bar."""
from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from tqdm.auto import tqdm


def fit(loss_fn: Callable[[int], torch.Tensor], params: Iterable[torch.nn.Parameter], steps: int, lr: float = 3e-3,
        weight_decay: float = 0.0, clip: float = 1.0, progress: bool = False, warmup: int = 0) -> list[float]:
    """Run `steps` optimizer steps on loss_fn(step); return the loss of every step.

    The learning rate warms up linearly over `warmup` steps, then decays along a cosine to 10%.
    """
    params = [p for p in params if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        t = (step - warmup) / max(1, steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + torch.cos(torch.tensor(torch.pi * t)).item())

    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    losses = []
    bar = tqdm(range(steps), disable=not progress, desc="training")
    for step in bar:
        loss = loss_fn(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, clip)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if progress and step % 20 == 0:
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
    return losses

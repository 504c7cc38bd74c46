"""Synthesized telephone keypad audio (DTMF): each digit is the sum of a row tone and a column tone."""
from __future__ import annotations

import math
import random

import torch

KEYS = "0123456789*#"
ROWS = {"1": 697, "2": 697, "3": 697, "4": 770, "5": 770, "6": 770, "7": 852, "8": 852, "9": 852,
        "*": 941, "0": 941, "#": 941}
COLS = {"1": 1209, "4": 1209, "7": 1209, "*": 1209, "2": 1336, "5": 1336, "8": 1336, "0": 1336,
        "3": 1477, "6": 1477, "9": 1477, "#": 1477}
SAMPLE_RATE = 8000


def dtmf_waveform(keys: str, rng: random.Random, sample_rate: int = SAMPLE_RATE, noise: float = 0.05) -> torch.Tensor:
    """1-D float waveform: silence, then each key for 40-90 ms with 30-70 ms gaps, plus white noise."""
    pieces = [torch.zeros(int(sample_rate * rng.uniform(0.02, 0.06)))]
    for key in keys:
        n = int(sample_rate * rng.uniform(0.04, 0.09))
        t = torch.arange(n) / sample_rate
        amp = rng.uniform(0.3, 0.5)
        tone = amp * (torch.sin(2 * math.pi * ROWS[key] * t + rng.uniform(0, 6.3))
                      + torch.sin(2 * math.pi * COLS[key] * t + rng.uniform(0, 6.3)))
        pieces += [tone, torch.zeros(int(sample_rate * rng.uniform(0.03, 0.07)))]
    wave = torch.cat(pieces)
    gen = torch.Generator().manual_seed(rng.randrange(2**31))
    return wave + noise * torch.randn(wave.shape, generator=gen)


def dtmf_dataset(n: int, seed: int = 0, min_keys: int = 1, max_keys: int = 6) -> list[tuple[torch.Tensor, str]]:
    """n (waveform, key string) examples, deterministic under seed."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        keys = "".join(rng.choice(KEYS) for _ in range(rng.randint(min_keys, max_keys)))
        out.append((dtmf_waveform(keys, rng), keys))
    return out


def key_ids(keys: str) -> list[int]:
    """Labels for CTC: 0 is the blank, keys are 1..12."""
    return [KEYS.index(k) + 1 for k in keys]

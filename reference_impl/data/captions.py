"""Digit images paired with short captions ("a handwritten seven , odd"), for the multimodal models."""
from __future__ import annotations

import torch

from .digits import load_digits_split

NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
VOCAB = ["<pad>", "<bos>", "<eos>", "a", "handwritten", ",", "odd", "even"] + NUMBER_WORDS


def caption_for(digit: int) -> list[str]:
    return ["a", "handwritten", NUMBER_WORDS[digit], ",", "odd" if digit % 2 else "even"]


def encode_caption(digit: int) -> list[int]:
    """[<bos>, words..., <eos>] as ids of VOCAB (all captions have the same length)."""
    return [1] + [VOCAB.index(w) for w in caption_for(digit)] + [2]


def digit_caption_split(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train images, train captions (N, 7), test images, test captions)."""
    x_tr, y_tr, x_te, y_te = load_digits_split(seed)
    def caps(y: torch.Tensor) -> torch.Tensor:
        return torch.tensor([encode_caption(int(d)) for d in y])
    return x_tr, caps(y_tr), x_te, caps(y_te)

"""Date translation pairs: English and German written dates -> ISO 8601 (YYYY-MM-DD)."""
from __future__ import annotations

import datetime as dt
import random

import torch

from ..tokenization import CharTokenizer

MONTHS_EN = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
             "October", "November", "December"]
MONTHS_DE = ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September",
             "Oktober", "November", "Dezember"]
DAYS_EN = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
DAYS_DE = ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"]


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


FORMATS = {
    "en": [
        lambda d: f"{MONTHS_EN[d.month - 1]} {d.day}, {d.year}",
        lambda d: f"{d.day} {MONTHS_EN[d.month - 1]} {d.year}",
        lambda d: f"{DAYS_EN[d.weekday()]}, {MONTHS_EN[d.month - 1]} {d.day}, {d.year}",
        lambda d: f"{MONTHS_EN[d.month - 1][:3]} {d.day} {d.year}",
        lambda d: f"the {_ordinal(d.day)} of {MONTHS_EN[d.month - 1]} {d.year}",
        lambda d: f"{d.month}/{d.day}/{d.year}",
    ],
    "de": [
        lambda d: f"{d.day}. {MONTHS_DE[d.month - 1]} {d.year}",
        lambda d: f"{DAYS_DE[d.weekday()]}, {d.day}. {MONTHS_DE[d.month - 1]} {d.year}",
        lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",
        lambda d: f"{d.day}. {MONTHS_DE[d.month - 1][:3]}. {d.year}",
        lambda d: f"am {d.day}. {MONTHS_DE[d.month - 1]} {d.year}",
    ],
}
FIRST_DAY, N_DAYS = dt.date(1950, 1, 1), (dt.date(2049, 12, 31) - dt.date(1950, 1, 1)).days + 1
SPECIALS = ["<pad>", "<bos>", "<eos>"]


def date_pairs(n: int, seed: int = 0, languages: tuple[str, ...] = ("en", "de")) -> list[tuple[str, str]]:
    """n (written date, ISO date) pairs for dates in 1950-2049, lower-cased at random for variety."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        d = FIRST_DAY + dt.timedelta(days=rng.randrange(N_DAYS))
        text = rng.choice(FORMATS[rng.choice(languages)])(d)
        pairs.append((text.lower() if rng.random() < 0.3 else text, d.isoformat()))
    return pairs


def date_tokenizers() -> tuple[CharTokenizer, CharTokenizer]:
    """(source, target) character tokenizers; ids 0, 1, 2 are <pad>, <bos>, <eos> in both."""
    source_chars = set(" ,./0123456789") | set("".join(MONTHS_EN + MONTHS_DE + DAYS_EN + DAYS_DE + ["the of am stndrh"]))
    source_chars |= {c.lower() for c in source_chars}
    return CharTokenizer(source_chars, SPECIALS), CharTokenizer("0123456789-", SPECIALS)


def encode_pairs(pairs: list[tuple[str, str]], src_tok: CharTokenizer, tgt_tok: CharTokenizer) -> tuple[torch.Tensor, torch.Tensor]:
    """(src (N, S) padded with 0, tgt (N, 11): the 10 ISO characters then <eos>)."""
    eos = tgt_tok.stoi["<eos>"]
    src = [src_tok.encode(s) for s, _ in pairs]
    width = max(map(len, src))
    src_t = torch.tensor([s + [0] * (width - len(s)) for s in src])
    tgt_t = torch.tensor([tgt_tok.encode(t) + [eos] for _, t in pairs])
    return src_t, tgt_t

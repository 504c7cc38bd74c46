"""Every pair of students scored at once through an inverted index (fingerprint -> the students who have it).

A fingerprint held by more than COMMON of the class (and by more than two students) is code everyone writes alike:
it is no evidence and is dropped, for both the shared part and each student's total. The rest are weighted by
rarity, log((N + 1) / holders) for N students with fingerprints, so a fragment two students share counts far more
than one a tenth of the class shares. A pair's score is the weighted Dice coefficient of their fingerprint sets,
2 * shared / (total_a + total_b), in [0, 1]: 1 when both hold the same evidence and nothing else, and lowered by
code either wrote alone (a copied function inside a long original answer still shows, but does not read as 1)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .fingerprints import Fingerprint

COMMON = 0.25  # a fingerprint in more than this share of the class is ignored


@dataclass(frozen=True)
class Span:
    """Lines first..last (1-based) of a solution cell, identified by its grade_id."""
    cell: str
    first: int
    last: int

    def __str__(self) -> str:
        return f"{self.cell}:{self.first}" + (f"-{self.last}" if self.last != self.first else "")


@dataclass(frozen=True)
class Pair:
    """Two students, their score, and the lines of each that hold the fingerprints they share."""
    a: str
    b: str
    score: float
    spans_a: tuple[Span, ...]
    spans_b: tuple[Span, ...]


def merged(spans: list[Span]) -> tuple[Span, ...]:
    """Overlapping or adjacent spans of a cell joined into one, in cell and line order (cells as first seen)."""
    order = {s.cell: i for i, s in reversed(list(enumerate(spans)))}
    out: list[Span] = []
    for s in sorted(spans, key=lambda s: (order[s.cell], s.first, s.last)):
        if out and out[-1].cell == s.cell and s.first <= out[-1].last + 1:
            out[-1] = Span(s.cell, out[-1].first, max(out[-1].last, s.last))
        else:
            out.append(s)
    return tuple(out)


def rank_pairs(prints: dict[str, list[Fingerprint]], top: int, common: float = COMMON) -> list[Pair]:
    """The `top` pairs with the highest scores (above 0), best first, ties by name; see the module's docstring."""
    students = sorted(s for s, fps in prints.items() if fps)
    n = len(students)
    index: dict[int, list[int]] = {}
    for i, student in enumerate(students):
        for h in {f.hash for f in prints[student]}:
            index.setdefault(h, []).append(i)
    limit = max(2, common * n)
    kept = {h: holders for h, holders in index.items() if len(holders) <= limit}
    if n < 2 or not kept:
        return []
    rows = np.fromiter((i for holders in kept.values() for i in holders), dtype=np.int64)
    cols = np.repeat(np.arange(len(kept)), [len(holders) for holders in kept.values()])
    weight = np.log((n + 1) / np.array([len(holders) for holders in kept.values()], dtype=float))
    held = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, len(kept)))
    total = held @ weight
    shared = sparse.triu(held.multiply(weight[None, :]).tocsr() @ held.T, k=1).tocoo()
    scores = 2 * shared.data / (total[shared.row] + total[shared.col])
    order = np.lexsort((shared.col, shared.row, -scores))[:top]
    return [pair(students[shared.row[o]], students[shared.col[o]], float(scores[o]), prints, kept)
            for o in order if scores[o] > 0]


def pair(a: str, b: str, score: float, prints: dict[str, list[Fingerprint]], kept: dict[int, list[int]]) -> Pair:
    """The Pair of a and b, with the lines of each that hold a fingerprint both have (common ones left out)."""
    both = {f.hash for f in prints[a]} & {f.hash for f in prints[b]} & kept.keys()
    spans = [merged([Span(f.cell, f.first, f.last) for f in prints[s] if f.hash in both]) for s in (a, b)]
    return Pair(a, b, min(1.0, max(0.0, score)), spans[0], spans[1])


def lines_of(spans: tuple[Span, ...]) -> set[tuple[str, int]]:
    """(cell, line) for every line the spans cover, to highlight them."""
    return {(s.cell, line) for s in spans for line in range(s.first, s.last + 1)}


def describe(spans: tuple[Span, ...]) -> str:
    """The spans in words for a table, by cell: 'sdpa-solution:4-10,14; masks-solution:3'."""
    cells: dict[str, list[str]] = {}
    for s in spans:
        cells.setdefault(s.cell, []).append(str(s).rpartition(":")[2])
    return "; ".join(f"{cell}:{','.join(lines)}" for cell, lines in cells.items())


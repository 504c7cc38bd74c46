"""Tokenizers: characters, and a byte-level BPE trained on a corpus (merges, encode, decode, special tokens)."""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable

# Split text into chunks that merges never cross: words with their leading space, numbers,
# punctuation runs and whitespace. Every character falls into one alternative, so nothing is lost.
PRETOKENIZE = re.compile(r" ?[^\W\d_]+| ?\d+| ?[^\s\w]+|_+|\s+(?!\S)|\s+")


class CharTokenizer:
    """One id per character of a fixed alphabet, after the special tokens."""

    def __init__(self, alphabet: Iterable[str], specials: Iterable[str] = ()) -> None:
        specials = list(specials)
        self.itos = specials + sorted(set(alphabet) - set(specials))
        self.stoi = {s: i for i, s in enumerate(self.itos)}
        self.n_specials = len(specials)

    @classmethod
    def from_text(cls, text: str, specials: Iterable[str] = ()) -> "CharTokenizer":
        return cls(set(text), specials)

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        try:
            return [self.stoi[c] for c in text]
        except KeyError as err:
            raise ValueError(f"character {err.args[0]!r} is not in the tokenizer's alphabet") from None

    def decode(self, ids: Iterable[int]) -> str:
        """Characters for ids; special tokens are dropped."""
        return "".join(self.itos[i] for i in ids if i >= self.n_specials)


class BPETokenizer:
    """Byte-level byte-pair encoding: ids 0-255 are bytes, then one id per learned merge, then specials."""

    def __init__(self, merges: list[tuple[int, int]], specials: Iterable[str] = ()) -> None:
        self.merges = list(merges)
        self.ranks = {pair: i for i, pair in enumerate(self.merges)}
        self.vocab = {i: bytes([i]) for i in range(256)}
        for i, (a, b) in enumerate(self.merges):
            self.vocab[256 + i] = self.vocab[a] + self.vocab[b]
        self.specials = {s: 256 + len(self.merges) + i for i, s in enumerate(specials)}
        self.special_of_id = {i: s for s, i in self.specials.items()}
        longest_first = sorted(self.specials, key=len, reverse=True)
        self._special_split = re.compile("(" + "|".join(map(re.escape, longest_first)) + ")") if self.specials else None
        self._cache: dict[str, list[int]] = {}

    @property
    def vocab_size(self) -> int:
        return 256 + len(self.merges) + len(self.specials)

    @classmethod
    def train(cls, text: str, vocab_size: int, specials: Iterable[str] = ()) -> "BPETokenizer":
        """Learn vocab_size - 256 - len(specials) merges by repeatedly joining the most frequent adjacent
        pair inside a chunk (ties go to the smaller pair, so training is deterministic)."""
        specials = list(specials)
        n_merges = vocab_size - 256 - len(specials)
        if n_merges < 0:
            raise ValueError(f"vocab_size {vocab_size} is smaller than 256 bytes + {len(specials)} specials")
        chunk_counts = Counter(PRETOKENIZE.findall(text))
        words = [list(c.encode("utf-8", "surrogatepass")) for c in chunk_counts]
        freqs = list(chunk_counts.values())
        pair_counts: Counter[tuple[int, int]] = Counter()
        where: dict[tuple[int, int], set[int]] = defaultdict(set)  # pair -> chunks that (may) hold it
        for w, (word, f) in enumerate(zip(words, freqs)):
            for pair in zip(word, word[1:]):
                pair_counts[pair] += f
                where[pair].add(w)
        merges: list[tuple[int, int]] = []
        for new_id in range(256, 256 + n_merges):
            if not pair_counts:
                break
            best = max(pair_counts.items(), key=lambda kv: (kv[1], -kv[0][0], -kv[0][1]))[0]
            merges.append(best)
            for w in where.pop(best):
                word, f = words[w], freqs[w]
                for pair in zip(word, word[1:]):
                    pair_counts[pair] -= f
                    if pair_counts[pair] <= 0:
                        del pair_counts[pair]
                words[w] = word = merge_pair(word, best, new_id)
                for pair in zip(word, word[1:]):
                    pair_counts[pair] += f
                    where[pair].add(w)
        return cls(merges, specials)

    def _encode_chunk(self, chunk: str) -> list[int]:
        if chunk not in self._cache:
            ids = list(chunk.encode("utf-8", "surrogatepass"))
            while len(ids) > 1:
                pair = min(zip(ids, ids[1:]), key=lambda p: self.ranks.get(p, len(self.ranks)))
                if pair not in self.ranks:
                    break
                ids = merge_pair(ids, pair, 256 + self.ranks[pair])
            self._cache[chunk] = ids
        return self._cache[chunk]

    def encode(self, text: str) -> list[int]:
        pieces = self._special_split.split(text) if self._special_split else [text]
        ids: list[int] = []
        for piece in pieces:
            if piece in self.specials:
                ids.append(self.specials[piece])
            else:
                for chunk in PRETOKENIZE.findall(piece):
                    ids.extend(self._encode_chunk(chunk))
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Bytes back to text; byte runs that are not valid UTF-8 (possible after sampling) show as U+FFFD."""
        out, buf = [], bytearray()
        for i in ids:
            if i in self.special_of_id:
                out += [_to_text(buf), self.special_of_id[i]]
                buf = bytearray()
            else:
                buf += self.vocab[i]
        out.append(_to_text(buf))
        return "".join(out)


def _to_text(buf: bytearray) -> str:
    try:
        return buf.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return buf.decode("utf-8", "replace")


def merge_pair(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace every occurrence of `pair`, left to right and without overlaps, by `new_id`."""
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


# The teaching version of byte-level BPE (assignment 1): one sequence, no pre-splitting into words.

def learn_merges(text: str, n_merges: int) -> list[tuple[int, int]]:
    """Repeatedly join the most frequent adjacent pair of the UTF-8 bytes into a new id 256, 257, ...
    Ties go to the pair that occurs first; training stops early when no pair is left."""
    ids, merges = list(text.encode("utf-8")), []
    for new_id in range(256, 256 + n_merges):
        counts = Counter(zip(ids, ids[1:]))  # insertion order = order of first occurrence
        if not counts:
            break
        best = max(counts, key=counts.__getitem__)  # max keeps the first of equal counts
        merges.append(best)
        ids = merge_pair(ids, best, new_id)
    return merges


def apply_merges(text: str, merges: list[tuple[int, int]]) -> list[int]:
    """Encode: the text's UTF-8 bytes with every merge applied in the order it was learned."""
    ids = list(text.encode("utf-8"))
    for i, pair in enumerate(merges):
        ids = merge_pair(ids, pair, 256 + i)
    return ids


def expand_ids(ids: list[int], merges: list[tuple[int, int]]) -> str:
    """Decode: every id back to its bytes, then the bytes as UTF-8 (invalid runs become U+FFFD)."""
    vocab = {i: bytes([i]) for i in range(256)}
    for i, (a, b) in enumerate(merges):
        vocab[256 + i] = vocab[a] + vocab[b]
    return b"".join(vocab[i] for i in ids).decode("utf-8", errors="replace")

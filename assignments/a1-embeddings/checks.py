"""Checks of assignment 1: byte-pair encoding, token embeddings, sinusoidal positions and RoPE.
Each lists the mistakes students typically make, as variants of the answer."""
from __future__ import annotations

import math
from collections import Counter

import torch

from reference_impl.embeddings import TokenEmbedding
from reference_impl.positions import RotaryEmbedding, sinusoidal_encoding
from reference_impl.tokenization import apply_merges, expand_ids, learn_merges, merge_pair

from autograder.grading.parts import Call, Case, ChoiceCheck, Outputs, PartCheck

from .standins import merge_pair as trusted_merge_pair

# words with repeated letters (overlapping pairs such as "aa" in "aaa") and multi-byte UTF-8 characters
WORDS = ["the", "then", "there", "März", "über", "naïve", "café", "aaa", "baaad", "banana", "bandana", "ananas",
         "straße", "Grüße", "hello", "held", "helm", "tokens", "token", "to", "a", "an", "ñandú", "zoo", "loop"]


def _text(g: torch.Generator, n_words: int) -> str:
    picks = torch.randint(len(WORDS), (n_words,), generator=g).tolist()
    return " ".join(WORDS[i] for i in picks)


# ---- characters as tokens --------------------------------------------------------------------------------

N_SPECIALS = 3  # <pad>, <bos>, <eos> come first


def _char_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    def case(label: str, text: str, alphabet: str) -> Case:
        return Case(label, {}, Call(options={"text": text, "alphabet": alphabet}, returns="ints"))

    text = _text(g, 12 if hidden else 5)
    chars = sorted(set(text))
    shuffled = "".join(chars[i] for i in torch.randperm(len(chars), generator=g).tolist())
    accented = "über März café" if hidden else "naïve Grüße"
    return [case("random words, a shuffled alphabet with repeats", text, shuffled + shuffled[::2]),
            case("accented words", accented, "".join(sorted(set(accented), reverse=True)) + ("zä" if hidden else "yö")),
            case("a text using part of the alphabet", "ab" if hidden else "ca", "zyxcba" if hidden else "dcba")]


def _char_encode(c: Case, offset: int = N_SPECIALS, order: str = "sorted") -> Outputs:
    text, alphabet = c.call.options["text"], c.call.options["alphabet"]
    if order == "ord":
        return [torch.tensor([ord(ch) for ch in text])]
    chars = sorted(set(alphabet)) if order == "sorted" else list(dict.fromkeys(alphabet))
    stoi = {ch: offset + i for i, ch in enumerate(chars)}
    return [torch.tensor([stoi[ch] for ch in text])]


CHAR_ENCODE = PartCheck(
    id="char-encode", target="char_encode", kind="function", op="elementwise", outputs=["ids"],
    cases=_char_cases, reference=_char_encode,
    variants={
        "no_specials": ("the ids start at 0: the special tokens <pad>, <bos>, <eos> take ids 0-2, so characters "
                        "start at 3", lambda c: _char_encode(c, offset=0)),
        "unsorted": ("the characters are numbered in the order they appear in the alphabet; sort them first",
                     lambda c: _char_encode(c, order="first")),
        "code_points": ("the ids are Unicode code points (ord); they are positions in the vocabulary",
                        lambda c: _char_encode(c, order="ord")),
    })


# ---- merge one pair ------------------------------------------------------------------------------------

def _merge_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    def case(label: str, ids: list[int], pair: tuple[int, int], new_id: int) -> Case:
        return Case(label, {"ids": torch.tensor(ids), "pair": torch.tensor(pair)},
                    Call(args=("ids", "pair"), options={"new_id": new_id}, as_python={"ids": "list[int]", "pair": "tuple[int, int]"}, returns="ints"))

    ids = torch.randint(0, 4, (40 if hidden else 12,), generator=g).tolist()
    pair = (ids[3], ids[4])
    ids[8:10] = pair  # at least two occurrences
    if not hidden:
        return [case("random ids", ids, pair, 256), case("overlapping occurrences", [5, 5, 5, 6], (5, 5), 300),
                case("the pair at the very end", [1, 2, 3, 1, 2], (1, 2), 256),
                case("the pair's first id at the very end", [1, 2, 5, 1], (1, 2), 258),
                case("a sequence made of the pair", [4, 2, 4, 2, 4, 2], (4, 2), 270)]
    return [case("random ids", ids, pair, 256 + int(torch.randint(0, 50, (1,), generator=g))),
            case("overlapping occurrences", [7, 7, 7, 7, 7, 1, 7, 7], (7, 7), 260),
            case("the pair at the very end", [3, 4, 1, 2, 3, 4], (3, 4), 257),
            case("the pair's first id at the very end", [3, 4, 1, 2, 3], (3, 4), 259),
            case("a sequence made of the pair", [3, 1, 3, 1], (3, 1), 256)]


def _merge_variant(step_one: bool = False, first_only: bool = False):
    def run(c: Case) -> Outputs:
        ids, pair, new_id = c.tensors["ids"].tolist(), tuple(c.tensors["pair"].tolist()), c.call.options["new_id"]
        if not (step_one or first_only):
            return [torch.tensor(merge_pair(ids, pair, new_id))]
        out, i, merged = [], 0, False
        while i < len(ids):
            if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair and not (first_only and merged):
                out.append(new_id)
                i, merged = i + (1 if step_one else 2), True
            else:
                out.append(ids[i])
                i += 1
        return [torch.tensor(out)]
    return run


MERGE = PartCheck(
    id="merge-pair", target="merge_pair", kind="function", op="elementwise", outputs=["ids"],
    cases=_merge_cases, reference=_merge_variant(),
    variants={
        "step_one": ("after a merge the loop moves on by one id, so the pair's second id is kept too; skip both "
                     "ids of the pair (i += 2)", _merge_variant(step_one=True)),
        "first_only": ("only the first occurrence of the pair is merged; merge every occurrence",
                       _merge_variant(first_only=True)),
    })


# ---- learn merges -----------------------------------------------------------------------------------

def _train_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    def case(label: str, text: str, n: int) -> Case:
        return Case(label, {}, Call(options={"text": text, "n_merges": n}, returns="ints",
                                    substitute={"merge_pair": trusted_merge_pair}))

    accented = " ".join(WORDS[i] for i in torch.randperm(len(WORDS), generator=g)[:12 if hidden else 6].tolist() * 3)
    return [case("random words", _text(g, 60 if hidden else 20), 20 if hidden else 8), case("accented words", accented, 12 if hidden else 6),
            case("more merges than pairs", "banana bandana" if hidden else "abab aba", 12 if hidden else 9)]


def _train_variant(c: Case, stride_two: bool = False, at_once: bool = False) -> Outputs:
    text, n = c.call.options["text"], c.call.options["n_merges"]
    if not stride_two and not at_once:
        return [torch.tensor(learn_merges(text, n))]
    ids, merges = list(text.encode("utf-8")), []
    if at_once:
        counts = Counter(zip(ids, ids[1:]))
        return [torch.tensor(sorted(counts, key=counts.__getitem__, reverse=True)[:n])]
    for new_id in range(256, 256 + n):
        counts = Counter(zip(ids[::2], ids[1::2]))
        if not counts:
            break
        merges.append(max(counts, key=counts.__getitem__))
        ids = merge_pair(ids, merges[-1], new_id)
    return [torch.tensor(merges)]


TRAIN = PartCheck(
    id="learn-merges", target="learn_merges", kind="function", op="elementwise", outputs=["merges"],
    cases=_train_cases, reference=_train_variant,
    variants={
        "stride_two": ("pairs are counted only at even positions (ids[::2], ids[1::2]); count every adjacent pair "
                       "zip(ids, ids[1:])", lambda c: _train_variant(c, stride_two=True)),
        "at_once": ("the merges are the most frequent pairs of the original bytes, chosen all at once; BPE is "
                    "iterative: merge the best pair, then count again", lambda c: _train_variant(c, at_once=True)),
    })


# ---- encode and decode ------------------------------------------------------------------------------

def _codec_cases(g: torch.Generator, hidden: bool, decode: bool) -> list[Case]:
    def case(label: str, text: str, trained_on: str, n: int) -> Case:
        merges = torch.tensor(learn_merges(trained_on, n), dtype=torch.long).reshape(-1, 2)
        if decode:  # merges learned on other text leave some characters' bytes in separate tokens
            return Case(label, {"ids": torch.tensor(apply_merges(text, merges.tolist())), "merges": merges},
                        Call(args=("ids", "merges"), as_python={"ids": "list[int]", "merges": "list[tuple[int, int]]"}, returns="text"))
        return Case(label, {"merges": merges}, Call(options={"text": text}, as_python={"merges": "list[tuple[int, int]]"},
                                                  tensor_options={"merges": "merges"}, returns="ints",
                                                  substitute={"merge_pair": trusted_merge_pair}))

    # every text holds "✓", which no training text has: its three bytes stay separate tokens
    n = 40 if hidden else 12
    accented = "März über naïve café straße ✓ " * 2 if hidden else "über über Grüße ✓ "
    return [case("random words", (t := _text(g, n) + " ✓"), t + _text(g, n), 25 if hidden else 8),
            case("accented words", accented, accented + "the then there", 15 if hidden else 5),
            case("trained on the same text", (t := _text(g, n) + " ✓"), t, 20 if hidden else 6)]


def _encode_variant(c: Case, chars: bool = False, reverse: bool = False) -> Outputs:
    text, merges = c.call.options["text"], [tuple(m) for m in c.tensors["merges"].tolist()]
    if chars:  # character codes instead of UTF-8 bytes: differs once a character is not ASCII
        ids = [ord(ch) for ch in text]
        for i, pair in enumerate(merges):
            ids = merge_pair(ids, pair, 256 + i)
        return [torch.tensor(ids)]
    if reverse:
        ids = list(text.encode("utf-8"))
        for i, pair in reversed(list(enumerate(merges))):
            ids = merge_pair(ids, pair, 256 + i)
        return [torch.tensor(ids)]
    return [torch.tensor(apply_merges(text, merges))]


ENCODE = PartCheck(
    id="bpe-encode", target="bpe_encode", kind="function", op="elementwise", outputs=["ids"],
    cases=lambda g, hidden: _codec_cases(g, hidden, decode=False), reference=_encode_variant,
    variants={
        "characters": ("the text is turned into character codes (ord); BPE starts from its UTF-8 bytes, "
                       "text.encode('utf-8')", lambda c: _encode_variant(c, chars=True)),
        "reversed": ("the merges are applied in reverse order; apply them in the order they were learned",
                     lambda c: _encode_variant(c, reverse=True)),
    })


def _text_tensor(text: str) -> torch.Tensor:
    return torch.tensor(list(text.encode("utf-8")), dtype=torch.uint8)


def _decode_variant(c: Case, per_token: bool = False, latin1: bool = False) -> Outputs:
    ids, merges = c.tensors["ids"].tolist(), [tuple(m) for m in c.tensors["merges"].tolist()]
    if not per_token and not latin1:
        return [_text_tensor(expand_ids(ids, merges))]
    vocab = {i: bytes([i]) for i in range(256)}
    for i, (a, b) in enumerate(merges):
        vocab[256 + i] = vocab[a] + vocab[b]
    if per_token:  # a character whose bytes are split over two tokens is lost
        return [_text_tensor("".join(vocab[i].decode("utf-8", errors="replace") for i in ids))]
    return [_text_tensor(b"".join(vocab[i] for i in ids).decode("latin-1"))]


DECODE = PartCheck(
    id="bpe-decode", target="bpe_decode", kind="function", op="elementwise", outputs=["text"],
    cases=lambda g, hidden: _codec_cases(g, hidden, decode=True), reference=_decode_variant,
    variants={
        "per_token": ("each token is decoded on its own; join all the bytes first, then decode once, since one "
                      "character's bytes may be split over two tokens", lambda c: _decode_variant(c, per_token=True)),
        "latin1": ("the bytes are decoded as Latin-1; they are UTF-8", lambda c: _decode_variant(c, latin1=True)),
    })


# ---- token embedding --------------------------------------------------------------------------------

def _embed_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    def case(label: str, vocab: int, d: int, shape: tuple[int, ...]) -> Case:
        t = {"tokens": torch.randint(vocab, shape, generator=g), "state.table.weight": torch.randn(vocab, d, generator=g)}
        return Case(label, t, Call(init={"vocab_size": vocab, "d_model": d}, args=("tokens",)))

    if not hidden:
        return [case("a batch of sequences", 10, 8, (2, 5)), case("one token", 4, 6, (1, 1)), case("wide", 12, 48, (1, 3))]
    return [case("a batch of sequences", 50, 16, (3, 7)), case("one token", 5, 4, (1, 1)), case("wide", 20, 64, (2, 3))]


def _embed_ref(c: Case, factor: str = "sqrt") -> Outputs:
    table, d = c.tensors["state.table.weight"], c.call.init["d_model"]
    if factor == "sqrt":
        m = TokenEmbedding(c.call.init["vocab_size"], d)
        m.load_state_dict({"table.weight": table})
        with torch.no_grad():
            return [m(c.tensors["tokens"])]
    scale = {"none": 1.0, "d": float(d), "inverse": 1 / math.sqrt(d)}[factor]
    return [table[c.tensors["tokens"]] * scale]


EMBEDDING = PartCheck(
    id="token-embedding", target="TokenEmbedding", kind="module", op="elementwise", outputs=["vectors"],
    cases=_embed_cases, reference=_embed_ref,
    variants={
        "no_scale": ("the looked-up vectors are not multiplied by sqrt(d_model)", lambda c: _embed_ref(c, "none")),
        "times_d": ("the vectors are multiplied by d_model; multiply by sqrt(d_model)", lambda c: _embed_ref(c, "d")),
        "divided": ("the vectors are divided by sqrt(d_model); multiply by it", lambda c: _embed_ref(c, "inverse")),
    })


# ---- sinusoidal positional encoding --------------------------------------------------------------------

def _pe_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    odd_or_even = 5 if hidden else 6  # hidden random lengths are odd, visible ones even: never the same case
    sizes = {"a random size": (odd_or_even + 2 * int(torch.randint(0, 17, (1,), generator=g)), 2 * int(torch.randint(2, 12, (1,), generator=g))),
             "few positions and dimensions": (2, 4) if hidden else (1, 4), "many positions": (50, 16) if hidden else (40, 12)}
    return [Case(label, {}, Call(options={"n_positions": n, "d_model": d})) for label, (n, d) in sizes.items()]


def _pe_variant(swap: bool = False, exponent_i: bool = False, concatenated: bool = False):
    def run(case: Case) -> Outputs:
        n, d = case.call.options["n_positions"], case.call.options["d_model"]
        pos = torch.arange(n, dtype=torch.float64)[:, None]
        i = torch.arange(0, d, 2, dtype=torch.float64)
        angle = pos / 10000 ** ((i / 2 if exponent_i else i) / d)
        pe = torch.zeros(n, d, dtype=torch.float64)
        pe[:, 0::2], pe[:, 1::2] = (torch.cos(angle), torch.sin(angle)) if swap else (torch.sin(angle), torch.cos(angle))
        if concatenated:
            pe = torch.cat([torch.sin(angle), torch.cos(angle)], dim=1)
        return [pe.float()]
    return run


POSITIONS = PartCheck(
    id="positional-encoding", target="sinusoidal_encoding", kind="function", op="elementwise", outputs=["encoding"],
    cases=_pe_cases, reference=lambda c: [sinusoidal_encoding(**c.call.options)],
    variants={
        "sin_cos_swapped": ("sin and cos are swapped: even dimensions 2i take sin, odd dimensions 2i+1 take cos",
                            _pe_variant(swap=True)),
        "exponent_i": ("the frequency exponent should be 2i/d_model (i indexes pairs of dimensions), not i/d_model",
                       _pe_variant(exponent_i=True)),
        "concatenated": ("all the sines come first, then all the cosines; they interleave: dimension 2i takes sin, "
                         "2i+1 takes cos of the same angle", _pe_variant(concatenated=True)),
    })


# ---- RoPE -----------------------------------------------------------------------------------------------

def _rope_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    def case(label: str, shape: tuple[int, ...]) -> Case:
        return Case(label, {"x": torch.randn(shape, generator=g)}, Call(args=("x",)))

    if not hidden:
        return [case("a batch of heads", (2, 2, 5, 8)), case("two positions, batch 1", (1, 1, 2, 6)), case("3-D input", (2, 6, 4)),
                case("long sequence", (1, 1, 40, 16))]
    return [case("a batch of heads", (2, 3, 9, 16)), case("two positions, batch 1", (1, 1, 2, 4)), case("3-D input", (4, 12, 8)),
            case("long sequence", (1, 1, 64, 32))]


def _rope_ref(c: Case, half: bool = False, sign: float = 1.0, exponent_i: bool = False) -> Outputs:
    x = c.tensors["x"]
    d = x.size(-1)
    if not (half or sign < 0 or exponent_i):
        return [RotaryEmbedding(d)(x)]
    i = torch.arange(d // 2, dtype=torch.float64)
    inv_freq = 10000 ** (-(i if exponent_i else 2 * i) / d)
    angle = sign * torch.arange(x.size(-2), dtype=torch.float64)[:, None] * inv_freq
    cos, sin = angle.cos().float(), angle.sin().float()
    a, b = (x[..., : d // 2], x[..., d // 2:]) if half else (x[..., 0::2], x[..., 1::2])
    ra, rb = a * cos - b * sin, a * sin + b * cos
    return [torch.cat([ra, rb], -1) if half else torch.stack([ra, rb], -1).flatten(-2)]


ROPE = PartCheck(
    id="rope", target="apply_rope", kind="function", op="composite", outputs=["rotated"],
    cases=_rope_cases, reference=_rope_ref,
    variants={
        "rotate_half": ("dimensions i and i + d/2 are rotated together; this notebook rotates neighbouring pairs "
                        "(x[2i], x[2i+1])", lambda c: _rope_ref(c, half=True)),
        "wrong_direction": ("the rotation goes the wrong way: (x, y) -> (x cos - y sin, x sin + y cos)",
                            lambda c: _rope_ref(c, sign=-1.0)),
        "exponent_i": ("the frequency of pair i should be 10000^(-2i/d), not 10000^(-i/d)",
                       lambda c: _rope_ref(c, exponent_i=True)),
    })

WHY_NOT_INDEX = ChoiceCheck(id="why-not-index", target="answer_why_not_index", options=["a", "b", "c", "d"])
ROPE_WHERE = ChoiceCheck(id="rope-where", target="answer_rope_where", options=["a", "b", "c", "d"])

PARTS = [CHAR_ENCODE, MERGE, TRAIN, ENCODE, DECODE, EMBEDDING, POSITIONS, ROPE, WHY_NOT_INDEX, ROPE_WHERE]

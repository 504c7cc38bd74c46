"""Checks of assignment 4: BERT's embeddings, the masking rule of masked language modelling, the masked-LM head,
the pretraining loss and the best answer span. Each lists the mistakes students typically make, as variants."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from reference_impl.bert import BertConfig, BertEmbeddings, MaskedLMHead, best_span, mask_tokens

from autograder.grading.parts import Call, Case, ChoiceCheck, Outputs, PartCheck

NOT_APPLICABLE: Outputs = [torch.empty(0)]  # a mistake that cannot be written for this case (it would raise)


def _shows(check: PartCheck, c: Case, keys: tuple[str, ...]) -> bool:
    """Whether each of the named mistakes gives another answer than the reference on this case."""
    expected = check.reference(c)
    return all(any(v.shape != e.shape or not torch.equal(v, e) for v, e in zip(check.variants[k][1](c), expected))
               for k in keys)


def _state(c: Case) -> dict[str, torch.Tensor]:
    return {k.removeprefix("state."): v for k, v in c.tensors.items() if k.startswith("state.")}


def _norm_state(g: torch.Generator, name: str, d: int) -> dict[str, torch.Tensor]:
    return {f"state.{name}.weight": 1 + 0.3 * torch.randn(d, generator=g), f"state.{name}.bias": 0.3 * torch.randn(d, generator=g)}


# ---- token + segment + position embeddings ----------------------------------------------------------------

def _segments(g: torch.Generator, b: int, length: int) -> torch.Tensor:
    """Sentence A (0) then sentence B (1), split at a different place in every row."""
    split = torch.randint(1, max(2, length), (b, 1), generator=g)
    return (torch.arange(length)[None, :] >= split).long()


def _emb_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    def case(label: str, b: int, length: int, vocab: int, d: int, max_len: int) -> Case:
        t = {"tokens": torch.randint(vocab, (b, length), generator=g), "segments": _segments(g, b, length),
             "state.tokens.weight": torch.randn(vocab, d, generator=g), "state.segments.weight": torch.randn(2, d, generator=g),
             "state.positions.weight": torch.randn(max_len, d, generator=g), **_norm_state(g, "norm", d)}
        return Case(label, t, Call(init={"vocab_size": vocab, "d_model": d, "max_len": max_len}, args=("tokens", "segments")))

    if not hidden:
        return [case("sentence pairs", 2, 7, 20, 8, 10), case("as long as max_len", 2, 6, 12, 4, 6),
                case("one pair of one-token sentences", 1, 2, 9, 8, 5)]
    return [case("sentence pairs", 3, 9, 30, 16, 12), case("as long as max_len", 2, 8, 15, 8, 8),
            case("one pair of one-token sentences", 1, 2, 11, 4, 7)]


def _emb_ref(c: Case, segments: bool = True, shift: int = 0, norm: bool = True) -> Outputs:
    init, tokens = c.call.init, c.tensors["tokens"]
    if shift + tokens.size(1) > init["max_len"]:
        return NOT_APPLICABLE
    m = BertEmbeddings(BertConfig(init["vocab_size"], init["d_model"], max_len=init["max_len"]))
    m.load_state_dict(_state(c))
    with torch.no_grad():
        if segments and not shift and norm:
            return [m(tokens, c.tensors["segments"])]
        x = m.tokens(tokens) + m.positions(torch.arange(shift, shift + tokens.size(1)))
        x = x + m.segments(c.tensors["segments"]) if segments else x
        return [m.norm(x) if norm else x]


EMBEDDINGS = PartCheck(
    id="bert-embeddings", target="BertEmbeddings", kind="module", op="reduction", outputs=["embeddings"],
    cases=_emb_cases, reference=_emb_ref,
    variants={
        "no_segments": ("the segment embeddings are left out: add segments(segments), which tells sentence A from B",
                        lambda c: _emb_ref(c, segments=False)),
        "positions_from_one": ("the positions are counted from 1; the first token has position 0",
                               lambda c: _emb_ref(c, shift=1)),
        "no_norm": ("the sum is not normalized: BERT applies LayerNorm (self.norm) to the sum of the three embeddings",
                    lambda c: _emb_ref(c, norm=False)),
    })


# ---- the masking rule ------------------------------------------------------------------------------------------

# (mask_id, [UNK] id, special_ids); [PAD] 0, [CLS] 2 and [SEP] 3 in both. In the second, [UNK] = 7 lies among the
# ordinary ids, so that neither a hard-coded list of ids nor "tokens > max(special_ids)" passes for the rule.
SPECIALS = {"ids 0-4 special, [MASK] = 4": (4, 1, [0, 1, 2, 3, 4]),
            "[MASK] = 1, [UNK] = 7 among the ordinary ids": (1, 7, [0, 1, 2, 3, 7])}


def _pairs(g: torch.Generator, b: int, length: int, vocab: int, unk: int, specials: list[int]) -> torch.Tensor:
    """[CLS] A [SEP] B [SEP] [PAD]...: a random split, two [UNK]s and a random amount of padding in every row."""
    pad, cls, sep = 0, 2, 3
    ordinary = torch.tensor([i for i in range(vocab) if i not in specials])
    rows = []
    for _ in range(b):
        r = ordinary[torch.randint(len(ordinary), (length,), generator=g)]
        n = length - int(torch.randint(0, 3, (1,), generator=g))
        split = int(torch.randint(2, n - 2, (1,), generator=g))
        r[torch.randint(1, n - 1, (2,), generator=g)] = unk
        r[0], r[split], r[n - 1] = cls, sep, sep
        r[n:] = pad
        rows.append(r)
    return torch.stack(rows)


def _mask_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    """Each case's draws are made again by the reference from the same seed: the rule is graded on the very draws
    it is given. Each case is drawn until every mistake that can show gives another answer on it, and at least two chosen
    positions get a random token other than their own."""
    def case(label: str, b: int, length: int, vocab: int, prob: float, specials: str) -> Case:
        mask_id, unk, special_ids = SPECIALS[specials]
        for _ in range(5000):
            seed = int(torch.randint(2**31, (1,), generator=g))
            replay = torch.Generator().manual_seed(seed)
            tokens = _pairs(g, b, length, vocab, unk, special_ids)
            t = {"tokens": tokens, "chosen_draw": torch.rand(tokens.shape, generator=replay),
                 "action_draw": torch.rand(tokens.shape, generator=replay),
                 "random_tokens": torch.randint(vocab, tokens.shape, generator=replay),
                 "seed": torch.tensor(seed), "vocab_size": torch.tensor(vocab)}
            c = Case(label, t, Call(args=("tokens", "chosen_draw", "action_draw", "random_tokens"),
                                    options={"mask_id": mask_id, "special_ids": special_ids, "prob": prob}))
            randomized = (t["chosen_draw"] < prob) & ~torch.isin(tokens, torch.tensor(special_ids)) & (
                t["action_draw"] >= 0.8) & (t["action_draw"] < 0.9) & (t["random_tokens"] != tokens)
            smallest = special_ids == list(range(len(special_ids)))  # then "tokens > max(special_ids)" is right
            if int(randomized.sum()) >= 2 and _shows(MASKING, c, tuple(k for k in MASKING.variants
                                                                    if not (smallest and k == "above_max"))):
                return c
        raise RuntimeError(f"no draw for {label!r} tells every mistake apart")

    if not hidden:
        return [case("a batch of sentence pairs", 4, 16, 30, 0.15, "ids 0-4 special, [MASK] = 4"),
                case("a higher masking rate", 2, 12, 20, 0.5, "ids 0-4 special, [MASK] = 4"),
                case("[UNK] among the ordinary ids", 3, 10, 25, 0.4, "[MASK] = 1, [UNK] = 7 among the ordinary ids")]
    return [case("a batch of sentence pairs", 6, 24, 40, 0.15, "ids 0-4 special, [MASK] = 4"),
            case("a higher masking rate", 3, 14, 30, 0.5, "ids 0-4 special, [MASK] = 4"),
            case("[UNK] among the ordinary ids", 2, 12, 35, 0.3, "[MASK] = 1, [UNK] = 7 among the ordinary ids")]


def _mask_ref(c: Case) -> Outputs:
    """reference_impl's mask_tokens, drawing from the seed the case's draws were made with (the same numbers)."""
    o = c.call.options
    replay = torch.Generator().manual_seed(int(c.tensors["seed"]))
    return list(mask_tokens(c.tensors["tokens"], int(c.tensors["vocab_size"]), o["mask_id"], o["special_ids"], o["prob"],
                            generator=replay))


def _mask_mistake(c: Case, specials_chosen: bool = False, special_ids: list[int] | None = None, above_max: bool = False,
                  labels: str = "chosen", all_mask: bool = False, swapped: bool = False) -> Outputs:
    """The rule written with one typical mistake, from the case's draws."""
    t, o = c.tensors, c.call.options
    tokens, action = t["tokens"], t["action_draw"]
    ids = o["special_ids"] if special_ids is None else special_ids
    special = tokens <= max(ids) if above_max else torch.isin(tokens, torch.tensor(ids))
    chosen = (t["chosen_draw"] < o["prob"]) & (torch.ones_like(special) if specials_chosen else ~special)
    to_mask = chosen & (action < 0.8) if not all_mask else chosen
    to_random = chosen & ((action >= 0.9) if swapped else ((action >= 0.8) & (action < 0.9))) & ~to_mask
    inputs = torch.where(to_mask, torch.full_like(tokens, o["mask_id"]), torch.where(to_random, t["random_tokens"], tokens))
    ignore = torch.full_like(tokens, -100)
    out = {"chosen": torch.where(chosen, tokens, ignore), "everywhere": tokens.clone(),
           "changed": torch.where(chosen & (to_mask | to_random), tokens, ignore),
           "inputs": torch.where(chosen, inputs, ignore)}[labels]
    return [inputs, out]


MASKING = PartCheck(
    id="mask-tokens", target="mask_tokens", kind="function", op="elementwise", outputs=["inputs", "labels"],
    cases=_mask_cases, reference=_mask_ref,
    variants={
        "specials_chosen": ("special tokens ([CLS], [SEP], [PAD], ...) are chosen too; only ordinary tokens may be "
                            "chosen", lambda c: _mask_mistake(c, specials_chosen=True)),
        "hard_coded_specials": ("the special ids are hard-coded as [PAD], [CLS], [SEP] (0, 2, 3); never choose any id "
                                "of special_ids ([UNK] and [MASK] too)", lambda c: _mask_mistake(c, special_ids=[0, 2, 3])),
        "above_max": ("only ids above the largest special id are chosen; special_ids need not be the smallest ids: "
                      "test membership (torch.isin)", lambda c: _mask_mistake(c, above_max=True)),
        "labels_everywhere": ("labels hold the original token everywhere; they are -100 at every position that was "
                              "not chosen, so the loss ignores it", lambda c: _mask_mistake(c, labels="everywhere")),
        "all_mask": ("every chosen token becomes [MASK]; only 80% do (action_draw < 0.8), 10% get a random token and "
                     "10% stay unchanged", lambda c: _mask_mistake(c, all_mask=True)),
        "swapped": ("the random-token and unchanged cases are swapped: 0.8 <= action_draw < 0.9 gives the random "
                    "token, action_draw >= 0.9 leaves the token unchanged", lambda c: _mask_mistake(c, swapped=True)),
        "unchanged_unlabelled": ("chosen tokens that stay unchanged have label -100; every chosen position is "
                                 "labelled with its original token, changed or not", lambda c: _mask_mistake(c, labels="changed")),
        "labels_are_inputs": ("the labels are the corrupted inputs ([MASK] ids); they must be the original tokens",
                              lambda c: _mask_mistake(c, labels="inputs")),
    })


# ---- the masked-LM head ----------------------------------------------------------------------------------------

def _mlm_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    def case(label: str, shape: tuple[int, ...], vocab: int) -> Case:
        d = shape[-1]
        t = {"h": torch.randn(shape, generator=g), "table": torch.randn(vocab, d, generator=g) * 0.5,
             "state.transform.weight": torch.randn(d, d, generator=g) / d ** 0.5,
             "state.transform.bias": torch.randn(d, generator=g) * 0.5, **_norm_state(g, "norm", d),
             "state.bias": torch.randn(vocab, generator=g)}
        return Case(label, t, Call(init={"d_model": d, "vocab_size": vocab}, args=("h", "table")))

    if not hidden:
        return [case("a batch of hidden states", (2, 5, 8), 20), case("a vocabulary as large as d_model", (1, 4, 6), 6),
                case("2-D hidden states", (7, 4), 11)]
    return [case("a batch of hidden states", (3, 6, 16), 40), case("a vocabulary as large as d_model", (2, 3, 8), 8),
            case("2-D hidden states", (5, 8), 13)]


def _mlm_ref(c: Case, activation: str = "gelu", norm: bool = True, bias: bool = True, transpose: bool = True) -> Outputs:
    h, table = c.tensors["h"], c.tensors["table"]
    d, vocab = c.call.init["d_model"], c.call.init["vocab_size"]
    if not transpose and vocab != d:
        return NOT_APPLICABLE
    tied = nn.Embedding(vocab, d)
    m = MaskedLMHead(BertConfig(vocab, d), tied)
    m.load_state_dict({**_state(c), "embedding.weight": table})
    with torch.no_grad():
        if activation == "gelu" and norm and bias and transpose:
            return [m(h)]
        x = m.transform(h)
        x = {"gelu": F.gelu, "gelu_tanh": lambda v: F.gelu(v, approximate="tanh"), "relu": F.relu,
             "none": lambda v: v}[activation](x)
        x = m.norm(x) if norm else x
        return [x @ (table.T if transpose else table) + (m.bias if bias else 0)]


MLM_HEAD = PartCheck(
    id="mlm-head", target="MaskedLMHead", kind="module", op="composite", outputs=["logits"],
    cases=_mlm_cases, reference=_mlm_ref,
    variants={
        "no_gelu": ("there is no GELU after the transform layer", lambda c: _mlm_ref(c, activation="none")),
        "relu": ("the activation is ReLU; BERT's head uses GELU", lambda c: _mlm_ref(c, activation="relu")),
        "gelu_tanh": ("the GELU is the tanh approximation; use its exact form, F.gelu's default",
                      lambda c: _mlm_ref(c, activation="gelu_tanh")),
        "no_norm": ("the LayerNorm (self.norm) after the activation is missing", lambda c: _mlm_ref(c, norm=False)),
        "no_bias": ("the output bias (self.bias, one per token) is not added", lambda c: _mlm_ref(c, bias=False)),
        "not_transposed": ("the table is not transposed: the scores are h @ table.T, one per row (token) of the "
                           "table", lambda c: _mlm_ref(c, transpose=False)),
    })


# ---- the pretraining loss --------------------------------------------------------------------------------------

def _loss_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    def case(label: str, b: int, length: int, vocab: int, chosen: list[int]) -> Case:
        labels = torch.full((b, length), -100)
        for row, n in enumerate(chosen):
            where = torch.randperm(length, generator=g)[:n]
            labels[row, where] = torch.randint(vocab, (n,), generator=g)
        t = {"mlm_logits": torch.randn(b, length, vocab, generator=g) * 2, "labels": labels,
             "nsp_logits": torch.randn(b, 2, generator=g) * 2, "is_next": torch.randint(2, (b,), generator=g)}
        return Case(label, t, Call(args=("mlm_logits", "labels", "nsp_logits", "is_next")))

    if not hidden:
        return [case("a batch", 3, 10, 12, [2, 1, 3]), case("one chosen position", 1, 6, 9, [1]),
                case("rows with different numbers of chosen positions", 2, 8, 7, [1, 5])]
    return [case("a batch", 4, 16, 20, [3, 2, 2, 4]), case("one chosen position", 2, 7, 11, [1, 0]),
            case("rows with different numbers of chosen positions", 3, 10, 9, [1, 6, 2])]


def _loss(c: Case, over_all: bool = False, nsp: bool = True, per_row: bool = False, averaged: bool = False) -> Outputs:
    t = c.tensors
    logits, labels = t["mlm_logits"], t["labels"]
    per_token = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100, reduction="none").view(labels.shape)
    chosen = labels != -100
    if over_all:
        mlm = per_token.sum() / labels.numel()
    elif per_row:
        rows = chosen.any(-1)
        mlm = (per_token.sum(-1)[rows] / chosen.sum(-1)[rows]).mean()
    else:
        mlm = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
    next_sentence = F.cross_entropy(t["nsp_logits"], t["is_next"])
    if not nsp:
        return [mlm]
    return [(mlm + next_sentence) / 2 if averaged else mlm + next_sentence]


PRETRAINING_LOSS = PartCheck(
    id="pretraining-loss", target="pretraining_loss", kind="function", op="reduction", outputs=["loss"],
    cases=_loss_cases, reference=_loss,
    variants={
        "over_all_positions": ("the masked-LM loss is averaged over all positions; average it over the chosen ones "
                               "only (labels != -100)", lambda c: _loss(c, over_all=True)),
        "no_nsp": ("the next-sentence loss is left out: add the cross-entropy of nsp_logits and is_next",
                   lambda c: _loss(c, nsp=False)),
        "per_row_mean": ("the masked-LM loss is averaged per sequence, then over the batch; average over all chosen "
                         "positions of the batch at once", lambda c: _loss(c, per_row=True)),
        "averaged": ("the two losses are averaged; BERT's pretraining loss is their sum", lambda c: _loss(c, averaged=True)),
    })


# ---- the best answer span --------------------------------------------------------------------------------------

def _span_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    """Each case is drawn until the mistakes it is meant to show (all of them, unless `shows` names some) give
    answers different from the right one; for the few seeds where no draw of a thousand does (about one student in
    a hundred), the next hundred draws are scored and the one that tells the most mistakes apart is used."""
    def case(label: str, length: int, max_len: int, shows: tuple[str, ...] = (), shift: float = 0.0,
             outside: int = 0) -> Case:
        """`shift` is added to every logit; the first and the last `outside` positions (a question, padding) get -inf."""
        keys = shows or tuple(BEST_SPAN.variants)
        best, most = None, -1
        for attempt in range(1100):
            start, end = (torch.randn(length, generator=g) * 2 + shift for _ in range(2))
            if outside:
                start[:outside], start[-outside:], end[:outside], end[-outside:] = (float("-inf"),) * 4
            c = Case(label, {"start_logits": start, "end_logits": end},
                     Call(args=("start_logits", "end_logits"), options={"max_answer_len": max_len}, returns="ints"))
            if attempt < 1000:
                if _shows(BEST_SPAN, c, keys):
                    return c
                continue
            told = sum(_shows(BEST_SPAN, c, (key,)) for key in keys)
            if told > most:
                best, most = c, told
        return best

    v = 0 if hidden else 1  # visible cases: other sizes
    positive = tuple(k for k in BEST_SPAN.variants if k != "zero_filled")  # 0 loses to the best span there
    return [case("a passage", 16 - 4 * v, 4 - v, positive), case("a long passage", 40 - 8 * v, 6 + v, positive),
            case("answers of one token", 10 - v, 1, shows=("independent", "no_length_limit", "one_too_long", "start_first")),
            case("logits -inf at masked positions", 20 - 4 * v, 4 - v, shift=-2.0, outside=3 + v),
            case("all logits negative", 12 - 2 * v, 3, shift=-6.0)]


def _span(c: Case, independent: bool = False, limit: int | None = 0, start_first: bool = False,
          zero_filled: bool = False) -> Outputs:
    start, end, max_len = c.tensors["start_logits"], c.tensors["end_logits"], c.call.options["max_answer_len"]
    if not (independent or start_first or zero_filled or limit != 0):
        return [torch.tensor(best_span(start, end, max_len))]
    if zero_filled:
        n, i = len(start), torch.arange(len(start))
        valid = (i[None, :] >= i[:, None]) & (i[None, :] - i[:, None] < max_len)
        best = int((start[:, None] + end[None, :]).masked_fill(~valid, 0.0).flatten().argmax())
        return [torch.tensor([best // n, best % n])]
    if independent:
        return [torch.tensor([int(start.argmax()), int(end.argmax())])]
    if start_first:
        s = int(start.argmax())
        return [torch.tensor([s, s + int(end[s:s + max_len].argmax())])]
    longest = len(start) if limit is None else max_len + limit
    if longest < 1:
        return NOT_APPLICABLE
    scores = [(float(start[s] + end[e]), s, e) for s in range(len(start)) for e in range(s, min(len(start), s + longest))]
    _, s, e = max(scores)
    return [torch.tensor([s, e])]


BEST_SPAN = PartCheck(
    id="best-span", target="best_span", kind="function", op="elementwise", outputs=["span"],
    cases=_span_cases, reference=_span,
    variants={
        "independent": ("start and end are chosen by two separate argmaxes, so the end can come before the start or "
                        "the span be too long; maximize start + end logits over the allowed pairs",
                        lambda c: _span(c, independent=True)),
        "no_length_limit": ("spans longer than max_answer_len are allowed", lambda c: _span(c, limit=None)),
        "one_too_long": ("spans of max_answer_len + 1 tokens are allowed: a span from start to end has "
                         "end - start + 1 tokens", lambda c: _span(c, limit=1)),
        "one_too_short": ("spans of exactly max_answer_len tokens are not allowed: a span from start to end has "
                          "end - start + 1 tokens", lambda c: _span(c, limit=-1)),
        "start_first": ("the start is chosen first and the end after it; choose the pair with the best sum of start "
                        "and end logits", lambda c: _span(c, start_first=True)),
        "zero_filled": ("invalid pairs set to 0 instead of -inf: where every valid span scores below 0 (negative or "
                        "-inf logits), an invalid pair wins; fill them with float(\"-inf\")",
                        lambda c: _span(c, zero_filled=True)),
    })


WHY_NOT_ALWAYS_MASK = ChoiceCheck(id="why-not-always-mask", target="answer_why_not_always_mask", options=["a", "b", "c", "d"])
WHY_FIFTEEN = ChoiceCheck(id="why-fifteen-percent", target="answer_why_fifteen", options=["a", "b", "c", "d"])
FINE_TUNING = ChoiceCheck(id="fine-tuning", target="answer_fine_tuning", options=["a", "b", "c", "d"])

PARTS = [EMBEDDINGS, MASKING, WHY_NOT_ALWAYS_MASK, WHY_FIFTEEN, MLM_HEAD, PRETRAINING_LOSS, FINE_TUNING, BEST_SPAN]

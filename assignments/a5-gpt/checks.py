"""Checks of assignment 5: causal self-attention with a key/value cache, the GPT block, the model, the
next-token loss, next-token probabilities (temperature, top-k, top-p) and a GPT's parameter count. Each lists
the mistakes students typically make, as variants. The student's names differ from reference_impl's (mlp.fc
is the reference's mlp.linear1, tok_emb its tokens, ...): the state dicts are mapped as the cases are run."""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from reference_impl.attention import KVCache, MultiHeadAttention
from reference_impl.gpt import GPT, Block, GPTConfig
from reference_impl.masks import causal_mask
from reference_impl.parameters import count_parameters
from reference_impl.sampling import top_k_filter, top_p_filter

from autograder.grading.parts import Call, Case, ChoiceCheck, Outputs, PartCheck

from . import standins


# ---- weights with the student's names ------------------------------------------------------------------------

def _linear(g: torch.Generator, name: str, d_in: int, d_out: int) -> dict[str, torch.Tensor]:
    return {f"state.{name}.weight": torch.randn(d_out, d_in, generator=g) / math.sqrt(d_in),
            f"state.{name}.bias": torch.randn(d_out, generator=g) * 0.5}


def _norm(g: torch.Generator, name: str, d: int) -> dict[str, torch.Tensor]:
    return {f"state.{name}.weight": 1 + 0.3 * torch.randn(d, generator=g), f"state.{name}.bias": 0.3 * torch.randn(d, generator=g)}


def _attention_state(g: torch.Generator, prefix: str, d: int) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for name in ("w_q", "w_k", "w_v", "w_o"):
        out.update(_linear(g, prefix + name, d, d))
    return out


def _block_state(g: torch.Generator, prefix: str, d: int) -> dict[str, torch.Tensor]:
    return {**_norm(g, prefix + "ln1", d), **_attention_state(g, prefix + "attn.", d), **_norm(g, prefix + "ln2", d),
            **_linear(g, prefix + "mlp.fc", d, 4 * d), **_linear(g, prefix + "mlp.proj", 4 * d, d)}


def _cache(g: torch.Generator, *lead: int) -> dict[str, torch.Tensor]:
    """past_k and past_v of shape lead (..., B, h, T_past, d_head)."""
    return {"past_k": torch.randn(*lead, generator=g), "past_v": torch.randn(*lead, generator=g)}


def _layer_case(g: torch.Generator, label: str, b: int, t: int, d: int, h: int, t_past: int,
                state: Callable[[torch.Generator, str, int], dict[str, torch.Tensor]],
                substitute: dict[str, Any] | None = None) -> Case:
    """An attention layer or block on x (B, T, d), after a cache of t_past positions when t_past > 0."""
    tensors = {"x": torch.randn(b, t, d, generator=g), **state(g, "", d)}
    args: tuple[str, ...] = ("x",)
    if t_past:
        tensors.update(_cache(g, b, h, t_past, d // h))
        args = ("x", "past_k", "past_v")
    return Case(label, tensors, Call(init={"d_model": d, "n_heads": h}, args=args, substitute=substitute or {}))


def _reference_state(c: Case) -> dict[str, torch.Tensor]:
    """The student's names mapped to reference_impl's: mlp.fc -> mlp.linear1, tok_emb -> tokens (and the tied
    lm_head), pos_emb -> positions.table."""
    state = {}
    for key, value in c.tensors.items():
        if not key.startswith("state."):
            continue
        key = key.removeprefix("state.").replace("mlp.fc.", "mlp.linear1.").replace("mlp.proj.", "mlp.linear2.")
        if key == "tok_emb.weight":
            state["tokens.weight"] = state["lm_head.weight"] = value
        elif key == "pos_emb.weight":
            state["positions.table.weight"] = value
        else:
            state[key] = value
    return state


def _caches(c: Case, count: int | None = None) -> list[KVCache]:
    """The case's cache as reference KVCaches, one per layer (count layers), or one for a single attention."""
    if "past_k" not in c.tensors:
        return [KVCache() for _ in range(count or 1)]
    k, v = c.tensors["past_k"], c.tensors["past_v"]
    if count is None:
        return [KVCache(k.clone(), v.clone())]
    return [KVCache(k[i].clone(), v[i].clone()) for i in range(count)]


# ---- causal self-attention with a cache -----------------------------------------------------------------------

def _attention_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    """Whole sequences (1 to 8 heads) and cached steps: one new token, and several new tokens at once."""
    def case(label: str, b: int, t: int, d: int, h: int, t_past: int = 0) -> Case:
        return _layer_case(g, label, b, t, d, h, t_past, _attention_state)

    if not hidden:
        return [case("a batch of sequences", 2, 5, 8, 2), case("1 head", 1, 4, 6, 1), case("8 heads", 1, 3, 16, 8),
                case("one new token after a cache", 2, 1, 8, 2, t_past=4),
                case("new tokens after a cache", 2, 3, 8, 2, t_past=3)]
    return [case("a batch of sequences", 3, 7, 16, 4), case("1 head", 2, 6, 8, 1), case("8 heads", 2, 5, 32, 8),
            case("one new token after a cache", 3, 1, 16, 4, t_past=6),
            case("new tokens after a cache", 2, 4, 12, 3, t_past=5)]


def _attention_ref(c: Case) -> Outputs:
    x, h = c.tensors["x"], c.call.init["n_heads"]
    attn = MultiHeadAttention(x.size(-1), h)
    attn.load_state_dict(_reference_state(c))
    cache = _caches(c)[0]
    with torch.no_grad():
        out, _ = attn(x, mask=causal_mask(x.size(1), cache.length + x.size(1)), cache=cache)
    return [out, cache.k, cache.v]


def _attention_variant(c: Case, masked: bool = True, shift: int = 0, scale: str = "d_head", heads: str = "split",
                       append: bool = True, offset: bool = True) -> Outputs:
    """Causal self-attention written out with one typical mistake. A hidden score is the smallest float (a query
    that sees no key then gets uniform weights, as in answers that mask with a large negative number)."""
    x, h = c.tensors["x"], c.call.init["n_heads"]
    (b, t, d), dh = x.shape, x.size(-1) // h

    def lin(name: str, y: torch.Tensor) -> torch.Tensor:
        return F.linear(y, c.tensors[f"state.{name}.weight"], c.tensors[f"state.{name}.bias"])

    def split(y: torch.Tensor) -> torch.Tensor:
        return y.view(b, t, h, dh).transpose(1, 2) if heads == "split" else y.view(b, h, t, dh)

    q, k, v = split(lin("w_q", x)), split(lin("w_k", x)), split(lin("w_v", x))
    if append and "past_k" in c.tensors:
        k, v = torch.cat([c.tensors["past_k"], k], dim=2), torch.cat([c.tensors["past_v"], v], dim=2)
    t_past = k.size(2) - t
    scores = q @ k.transpose(-2, -1) / {"d_head": math.sqrt(dh), "d_model": math.sqrt(d), "none": 1.0}[scale]
    if masked:
        allowed = torch.ones(t, t_past + t, dtype=torch.bool).tril(diagonal=(t_past if offset else 0) + shift)
        scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
    out = scores.softmax(dim=-1) @ v
    out = out.transpose(1, 2).reshape(b, t, d) if heads == "split" else out.reshape(b, t, d)
    return [lin("w_o", out), k, v]


CAUSAL_ATTENTION = PartCheck(
    id="causal-attention", target="CausalSelfAttention", kind="module", op="composite",
    outputs=["output", "keys", "values"], cases=_attention_cases, reference=_attention_ref,
    variants={
        "no_causal_mask": ("there is no causal mask: each position attends to later positions too (it sees the future)",
                           lambda c: _attention_variant(c, masked=False)),
        "future_included": ("the causal mask is off by one: each position also sees the next one; query t may see "
                            "keys 0..t only", lambda c: _attention_variant(c, shift=1)),
        "diagonal_excluded": ("the causal mask is off by one: it hides the diagonal, but each position must see itself",
                              lambda c: _attention_variant(c, shift=-1)),
        "no_scaling": ("the scores are not scaled: divide them by sqrt(d_head)", lambda c: _attention_variant(c, scale="none")),
        "scaled_by_d_model": ("the scores are divided by sqrt(d_model); each head divides by sqrt(d_head) = "
                              "sqrt(d_model / n_heads)", lambda c: _attention_variant(c, scale="d_model")),
        "heads_split_wrongly": ("the heads are split wrongly: view (B, T, d_model) as (B, T, h, d_head), then transpose "
                                "to (B, h, T, d_head)", lambda c: _attention_variant(c, heads="view")),
        "cache_not_appended": ("the new keys and values are not appended to the cache: concatenate them after past_k "
                               "and past_v (dim 2), attend to all of them and return them",
                               lambda c: _attention_variant(c, append=False)),
        "cached_mask_from_zero": ("with a cache the causal mask ignores the cached positions: the new queries are the "
                                  "last T positions, so new query i sees keys 0..T_past + i",
                                  lambda c: _attention_variant(c, offset=False)),
    })


# ---- the GPT block ---------------------------------------------------------------------------------------------

def _block_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    def case(label: str, b: int, t: int, d: int, h: int, t_past: int = 0) -> Case:
        return _layer_case(g, label, b, t, d, h, t_past, _block_state,
                           substitute={"CausalSelfAttention": standins.CausalSelfAttention})

    if not hidden:
        return [case("a batch of sequences", 2, 5, 8, 2), case("1 head", 1, 4, 6, 1), case("8 heads", 1, 3, 16, 8),
                case("one new token after a cache", 2, 1, 8, 2, t_past=3)]
    return [case("a batch of sequences", 3, 6, 16, 4), case("1 head", 2, 5, 8, 1), case("8 heads", 2, 4, 32, 8),
            case("one new token after a cache", 2, 1, 12, 3, t_past=5)]


def _reference_block(c: Case, activation=F.gelu) -> Block:
    """reference_impl's block with the case's weights; its MLP uses the exact GELU, as the notebook asks."""
    block = Block(GPTConfig(vocab_size=2, d_model=c.tensors["x"].size(-1), n_heads=c.call.init["n_heads"]))
    block.load_state_dict(_reference_state(c))
    block.mlp.activation = activation
    return block.eval()


def _block_ref(c: Case, activation=F.gelu) -> Outputs:
    block, x, cache = _reference_block(c, activation), c.tensors["x"], _caches(c)[0]
    with torch.no_grad():
        out = block(x, causal_mask(x.size(1), cache.length + x.size(1)), cache)
    return [out, cache.k, cache.v]


def _block_variant(c: Case, order: str) -> Outputs:
    """post: LN(x + attn(x)) then LN(x + mlp(x)); normalized_residual: h = LN(x), h + attn(h), likewise for the MLP."""
    block, x, cache = _reference_block(c), c.tensors["x"], _caches(c)[0]
    mask = causal_mask(x.size(1), cache.length + x.size(1))
    with torch.no_grad():
        if order == "post":
            x = block.ln1(x + block.attn(x, mask=mask, cache=cache)[0])
            out = block.ln2(x + block.mlp(x))
        else:
            h = block.ln1(x)
            x = h + block.attn(h, mask=mask, cache=cache)[0]
            h = block.ln2(x)
            out = h + block.mlp(h)
    return [out, cache.k, cache.v]


GPT_BLOCK = PartCheck(
    id="gpt-block", target="Block", kind="module", op="composite", outputs=["output", "keys", "values"],
    cases=_block_cases, reference=_block_ref,
    variants={
        "post_norm": ("the block is post-norm, LN(x + sublayer(x)); GPT's block is pre-norm: x + sublayer(LN(x))",
                      lambda c: _block_variant(c, "post")),
        "residual_normalized": ("the residual is taken from the normalized input; add the sublayer's output to x "
                                "itself: x + sublayer(LN(x))", lambda c: _block_variant(c, "normalized_residual")),
        "relu": ("the MLP uses ReLU; GPT's MLP uses GELU (F.gelu)", lambda c: _block_ref(c, F.relu)),
        "gelu_tanh": ("the MLP uses the tanh approximation of GELU; use the exact F.gelu",
                      lambda c: _block_ref(c, lambda y: F.gelu(y, approximate="tanh"))),
    })


# ---- the model ---------------------------------------------------------------------------------------------------

def _model_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    def case(label: str, b: int, t: int, vocab: int, block_size: int, d: int, h: int, layers: int, t_past: int = 0) -> Case:
        tensors = {"idx": torch.randint(vocab, (b, t), generator=g),
                   "state.tok_emb.weight": torch.randn(vocab, d, generator=g) * 0.5,
                   "state.pos_emb.weight": torch.randn(block_size, d, generator=g) * 0.5, **_norm(g, "ln_f", d)}
        for i in range(layers):
            tensors.update(_block_state(g, f"blocks.{i}.", d))
        args: tuple[str, ...] = ("idx",)
        if t_past:
            tensors.update(_cache(g, layers, b, h, t_past, d // h))
            args = ("idx", "past_k", "past_v")
        init = {"vocab_size": vocab, "block_size": block_size, "d_model": d, "n_layers": layers, "n_heads": h}
        return Case(label, tensors, Call(init=init, args=args, substitute={"Block": standins.Block}))

    if not hidden:
        return [case("a batch of sequences", 2, 5, 11, 8, 8, 2, 2), case("one layer", 1, 4, 7, 6, 6, 1, 1),
                case("one new token after a cache", 2, 1, 11, 8, 8, 2, 2, t_past=4),
                case("new tokens after a cache", 1, 3, 9, 10, 8, 2, 3, t_past=5)]
    return [case("a batch of sequences", 3, 7, 19, 12, 16, 4, 2), case("one layer", 2, 5, 13, 8, 8, 2, 1),
            case("one new token after a cache", 2, 1, 17, 12, 12, 3, 3, t_past=7),
            case("new tokens after a cache", 2, 4, 15, 16, 16, 4, 2, t_past=6)]


def _reference_model(c: Case) -> GPT:
    init = c.call.init
    model = GPT(GPTConfig(vocab_size=init["vocab_size"], d_model=init["d_model"], n_heads=init["n_heads"],
                          n_layers=init["n_layers"], max_len=init["block_size"]))
    model.load_state_dict(_reference_state(c))
    for block in model.blocks:
        block.mlp.activation = F.gelu
    return model.eval()


def _model_ref(c: Case) -> Outputs:
    model = _reference_model(c)
    caches = _caches(c, c.call.init["n_layers"])
    with torch.no_grad():
        logits = model(c.tensors["idx"], caches)
    return [logits, torch.stack([cache.k for cache in caches]), torch.stack([cache.v for cache in caches])]


def _model_variant(c: Case, positions_from_zero: bool = False, final_norm: bool = True, first_cache: bool = False) -> Outputs:
    """The model written out with one typical mistake."""
    model, idx = _reference_model(c), c.tensors["idx"]
    caches = _caches(c, c.call.init["n_layers"])
    if first_cache:
        caches = [KVCache(caches[0].k, caches[0].v) for _ in caches]
    t, t_past = idx.size(1), caches[0].length
    with torch.no_grad():
        x = model.tokens(idx) + model.positions.table(torch.arange(t) + (0 if positions_from_zero else t_past))
        for block, cache in zip(model.blocks, caches):
            x = block(x, causal_mask(t, t_past + t), cache)
        logits = model.lm_head(model.ln_f(x) if final_norm else x)
    return [logits, torch.stack([cache.k for cache in caches]), torch.stack([cache.v for cache in caches])]


GPT_MODEL = PartCheck(
    id="gpt-model", target="GPT", kind="module", op="composite", outputs=["logits", "keys", "values"],
    cases=_model_cases, reference=_model_ref,
    variants={
        "positions_from_zero": ("with a cache the positions restart at 0: the new tokens' positions continue after "
                                "the T_past cached ones", lambda c: _model_variant(c, positions_from_zero=True)),
        "no_final_norm": ("the final LayerNorm ln_f is missing before the output layer",
                          lambda c: _model_variant(c, final_norm=False)),
        "first_layer_cache": ("every block gets the first layer's cache; block i needs past_k[i] and past_v[i]",
                              lambda c: _model_variant(c, first_cache=True)),
    })


# ---- the next-token loss ---------------------------------------------------------------------------------------

def _loss_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    def case(label: str, b: int, t: int, vocab: int) -> Case:
        tensors = {"logits": torch.randn(b, t, vocab, generator=g) * 2, "idx": torch.randint(vocab, (b, t), generator=g)}
        return Case(label, tensors, Call(args=("logits", "idx")))

    if not hidden:
        return [case("a batch", 3, 6, 10), case("one sequence", 1, 5, 7), case("windows of length 2", 4, 2, 5)]
    return [case("a batch", 4, 9, 17), case("one sequence", 1, 8, 11), case("windows of length 2", 5, 2, 9)]


def _loss(c: Case, shift: str = "left", reduction: str = "mean") -> Outputs:
    logits, idx = c.tensors["logits"], c.tensors["idx"]
    pred, target = {"left": (logits[:, :-1], idx[:, 1:]), "none": (logits, idx), "right": (logits[:, 1:], idx[:, :-1])}[shift]
    if reduction == "per_sequence":
        return [F.cross_entropy(pred.flatten(0, 1), target.flatten(), reduction="sum") / idx.size(0)]
    return [F.cross_entropy(pred.flatten(0, 1), target.flatten(), reduction=reduction)]


NEXT_TOKEN_LOSS = PartCheck(
    id="next-token-loss", target="next_token_loss", kind="function", op="reduction", outputs=["loss"],
    cases=_loss_cases, reference=_loss,
    variants={
        "no_shift": ("the logits are scored against the tokens at their own positions; the logits at position t "
                     "predict token t + 1", lambda c: _loss(c, shift="none")),
        "shift_wrong_way": ("the shift goes the wrong way: the logits at positions 0..T-2 predict the tokens at "
                            "positions 1..T-1", lambda c: _loss(c, shift="right")),
        "summed": ("the losses are summed; take the mean over all B (T - 1) predictions",
                   lambda c: _loss(c, reduction="sum")),
        "per_sequence": ("each sequence's losses are summed, then averaged over the batch; take the mean over all "
                         "B (T - 1) predictions", lambda c: _loss(c, reduction="per_sequence")),
    })


# ---- next-token probabilities --------------------------------------------------------------------------------------

def _sorted_probs(logits: torch.Tensor, temperature: float, top_k: int | None) -> torch.Tensor:
    """Each row's probabilities after temperature and top-k, in descending order: what top-p reads."""
    scaled = logits / temperature
    return (scaled if top_k is None else top_k_filter(scaled, top_k)).softmax(-1).sort(dim=-1, descending=True).values


def _top_p_is_clear(logits: torch.Tensor, temperature: float, top_k: int | None, top_p: float) -> bool:
    """No row's running total lies within 1e-4 of p, and the token that crosses p is not tied with the next one:
    the kept set depends neither on rounding nor on how ties are ordered."""
    probs = _sorted_probs(logits, temperature, top_k)
    total = probs.cumsum(-1)
    crossing = (total < top_p).sum(-1, keepdim=True).clamp(max=probs.size(-1) - 2)  # (B, 1)
    gap = probs.gather(-1, crossing) - probs.gather(-1, crossing + 1)
    return bool((total - top_p).abs().min() > 1e-4 and gap.min() > 1e-6)


def _sampling_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    """Each filter alone and together; top-k where the k-th largest logit is tied with the next one; top-p where
    the most likely token alone holds more than p; temperature and top-p where the temperature changes the kept
    set (so that applying it after filtering shows). Top-p cases are drawn clear of the boundary (_top_p_is_clear),
    and 1 <= top_k < V."""
    def case(label: str, b: int, vocab: int, temperature: float = 1.0, top_k: int | None = None,
             top_p: float | None = None, ties: bool = False, dominant: bool = False) -> Case:
        def draw() -> torch.Tensor:
            logits = torch.randn(b, vocab, generator=g) * 2
            if dominant:
                logits[:, 0] += 8
            return logits

        def kept(logits: torch.Tensor) -> torch.Tensor:
            return top_p_filter(logits if top_k is None else top_k_filter(logits, top_k), top_p).isfinite()

        def wanted(logits: torch.Tensor) -> bool:
            if top_p is None:
                return True
            if not dominant and float(_sorted_probs(logits, temperature, top_k)[:, 0].max()) >= top_p:
                return False  # every row needs more than one token to cross p
            if temperature != 1.0 and torch.equal(kept(logits / temperature), kept(logits)):
                return False  # the temperature must change the kept set of some row
            return _top_p_is_clear(logits, temperature, top_k, top_p)

        logits = draw()
        while not wanted(logits):
            logits = draw()
        if ties:  # the (k+1)-th largest logit of every row equals the k-th
            ranked = logits.sort(dim=-1, descending=True)
            logits.scatter_(-1, ranked.indices[:, top_k:top_k + 1], ranked.values[:, top_k - 1:top_k])
        return Case(label, {"logits": logits}, Call(args=("logits",),
                                                   options={"temperature": temperature, "top_k": top_k, "top_p": top_p}))

    if not hidden:
        return [case("temperature only", 2, 10, temperature=0.7), case("top-k", 2, 10, top_k=3),
                case("top-k with ties", 2, 8, top_k=3, ties=True), case("top-p", 3, 12, top_p=0.8),
                case("top-p with one dominant token", 2, 6, top_p=0.5, dominant=True),
                case("temperature and top-p", 2, 10, temperature=0.5, top_p=0.75),
                case("all three", 3, 12, temperature=1.5, top_k=6, top_p=0.7)]
    return [case("temperature only", 3, 16, temperature=1.8), case("top-k", 3, 20, top_k=5),
            case("top-k with ties", 3, 12, top_k=4, ties=True), case("top-p", 4, 20, top_p=0.6),
            case("top-p with one dominant token", 3, 9, top_p=0.4, dominant=True),
            case("temperature and top-p", 3, 16, temperature=1.6, top_p=0.65),
            case("all three", 2, 25, temperature=0.6, top_k=8, top_p=0.85)]


def _probs(c: Case, temperature: str = "divide", k_shift: int = 0, crossing: bool = True, ties: bool = True,
           renormalize: bool = True) -> Outputs:
    o = c.call.options
    raw = c.tensors["logits"]
    logits = {"divide": raw / o["temperature"], "multiply": raw * o["temperature"], "after": raw}[temperature]
    if o["top_k"] is not None:
        if ties:
            logits = top_k_filter(logits, o["top_k"] + k_shift)
        else:  # exactly k tokens: a tie at the k-th place is broken by topk's order
            keep = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, logits.topk(o["top_k"]).indices, True)
            logits = logits.masked_fill(~keep, float("-inf"))
    if o["top_p"] is not None:
        if crossing:
            logits = top_p_filter(logits, o["top_p"])
        else:  # the token whose cumulative probability crosses p is dropped (the most likely one is always kept)
            probs, order = logits.softmax(-1).sort(dim=-1, descending=True)
            drop = probs.cumsum(-1) > o["top_p"]
            drop[:, 0] = False
            logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    if temperature == "after":
        logits = logits / o["temperature"]
    if renormalize:
        return [logits.softmax(-1)]
    scaled = raw / o["temperature"]
    return [scaled.softmax(-1).masked_fill(logits == float("-inf"), 0.0)]


NEXT_TOKEN_PROBS = PartCheck(
    id="next-token-probs", target="next_token_probs", kind="function", op="reduction", outputs=["probs"],
    cases=_sampling_cases, reference=_probs,
    variants={
        "temperature_multiplied": ("the logits are multiplied by the temperature; divide them by it (a temperature "
                                   "below 1 must sharpen the distribution)", lambda c: _probs(c, temperature="multiply")),
        "temperature_after_filtering": ("the temperature is applied after filtering; divide the logits by it first, "
                                        "so that top-p chooses from the tempered probabilities",
                                        lambda c: _probs(c, temperature="after")),
        "top_k_plus_one": ("top-k keeps k + 1 tokens", lambda c: _probs(c, k_shift=1)),
        "top_k_minus_one": ("top-k keeps k - 1 tokens: the k-th largest logit must be kept too",
                            lambda c: _probs(c, k_shift=-1)),
        "top_k_ties": ("top-k drops tokens tied with the k-th largest logit; keep every token whose logit is at least "
                       "the k-th largest", lambda c: _probs(c, ties=False)),
        "top_p_crossing_dropped": ("top-p drops the token whose probability makes the total cross p; keep it: the kept "
                                   "tokens must add up to at least p", lambda c: _probs(c, crossing=False)),
        "not_renormalized": ("the filtered probabilities are not renormalized: filter the logits (set them to -inf), "
                             "then take the softmax, so the kept probabilities add up to 1",
                             lambda c: _probs(c, renormalize=False)),
    })


# ---- parameter count -----------------------------------------------------------------------------------------------

def parameter_count(vocab_size: int, block_size: int, d_model: int, n_layers: int, positions: bool = True,
                    tied: bool = True, biases: bool = True, layer_norms: bool = True) -> int:
    """A GPT-2-style model's parameters in closed form; the flags leave out one kind (a typical mistake).
    tests/test_gpt_parameter_count.py checks it against reference_impl's GPT and Hugging Face's GPT2LMHeadModel."""
    d = d_model
    embeddings = vocab_size * d * (1 if tied else 2) + (block_size * d if positions else 0)
    per_layer = 12 * d * d + (4 * d + 4 * d + d if biases else 0) + (4 * d if layer_norms else 0)
    return embeddings + n_layers * per_layer + (2 * d if layer_norms else 0)


def _count_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    def case(label: str, vocab: int, context: int, d: int, layers: int) -> Case:
        options = {"vocab_size": vocab, "block_size": context, "d_model": d, "n_layers": layers}
        return Case(label, {}, Call(options=options, returns="ints"))

    def draw(low: int, high: int) -> int:
        return int(torch.randint(low, high, (1,), generator=g))

    if not hidden:
        return [case("a tiny model", 10, 8, 4, 1), case("a small model", 65, 32, 16, 3),
                case("a large model", 50257, 1024, 768, 12)]
    return [case("a tiny model", draw(5, 30), draw(4, 16), 2 * draw(2, 6), draw(1, 3)),
            case("a small model", draw(50, 300), draw(16, 128), 8 * draw(2, 6), draw(2, 5)),
            case("a large model", draw(30000, 60000), 2048, 256 * draw(3, 7), draw(16, 48))]


def _count(c: Case, **leave_out: bool) -> Outputs:
    o = c.call.options
    if not leave_out and o["d_model"] * o["n_layers"] <= 4096:  # small enough to build: count a real model
        model = GPT(GPTConfig(vocab_size=o["vocab_size"], d_model=o["d_model"], n_heads=1, n_layers=o["n_layers"],
                              max_len=o["block_size"]))
        return [torch.tensor(count_parameters(model))]
    return [torch.tensor(parameter_count(**o, **leave_out))]


GPT_PARAMETER_COUNT = PartCheck(
    id="gpt-parameter-count", target="gpt_parameter_count", kind="function", op="elementwise", outputs=["count"],
    cases=_count_cases, reference=_count,
    variants={
        "no_positions": ("the position embedding is not counted (block_size x d_model)",
                         lambda c: _count(c, positions=False)),
        "output_counted_twice": ("the output layer is counted as well as the token embedding; they are one tied "
                                 "matrix: count it once", lambda c: _count(c, tied=False)),
        "no_biases": ("the biases of the linear layers are not counted", lambda c: _count(c, biases=False)),
        "no_layer_norms": ("the LayerNorms (a weight and a bias each: two per block and a final one) are not counted",
                           lambda c: _count(c, layer_norms=False)),
    })

GPT_SIZE = ChoiceCheck(id="gpt-size", target="answer_gpt_size", options=["a", "b", "c", "d"])

PARTS = [CAUSAL_ATTENTION, GPT_BLOCK, GPT_MODEL, NEXT_TOKEN_LOSS, NEXT_TOKEN_PROBS, GPT_PARAMETER_COUNT, GPT_SIZE]

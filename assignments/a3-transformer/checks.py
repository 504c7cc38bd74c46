"""Checks of assignment 3: feed-forward network, LayerNorm, Add & Norm, encoder and decoder layers, teacher
forcing, greedy decoding and beam search. Each lists the mistakes students typically make, as variants."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from reference_impl.decoder import DecoderLayer
from reference_impl.decoding import beam_search_steps, greedy_steps
from reference_impl.encoder import EncoderLayer
from reference_impl.feedforward import FeedForward
from reference_impl.masks import causal_mask
from reference_impl.norm import LayerNorm
from reference_impl.transformer import shift_right

from autograder.coursekit.protocol import table_step
from autograder.grading.parts import Call, Case, ChoiceCheck, Outputs, PartCheck

from . import standins


# ---- position-wise feed-forward --------------------------------------------------------------------------

def _linear_state(g: torch.Generator, name: str, d_in: int, d_out: int) -> dict[str, torch.Tensor]:
    return {f"state.{name}.weight": torch.randn(d_out, d_in, generator=g) / math.sqrt(d_in),
            f"state.{name}.bias": torch.randn(d_out, generator=g) * 0.5}


def _ffn_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    def case(label: str, shape: tuple[int, ...], d_ff: int) -> Case:
        d = shape[-1]
        t = {"x": torch.randn(shape, generator=g), **_linear_state(g, "linear1", d, d_ff), **_linear_state(g, "linear2", d_ff, d)}
        return Case(label, t, Call(init={"d_model": d, "d_ff": d_ff}, args=("x",)))

    if not hidden:
        return [case("a batch of sequences", (2, 3, 8), 16), case("one position", (1, 1, 4), 8), case("2-D input", (3, 6), 12)]
    return [case("a batch of sequences", (3, 5, 16), 64), case("one position", (1, 1, 8), 32), case("2-D input", (6, 12), 24)]


def _ffn_ref(c: Case, activation: bool = True, relu_out: bool = False, gelu: bool = False) -> Outputs:
    d, d_ff = c.call.init["d_model"], c.call.init["d_ff"]
    m = FeedForward(d, d_ff)
    m.load_state_dict({k.removeprefix("state."): v for k, v in c.tensors.items() if k.startswith("state.")})
    if not activation:
        m.activation = lambda x: x
    if gelu:
        m.activation = F.gelu
    with torch.no_grad():
        out = m(c.tensors["x"])
    return [F.relu(out) if relu_out else out]


FEED_FORWARD = PartCheck(
    id="feed-forward", target="FeedForward", kind="module", op="composite", outputs=["output"],
    cases=_ffn_cases, reference=_ffn_ref,
    variants={
        "no_activation": ("there is no ReLU between the two linear layers: without it they collapse into one linear map",
                          lambda c: _ffn_ref(c, activation=False)),
        "relu_on_output": ("a ReLU is applied after the second linear layer too; only the hidden layer has one",
                           lambda c: _ffn_ref(c, relu_out=True)),
        "gelu": ("the activation is GELU; this network uses ReLU, max(0, x), as in the original Transformer",
                 lambda c: _ffn_ref(c, gelu=True)),
    })


# ---- LayerNorm ---------------------------------------------------------------------------------------------

def _ln_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    def case(label: str, shape: tuple[int, ...]) -> Case:
        d = shape[-1]
        t = {"x": torch.randn(shape, generator=g) * 3 + 1, "state.weight": torch.randn(d, generator=g),
             "state.bias": torch.randn(d, generator=g)}
        return Case(label, t, Call(init={"d_model": d}, args=("x",)))

    if not hidden:
        return [case("batch of sequences", (2, 3, 8)), case("a single vector", (1, 1, 4)), case("2-D input", (5, 6))]
    return [case("batch of sequences", (4, 5, 16)), case("a single vector", (1, 1, 6)), case("2-D input", (7, 12))]


def _ln_ref(c: Case, dim: int = -1, unbiased: bool = False) -> Outputs:
    x, w, b = c.tensors["x"], c.tensors["state.weight"], c.tensors["state.bias"]
    if dim == -1 and not unbiased:
        m = LayerNorm(x.size(-1))
        m.load_state_dict({"weight": w, "bias": b})
        with torch.no_grad():
            return [m(x)]
    mean, var = x.mean(dim, keepdim=True), x.var(dim, keepdim=True, unbiased=unbiased)
    return [(x - mean) / torch.sqrt(var + 1e-5) * w + b]


LAYERNORM = PartCheck(
    id="layer-norm", target="LayerNorm", kind="module", op="reduction", outputs=["output"], cases=_ln_cases,
    reference=_ln_ref,
    variants={
        "wrong_axis": ("LayerNorm normalizes over the wrong axis: each vector is normalized over its own features "
                       "(the last axis)", lambda c: _ln_ref(c, dim=0)),
        "wrong_axis_seq": ("LayerNorm normalizes over the sequence axis: normalize over the last axis (features)",
                           lambda c: _ln_ref(c, dim=-2) if c.tensors["x"].dim() > 2 else [torch.empty(0)]),
        "unbiased_variance": ("the variance is the unbiased one (divided by n - 1); LayerNorm divides by n",
                              lambda c: _ln_ref(c, unbiased=True)),
    })


# ---- Add & Norm --------------------------------------------------------------------------------------------

def _addnorm_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    def case(label: str, shape: tuple[int, ...]) -> Case:
        d = shape[-1]
        t = {"x": torch.randn(shape, generator=g), "y": torch.randn(shape, generator=g),
             "weight": torch.randn(d, generator=g), "bias": torch.randn(d, generator=g)}
        return Case(label, t, Call(args=("x", "y", "weight", "bias")))

    if not hidden:
        return [case("batch of sequences", (2, 4, 8)), case("length 1, batch 1", (1, 1, 4))]
    return [case("batch of sequences", (3, 6, 16)), case("length 1, batch 1", (1, 1, 8))]


def _addnorm(c: Case, residual: bool = True, norm_first_add: bool = False) -> Outputs:
    x, y, w, b = (c.tensors[k] for k in ("x", "y", "weight", "bias"))
    if norm_first_add:
        return [x + F.layer_norm(y, (y.size(-1),), w, b)]
    return [F.layer_norm(x + y if residual else y, (y.size(-1),), w, b)]


ADD_NORM = PartCheck(
    id="add-and-norm", target="add_and_norm", kind="function", op="reduction", outputs=["output"],
    cases=_addnorm_cases, reference=_addnorm,
    variants={
        "missing_residual": ("the residual connection is missing: add the sublayer's input x to its output before "
                             "normalizing", lambda c: _addnorm(c, residual=False)),
        "norm_before_add": ("the sublayer output is normalized before the residual is added; post-norm is "
                            "LayerNorm(x + sublayer(x))", lambda c: _addnorm(c, norm_first_add=True)),
    })

# ---- encoder and decoder layers ----------------------------------------------------------------------------

def _mha_state(g: torch.Generator, prefix: str, d: int) -> dict[str, torch.Tensor]:
    out = {}
    for name in ("w_q", "w_k", "w_v", "w_o"):
        out.update(_linear_state(g, f"{prefix}.{name}", d, d))
    return out


def _norm_state(g: torch.Generator, name: str, d: int) -> dict[str, torch.Tensor]:
    return {f"state.{name}.weight": 1 + 0.3 * torch.randn(d, generator=g), f"state.{name}.bias": 0.3 * torch.randn(d, generator=g)}


def _layer_case(g: torch.Generator, label: str, decoder: bool, b: int, lt: int, ls: int, d: int, h: int, norm_first: bool) -> Case:
    d_ff = 2 * d
    t = {"x": torch.randn(b, lt, d, generator=g), **_mha_state(g, "self_attn", d),
         **_linear_state(g, "ff.linear1", d, d_ff), **_linear_state(g, "ff.linear2", d_ff, d)}
    for i in range(1, 4 if decoder else 3):
        t.update(_norm_state(g, f"norm{i}", d))
    pad = torch.ones(b, 1, 1, ls if decoder else lt, dtype=torch.bool)
    pad[0, ..., -2:] = False  # the first sequence of the batch ends in two padding tokens
    if decoder:
        t.update(_mha_state(g, "cross_attn", d))
        t["memory"], t["self_mask"], t["memory_mask"] = torch.randn(b, ls, d, generator=g), causal_mask(lt), pad
        args: tuple[str, ...] = ("x", "memory", "self_mask", "memory_mask")
    else:
        t["mask"] = pad
        args = ("x", "mask")
    trusted = {"MultiHeadAttention": standins.MultiHeadAttention, "FeedForward": standins.FeedForward,
               "LayerNorm": standins.LayerNorm}
    return Case(label, t, Call(init={"d_model": d, "n_heads": h, "d_ff": d_ff, "norm_first": norm_first}, args=args,
                               substitute=trusted))


def _reference_state(c: Case, decoder: bool) -> dict[str, torch.Tensor]:
    """The student's layer names mapped to reference_impl's (norm1 -> attn_block.norm, ...)."""
    blocks = ["self_block", "cross_block", "ff_block"] if decoder else ["attn_block", "ff_block"]
    state = {}
    for key, value in c.tensors.items():
        if key.startswith("state."):
            key = key.removeprefix("state.")
            if key.startswith("norm"):
                key = f"{blocks[int(key[4]) - 1]}.norm.{key.split('.', 1)[1]}"
            state[key] = value
    return state


def _post_norm_without_residual(block: torch.nn.Module) -> None:
    block.forward = lambda x, sublayer: block.norm(sublayer(x)) if not block.norm_first else sublayer(block.norm(x))


def _residual_from_normalized(block: torch.nn.Module) -> None:
    """Pre-norm with the residual taken from the normalized input: h = LN(x); h + sublayer(h)."""
    def forward(x: torch.Tensor, sublayer) -> torch.Tensor:
        if not block.norm_first:
            return block.norm(x + sublayer(x))
        h = block.norm(x)
        return h + sublayer(h)
    block.forward = forward


def _encoder_ref(c: Case, norm_first: bool | None = None, residual: bool = True, use_mask: bool = True,
                 residual_normalized: bool = False) -> Outputs:
    init = c.call.init
    layer = EncoderLayer(init["d_model"], init["n_heads"], init["d_ff"],
                         norm_first=init["norm_first"] if norm_first is None else norm_first)
    layer.load_state_dict(_reference_state(c, decoder=False))
    if not residual:
        _post_norm_without_residual(layer.attn_block)
    if residual_normalized:
        _residual_from_normalized(layer.attn_block)
        _residual_from_normalized(layer.ff_block)
    with torch.no_grad():
        return [layer(c.tensors["x"], c.tensors["mask"] if use_mask else None)]


def _layer_cases(g: torch.Generator, hidden: bool, decoder: bool) -> list[Case]:
    """Both norm orders, 1 to 8 heads; a decoder's source has another length than its target."""
    if not hidden:
        return [_layer_case(g, "post-norm", decoder, 2, 4, 6, 8, 2, False), _layer_case(g, "pre-norm", decoder, 2, 4, 6, 8, 2, True),
                _layer_case(g, "pre-norm, 1 head", decoder, 1, 3, 4, 4, 1, True),
                _layer_case(g, "post-norm, 8 heads", decoder, 1, 3, 4, 16, 8, False)]
    return [_layer_case(g, "post-norm", decoder, 3, 5, 8, 16, 4, False), _layer_case(g, "pre-norm", decoder, 2, 6, 4, 16, 2, True),
            _layer_case(g, "pre-norm, 1 head", decoder, 2, 3, 7, 8, 1, True),
            _layer_case(g, "post-norm, 8 heads", decoder, 2, 4, 5, 32, 8, False)]


ENCODER = PartCheck(
    id="encoder-layer", target="EncoderLayer", kind="module", op="composite", outputs=["output"],
    cases=lambda g, hidden: _layer_cases(g, hidden, decoder=False), reference=_encoder_ref,
    variants={
        "norm_order": ("the layer uses the wrong norm order: post-norm is LN(x + sublayer(x)), pre-norm is "
                       "x + sublayer(LN(x)); follow norm_first", lambda c: _encoder_ref(c, norm_first=not c.call.init["norm_first"])),
        "no_attention_residual": ("the residual connection around self-attention is missing",
                                  lambda c: _encoder_ref(c, residual=False)),
        "mask_ignored": ("the padding mask is not passed to self-attention", lambda c: _encoder_ref(c, use_mask=False)),
        "residual_normalized": ("in pre-norm the residual is taken from the normalized input; add the sublayer's "
                                "output to x itself: x + sublayer(LN(x))", lambda c: _encoder_ref(c, residual_normalized=True)),
    })


def _decoder_ref(c: Case, norm_first: bool | None = None, cross_from_self: bool = False, self_mask: bool = True,
                 memory_mask: bool = True) -> Outputs:
    init = c.call.init
    layer = DecoderLayer(init["d_model"], init["n_heads"], init["d_ff"],
                         norm_first=init["norm_first"] if norm_first is None else norm_first)
    layer.load_state_dict(_reference_state(c, decoder=True))
    x, memory = c.tensors["x"], c.tensors["memory"]
    with torch.no_grad():
        if cross_from_self:  # keys and values of the cross-attention taken from the decoder's own states
            attend = layer.cross_attn.forward
            layer.cross_attn.forward = lambda h, mem, mask=None, need_weights=False: attend(h, None, need_weights=need_weights)
        out, _ = layer(x, memory, c.tensors["self_mask"] if self_mask else None, c.tensors["memory_mask"] if memory_mask else None)
    return [out]


DECODER = PartCheck(
    id="decoder-layer", target="DecoderLayer", kind="module", op="composite", outputs=["output"],
    cases=lambda g, hidden: _layer_cases(g, hidden, decoder=True), reference=_decoder_ref,
    variants={
        "norm_order": ("the layer uses the wrong norm order: post-norm is LN(x + sublayer(x)), pre-norm is "
                       "x + sublayer(LN(x)); follow norm_first", lambda c: _decoder_ref(c, norm_first=not c.call.init["norm_first"])),
        "cross_from_decoder": ("the encoder-decoder attention takes its keys and values from the decoder; queries come "
                               "from the decoder, keys and values from the encoder's output (memory)",
                               lambda c: _decoder_ref(c, cross_from_self=True)),
        "no_causal_mask": ("the decoder's self-attention ignores self_mask, so each position sees the future",
                           lambda c: _decoder_ref(c, self_mask=False)),
        "no_memory_mask": ("the cross-attention ignores memory_mask, so the decoder attends to the source's padding",
                           lambda c: _decoder_ref(c, memory_mask=False)),
    })


# ---- teacher forcing ------------------------------------------------------------------------------------------

def _shift_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    def case(label: str, b: int, t: int, bos: int) -> Case:
        return Case(label, {"tgt": torch.randint(3, 20, (b, t), generator=g)}, Call(args=("tgt",), options={"bos_id": bos}))

    if not hidden:
        return [case("a batch of targets", 2, 5, 1), case("another BOS id", 2, 4, 2), case("length 2", 1, 2, 1)]
    return [case("a batch of targets", 4, 11, 1), case("another BOS id", 2, 6, 7), case("length 2", 3, 2, 1)]


def _shift(c: Case, roll: bool = False, append: bool = False) -> Outputs:
    tgt, bos = c.tensors["tgt"], c.call.options["bos_id"]
    if roll:
        return [tgt.roll(1, dims=1)]
    if append:
        return [torch.cat([torch.full_like(tgt[:, :1], bos), tgt], dim=1)]
    return [shift_right(tgt, bos)]


SHIFT = PartCheck(
    id="shift-right", target="shift_right", kind="function", op="elementwise", outputs=["decoder_input"],
    cases=_shift_cases, reference=_shift,
    variants={
        "roll": ("the targets are rolled, so the last token wraps around to the front; put BOS first instead",
                 lambda c: _shift(c, roll=True)),
        "too_long": ("BOS is added but the last target token is kept: the decoder input must have the target's length",
                     lambda c: _shift(c, append=True)),
    })


# ---- decoding -------------------------------------------------------------------------------------------------

def _table(g: torch.Generator, steps: int, vocab: int, eos: int, eos_from: int, ending: str) -> torch.Tensor:
    """A toy model's log-probabilities; `ending` "eos first" makes EOS the first token, "no eos" makes it never come."""
    logits = torch.randn(steps, vocab, vocab, generator=g) * 2
    logits[eos_from:, :, eos] += 2.5  # EOS becomes likely after a few tokens
    if ending == "eos first":
        logits[0, :, eos] += 20
    elif ending == "no eos":
        logits[..., eos] -= 20
    return logits.log_softmax(-1)


def _decode_cases(g: torch.Generator, hidden: bool, beam: bool) -> list[Case]:
    """The same kinds of toy model, visible and hidden. Each case is drawn until the mistakes it is meant to show
    (all of them, unless `shows` names some) give answers different from the right one."""
    check = BEAM if beam else GREEDY

    def case(label: str, vocab: int, max_len: int, eos_from: int, beam_size: int = 3, ending: str = "",
             shows: tuple[str, ...] = ()) -> Case:
        options = {"bos_id": 0, "eos_id": 1, "max_len": max_len}
        if beam:
            options["beam_size"] = beam_size
        for _ in range(200):
            c = Case(label, {"table": _table(g, max_len + 1, vocab, 1, eos_from, ending)},
                     Call(options=options, step_tables={"step": "table"}, returns="ints"))
            if _shows(check, c, shows or tuple(check.variants)):
                return c
        raise RuntimeError(f"no toy model for {label!r} tells the mistakes {shows or 'all'} apart")

    v = 0 if hidden else 1  # visible cases: other sizes
    eos = ("keeps_bos", "ignores_eos", "drops_eos") if not beam else ()  # one_short shows only where max_len is reached
    return [case("a toy model", 8 - 2 * v, 8 - 2 * v, 3 - v, shows=eos),
            case("a larger vocabulary", 30 - 10 * v, 10 - 2 * v, 4 - v, shows=eos),
            case("EOS likely early", 5 + v, 7 - v, 1, 4 - v, shows=eos),
            case("max_len reached before EOS", 6 + v, 5 - v, 9, ending="no eos",
                 shows=("one_short", "keeps_bos") if not beam else ("last_token_only",)),
            case("EOS first", 7 - v, 6, 9, ending="eos first",
                 shows=("drops_eos", "keeps_bos") if not beam else ("past_eos",))]


def _shows(check: PartCheck, c: Case, keys: tuple[str, ...]) -> bool:
    expected = check.reference(c)[0]
    return all(not torch.equal(check.variants[k][1](c)[0], expected) for k in keys)


def _greedy(c: Case, keep_bos: bool = False, ignore_eos: bool = False, steps: int = 0, drop_eos: bool = False) -> Outputs:
    o, step = c.call.options, table_step(c.tensors["table"])
    out = greedy_steps(step, o["bos_id"], -1 if ignore_eos else o["eos_id"], o["max_len"] + steps)
    if drop_eos and out and out[-1] == o["eos_id"]:
        out = out[:-1]
    return [torch.tensor(([o["bos_id"]] if keep_bos else []) + out)]


GREEDY = PartCheck(
    id="greedy-decode", target="greedy_decode", kind="function", op="elementwise", outputs=["tokens"],
    cases=lambda g, hidden: _decode_cases(g, hidden, beam=False), reference=_greedy,
    variants={
        "keeps_bos": ("the output starts with BOS; return only the generated tokens", lambda c: _greedy(c, keep_bos=True)),
        "ignores_eos": ("decoding goes on after EOS; stop as soon as EOS is generated (and keep it)",
                        lambda c: _greedy(c, ignore_eos=True)),
        "one_short": ("decoding stops one token before max_len: max_len counts the generated tokens, not BOS",
                      lambda c: _greedy(c, steps=-1)),
        "drops_eos": ("decoding stops at EOS but leaves it out; keep EOS as the last token",
                      lambda c: _greedy(c, drop_eos=True)),
    })


def _beam(c: Case, length: str = "generated", last_only: bool = False, past_eos: bool = False) -> Outputs:
    """The reference, or one of the typical mistakes: ranking finished outputs by total log-probability (length
    "none") or dividing by a length that counts BOS ("with bos"), ranking by the newest token only, or extending
    hypotheses past their EOS."""
    o, step = c.call.options, table_step(c.tensors["table"])
    if length == "generated" and not (last_only or past_eos):
        return [torch.tensor(beam_search_steps(step, o["bos_id"], o["eos_id"], o["max_len"], o["beam_size"]))]
    divide = {"generated": lambda seq: len(seq) - 1, "none": lambda seq: 1, "with bos": len}[length]
    beams, finished = [([o["bos_id"]], 0.0)], []
    for _ in range(o["max_len"]):
        seqs = torch.tensor([seq for seq, _ in beams])
        logp = step(seqs).float()
        totals = (0 if last_only else torch.tensor([score for _, score in beams])[:, None]) + logp
        top = totals.flatten().topk(min(o["beam_size"], totals.numel()))
        beams = []
        for score, idx in zip(top.values.tolist(), top.indices.tolist()):
            b, tok = divmod(idx, logp.size(1))
            seq = seqs[b].tolist() + [tok]
            (finished if tok == o["eos_id"] and not past_eos else beams).append((seq, score))
        if not beams or len(finished) >= o["beam_size"]:
            break
    return [torch.tensor(max(finished or beams, key=lambda f: f[1] / divide(f[0]))[0][1:])]


BEAM = PartCheck(
    id="beam-search", target="beam_search", kind="function", op="elementwise", outputs=["tokens"],
    cases=lambda g, hidden: _decode_cases(g, hidden, beam=True), reference=_beam,
    variants={
        "no_length_normalization": ("finished hypotheses are ranked by total log-probability; divide by their length, "
                                    "or short outputs always win", lambda c: _beam(c, length="none")),
        "last_token_only": ("hypotheses are ranked by their last token's log-probability; rank them by the running "
                            "total (the sum of all their tokens' log-probabilities)", lambda c: _beam(c, last_only=True)),
        "bos_in_length": ("the length normalization counts BOS; divide by the number of generated tokens (EOS "
                          "included, BOS not)", lambda c: _beam(c, length="with bos")),
        "past_eos": ("hypotheses go on after EOS; one that generates EOS is finished: set it aside",
                     lambda c: _beam(c, past_eos=True)),
    })

CROSS_ATTENTION = ChoiceCheck(id="cross-attention-sources", target="answer_cross_attention", options=["a", "b", "c", "d"])
TRUE_STATEMENT = ChoiceCheck(id="true-statement", target="answer_true_statement", options=["a", "b", "c", "d"])

PARTS = [FEED_FORWARD, LAYERNORM, ADD_NORM, ENCODER, CROSS_ATTENTION, DECODER, SHIFT, GREEDY, BEAM,
                            TRUE_STATEMENT]

"""Checks of the attention assignment: positions, scaled dot-product attention, multi-head attention,
LayerNorm, and Add & Norm. Each lists the mistakes students typically make, as variants of the answer."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from reference_impl.attention import MultiHeadAttention, scaled_dot_product_attention
from reference_impl.masks import causal_mask
from reference_impl.norm import LayerNorm
from reference_impl.positions import sinusoidal_encoding

from .spec import Case, ChoiceCheck, Outputs, PartCheck


# ---- sinusoidal positional encoding ------------------------------------------------------------

def _pe_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    sizes = [(6, 8), (1, 4)] if not hidden else [(int(torch.randint(5, 40, (1,), generator=g)), 2 * int(torch.randint(2, 12, (1,), generator=g))), (1, 2), (50, 16)]
    return [Case(f"{n} positions, d_model={d}", {}, {"options": {"n_positions": n, "d_model": d}}) for n, d in sizes]


def _pe_variant(swap: bool = False, exponent_i: bool = False):
    def run(case: Case) -> Outputs:
        n, d = case.spec["options"]["n_positions"], case.spec["options"]["d_model"]
        pos = torch.arange(n, dtype=torch.float64)[:, None]
        i = torch.arange(0, d, 2, dtype=torch.float64)
        angle = pos / 10000 ** ((i / 2 if exponent_i else i) / d)
        pe = torch.zeros(n, d, dtype=torch.float64)
        pe[:, 0::2], pe[:, 1::2] = (torch.cos(angle), torch.sin(angle)) if swap else (torch.sin(angle), torch.cos(angle))
        return [pe.float()]
    return run


POSITIONS = PartCheck(
    id="positional-encoding", target="sinusoidal_encoding", kind="function", op="elementwise", outputs=["encoding"],
    cases=_pe_cases, reference=lambda c: [sinusoidal_encoding(**c.spec["options"])],
    variants={
        "sin_cos_swapped": ("sin and cos are swapped: even dimensions 2i take sin, odd dimensions 2i+1 take cos",
                            _pe_variant(swap=True)),
        "exponent_i": ("the frequency exponent should be 2i/d_model (i indexes pairs of dimensions), not i/d_model",
                       _pe_variant(exponent_i=True)),
    })


# ---- scaled dot-product attention ----------------------------------------------------------------

def _qkv_case(g: torch.Generator, label: str, b: int, h: int, lq: int, lk: int, d: int, mask: str,
              noncontiguous: bool = False) -> Case:
    t = {n: torch.randn(b, h, l, d, generator=g) * 2 for n, l in (("q", lq), ("k", lk), ("v", lk))}
    args = ["q", "k", "v"]
    if mask == "causal":
        t["mask"] = causal_mask(lq, lk)
    elif mask == "padding":
        keep = torch.ones(b, 1, 1, lk, dtype=torch.bool)
        keep[0, ..., max(1, lk // 2):] = False
        t["mask"] = keep
    elif mask == "empty_row":
        t["mask"] = torch.rand(b, 1, lq, lk, generator=g) > 0.3
        t["mask"][..., 0, :] = False  # the first query may attend to nothing: zeros expected, not NaN
        t["mask"][..., 1:, 0] = True
    spec = {"args": args + (["mask"] if "mask" in t else [])}
    if noncontiguous:
        spec["noncontiguous"] = ["q", "k"]
    return Case(label, t, spec)


def _sdpa_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    if not hidden:
        return [_qkv_case(g, "no mask", 2, 2, 4, 4, 8, "none"), _qkv_case(g, "causal mask", 1, 2, 5, 5, 16, "causal")]
    d = int(torch.randint(4, 33, (1,), generator=g))
    return [
        _qkv_case(g, "no mask", 3, 2, 6, 6, d, "none"),
        _qkv_case(g, "causal mask", 2, 4, 7, 7, 64, "causal"),
        _qkv_case(g, "padding mask, queries and keys of different lengths", 2, 2, 3, 9, d, "padding"),
        _qkv_case(g, "a query with no allowed key", 2, 1, 5, 6, 8, "empty_row"),
        _qkv_case(g, "length 1, batch 1", 1, 1, 1, 1, d, "none"),
        _qkv_case(g, "non-contiguous inputs", 2, 2, 5, 5, 16, "causal", noncontiguous=True),
    ]


def _sdpa_ref(c: Case) -> Outputs:
    return list(scaled_dot_product_attention(c.tensors["q"], c.tensors["k"], c.tensors["v"], c.tensors.get("mask")))


def _sdpa_variant(scale: str = "sqrt", axis: int = -1, mask_after: bool = False, ignore_mask: bool = False):
    def run(c: Case) -> Outputs:
        q, k, v, mask = c.tensors["q"], c.tensors["k"], c.tensors["v"], c.tensors.get("mask")
        d = q.size(-1)
        scores = q @ k.transpose(-2, -1) / {"sqrt": math.sqrt(d), "none": 1.0, "d": d}[scale]
        if mask is not None and not ignore_mask and not mask_after:
            scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        w = scores.softmax(dim=axis)
        if mask is not None and not ignore_mask:
            w = w.masked_fill(~mask, 0.0) if mask_after else w.masked_fill(~mask.any(-1, keepdim=True), 0.0)
        return [w @ v, w]
    return run


SDPA = PartCheck(
    id="scaled-dot-product-attention", target="scaled_dot_product_attention", kind="function", op="reduction",
    outputs=["output", "weights"], cases=_sdpa_cases, reference=_sdpa_ref,
    variants={
        "no_scaling": ("the scores are not divided by sqrt(d_k)", _sdpa_variant(scale="none")),
        "scaled_by_dk": ("the scores are divided by d_k; divide by sqrt(d_k)", _sdpa_variant(scale="d")),
        "softmax_wrong_axis": ("softmax is taken over the wrong axis: each query's weights over the keys (the last "
                               "axis) must sum to 1", _sdpa_variant(axis=-2)),
        "mask_after_softmax": ("the mask is applied after the softmax: masked scores must be set to a very large "
                               "negative value before it, so that the remaining weights still sum to 1",
                               _sdpa_variant(mask_after=True)),
        "mask_ignored": ("the mask is not applied: positions where the mask is False must get zero weight",
                         _sdpa_variant(ignore_mask=True)),
    })


# ---- multi-head attention ------------------------------------------------------------------------------

def _mha_state(g: torch.Generator, d: int) -> dict[str, torch.Tensor]:
    out = {}
    for name in ("w_q", "w_k", "w_v", "w_o"):
        out[f"state.{name}.weight"] = torch.randn(d, d, generator=g) / math.sqrt(d)
        out[f"state.{name}.bias"] = torch.randn(d, generator=g) * 0.1
    return out


def _mha_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    def case(label: str, b: int, lq: int, lk: int | None, d: int, h: int, causal: bool) -> Case:
        t = {"x": torch.randn(b, lq, d, generator=g), **_mha_state(g, d)}
        # graded with a trusted attention in place of the student's own, which part 2 grades
        spec = {"init": {"d_model": d, "n_heads": h}, "args": ["x"], "options": {},
                "substitute": {"scaled_dot_product_attention": "attention"}}
        if lk is not None:
            t["context"] = torch.randn(b, lk, d, generator=g)
            spec["tensor_options"] = {"context": "context"}
        if causal:
            t["mask"] = causal_mask(lq)
            spec.setdefault("tensor_options", {})["mask"] = "mask"
        return Case(label, t, spec)

    if not hidden:
        return [case("self-attention, 2 heads", 2, 5, None, 8, 2, False), case("causal self-attention", 1, 4, None, 8, 4, True)]
    return [case("self-attention", 3, 6, None, 16, 4, False), case("causal self-attention, 8 heads", 2, 7, None, 32, 8, True),
            case("cross-attention", 2, 3, 8, 16, 2, False), case("length 1, batch 1, 1 head", 1, 1, None, 8, 1, False)]


def _mha_ref(c: Case, split_wrong: bool = False, no_output: bool = False) -> Outputs:
    d, h = c.spec["init"]["d_model"], c.spec["init"]["n_heads"]
    m = MultiHeadAttention(d, h)
    m.load_state_dict({k.removeprefix("state."): v for k, v in c.tensors.items() if k.startswith("state.")})
    x, ctx, mask = c.tensors["x"], c.tensors.get("context"), c.tensors.get("mask")
    if split_wrong:  # (B, L, d) viewed as (B, H, L, d_head) directly, without the transpose
        m.split_heads = lambda t: t.reshape(t.size(0), h, t.size(1), d // h)
        m.merge_heads = lambda t: t.reshape(t.size(0), t.size(2), d)
    if no_output:
        m.w_o = torch.nn.Identity()
    with torch.no_grad():
        return list(m(x, ctx, mask=mask))


MHA = PartCheck(
    id="multi-head-attention", target="MultiHeadAttention", kind="module", op="composite",
    outputs=["output", "weights"], cases=_mha_cases, reference=_mha_ref,
    variants={
        "heads_split_wrong": ("the heads are split in the wrong order: view (B, L, d_model) as (B, L, H, d_head), "
                              "then transpose to (B, H, L, d_head)", lambda c: _mha_ref(c, split_wrong=True)),
        "no_output_projection": ("the output projection W_O is missing after merging the heads",
                                 lambda c: _mha_ref(c, no_output=True)),
    })


# ---- LayerNorm ---------------------------------------------------------------------------------------------

def _ln_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    def case(label: str, shape: tuple[int, ...]) -> Case:
        d = shape[-1]
        t = {"x": torch.randn(shape, generator=g) * 3 + 1, "state.weight": torch.randn(d, generator=g),
             "state.bias": torch.randn(d, generator=g)}
        return Case(label, t, {"init": {"d_model": d}, "args": ["x"]})

    if not hidden:
        return [case("batch of sequences", (2, 3, 8))]
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
        return Case(label, t, {"args": ["x", "y", "weight", "bias"]})

    if not hidden:
        return [case("batch of sequences", (2, 4, 8))]
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

WHY_SCALE = ChoiceCheck(id="why-scale", target="answer_why_scale", options=["a", "b", "c", "d"])

CHECKS = {c.id: c for c in (POSITIONS, SDPA, MHA, LAYERNORM, ADD_NORM, WHY_SCALE)}

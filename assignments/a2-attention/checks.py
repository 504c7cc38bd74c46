"""Checks of assignment 2: scaled dot-product attention, masks, self-attention and multi-head attention.
Each lists the mistakes students typically make, as variants of the answer."""
from __future__ import annotations

import math

import torch

from reference_impl.attention import MultiHeadAttention, scaled_dot_product_attention
from reference_impl.masks import causal_mask, padding_mask

from autograder.grading.parts import Call, Case, ChoiceCheck, Outputs, PartCheck

from .standins import attention


# ---- scaled dot-product attention ----------------------------------------------------------------

def _qkv_case(g: torch.Generator, label: str, b: int, h: int | None, lq: int, lk: int, d: int, mask: str,
              noncontiguous: bool = False, d_v: int | None = None) -> Case:
    """q, k, v of shape (b, h, L, d), or (b, L, d) without a head axis when h is None."""
    heads = () if h is None else (h,)
    t = {n: torch.randn(b, *heads, l, d if n != "v" else d_v or d, generator=g) * 2 for n, l in (("q", lq), ("k", lk), ("v", lk))}
    args = ["q", "k", "v"]
    if mask == "causal":
        t["mask"] = causal_mask(lq, lk)
    elif mask == "padding":
        keep = torch.ones(b, *(1,) * len(heads), 1, lk, dtype=torch.bool)
        keep[0, ..., max(1, lk // 2):] = False
        t["mask"] = keep
    elif mask == "empty_row":
        t["mask"] = torch.rand(b, 1, lq, lk, generator=g) > 0.3
        t["mask"][..., 0] = True
        t["mask"][0, ..., 0, :] = False  # the first sequence's first query may attend to nothing: zeros, not NaN
    call = Call(args=tuple(args + (["mask"] if "mask" in t else [])), noncontiguous=("q", "k") if noncontiguous else ())
    return Case(label, t, call)


def _sdpa_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    """The same kinds of case, visible and hidden, with other sizes."""
    d = int(torch.randint(4, 33, (1,), generator=g))
    big = 64 if hidden else 32
    return [
        _qkv_case(g, "no mask", 3 if hidden else 2, 2, 6, 6, d, "none"),
        _qkv_case(g, "causal mask", 2, 4, 7 if hidden else 5, 7 if hidden else 5, big, "causal"),
        _qkv_case(g, "padding mask, queries and keys of different lengths", 2, 2, 3, 9 if hidden else 7, d, "padding"),
        _qkv_case(g, "a query with no allowed key", 2, 1, 5 if hidden else 4, 6, 8, "empty_row"),
        _qkv_case(g, "a single query, batch 1", 1, 1, 1, 5 if hidden else 3, d, "none"),
        _qkv_case(g, "non-contiguous inputs", 2, 2, 5, 5, 16 if hidden else 8, "causal", noncontiguous=True),
        _qkv_case(g, "values of another size than queries and keys (d_v != d_k)", 2, 2, 4, 6, 8 if hidden else 4, "causal",
                  d_v=24 if hidden else 12),
        _qkv_case(g, "3-D inputs (no head axis), padding mask", 3 if hidden else 2, None, 5, 6 if hidden else 5, d, "padding"),
    ]


def _sdpa_ref(c: Case) -> Outputs:
    return list(scaled_dot_product_attention(c.tensors["q"], c.tensors["k"], c.tensors["v"], c.tensors.get("mask")))


def _sdpa_variant(scale: str = "sqrt", axis: int = -1, mask_after: bool = False, ignore_mask: bool = False,
                  keep_empty_rows: bool = False, inverted: bool = False):
    def run(c: Case) -> Outputs:
        q, k, v, mask = c.tensors["q"], c.tensors["k"], c.tensors["v"], c.tensors.get("mask")
        if inverted and mask is not None:
            mask = ~mask
        d = q.size(-1)
        divisor = {"sqrt": math.sqrt(d), "none": 1.0, "d": d, "d_v": math.sqrt(v.size(-1))}[scale]
        scores = q @ k.transpose(-2, -1) / divisor
        if mask is not None and not ignore_mask and not mask_after:
            scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        w = scores.softmax(dim=axis)
        if mask is not None and not ignore_mask and not keep_empty_rows:
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
        "scaled_by_dv": ("the scores are divided by the square root of the values' size d_v; scale by sqrt(d_k), the "
                         "size of the queries and keys", _sdpa_variant(scale="d_v")),
        "empty_row_not_zeroed": ("a query that may attend to no key gets uniform weights (the softmax of equally "
                                 "masked scores); its weights and output must be zero", _sdpa_variant(keep_empty_rows=True)),
        "mask_inverted": ("the mask is read the wrong way round: True means \"may attend\" here (PyTorch's "
                          "key_padding_mask uses the opposite convention); hide the positions where it is False",
                          _sdpa_variant(inverted=True)),
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
        tensor_options = {}
        if lk is not None:
            t["context"] = torch.randn(b, lk, d, generator=g)
            tensor_options["context"] = "context"
        if causal:
            t["mask"] = causal_mask(lq)
            tensor_options["mask"] = "mask"
        return Case(label, t, Call(init={"d_model": d, "n_heads": h}, args=("x",), tensor_options=tensor_options,
                                   substitute={"scaled_dot_product_attention": attention}))

    if not hidden:
        return [case("self-attention", 2, 5, None, 8, 2, False), case("causal self-attention, 8 heads", 1, 4, None, 16, 8, True),
                case("cross-attention", 1, 2, 5, 8, 4, False), case("length 1, batch 1, 1 head", 1, 1, None, 4, 1, False)]
    return [case("self-attention", 3, 6, None, 16, 4, False), case("causal self-attention, 8 heads", 2, 7, None, 32, 8, True),
            case("cross-attention", 2, 3, 8, 16, 2, False), case("length 1, batch 1, 1 head", 1, 1, None, 8, 1, False)]


def _mha_ref(c: Case, split_wrong: bool = False, no_output: bool = False, scale_by_d_model: bool = False,
             merge_wrong: bool = False) -> Outputs:
    d, h = c.call.init["d_model"], c.call.init["n_heads"]
    m = MultiHeadAttention(d, h)
    m.load_state_dict({k.removeprefix("state."): v for k, v in c.tensors.items() if k.startswith("state.")})
    x, ctx, mask = c.tensors["x"], c.tensors.get("context"), c.tensors.get("mask")
    if scale_by_d_model:  # attention written inline, its scores divided by sqrt(d_model) instead of sqrt(d_head)
        q = m.split_heads(m.w_q(x)) * math.sqrt(d // h) / math.sqrt(d)
        k, v = m.split_heads(m.w_k(x if ctx is None else ctx)), m.split_heads(m.w_v(x if ctx is None else ctx))
        with torch.no_grad():
            out, w = scaled_dot_product_attention(q, k, v, mask)
            return [m.w_o(m.merge_heads(out)), w]
    if split_wrong:  # (B, L, d) viewed as (B, H, L, d_head) directly, without the transpose
        m.split_heads = lambda t: t.reshape(t.size(0), h, t.size(1), d // h)
    if merge_wrong:  # (B, H, L, d_head) viewed as (B, L, d) directly, without the transpose back
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
                              "then transpose to (B, H, L, d_head)", lambda c: _mha_ref(c, split_wrong=True, merge_wrong=True)),
        "heads_split_wrong_merged_right": ("the heads are split in the wrong order: view (B, L, d_model) as (B, L, H, "
                                           "d_head), then transpose to (B, H, L, d_head)",
                                           lambda c: _mha_ref(c, split_wrong=True, merge_wrong=False)),
        "heads_merged_wrong": ("the heads are merged in the wrong order: transpose (B, H, L, d_head) back to (B, L, H, "
                               "d_head) before reshaping to (B, L, d_model)", lambda c: _mha_ref(c, merge_wrong=True)),
        "no_output_projection": ("the output projection W_O is missing after merging the heads",
                                 lambda c: _mha_ref(c, no_output=True)),
        "scaled_by_d_model": ("the scores are divided by sqrt(d_model); each head attends over d_head = d_model / "
                              "n_heads dimensions, so divide by sqrt(d_head)", lambda c: _mha_ref(c, scale_by_d_model=True)),
    })


# ---- masks --------------------------------------------------------------------------------------------------

def _causal_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    odd_or_even = 3 if hidden else 4  # hidden lengths are odd, visible ones even: never the same case
    sizes = {"a random length": odd_or_even + 2 * int(torch.randint(0, 5, (1,), generator=g)), "a very short sequence": 2 if hidden else 1,
             "a long sequence": 16 if hidden else 12}
    return [Case(label, {}, Call(options={"n": n})) for label, n in sizes.items()]


CAUSAL = PartCheck(
    id="causal-mask", target="make_causal_mask", kind="function", op="elementwise", outputs=["mask"],
    cases=_causal_cases, reference=lambda c: [causal_mask(c.call.options["n"])],
    variants={
        "no_diagonal": ("each position must also attend to itself: keep the diagonal (tril, not tril(-1))",
                        lambda c: [causal_mask(c.call.options["n"]).tril(-1)]),
        "future": ("the mask lets queries see the future and hides the past: position i may attend to keys 0..i "
                   "(the lower triangle)", lambda c: [causal_mask(c.call.options["n"]).T]),
    })


def _padding_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    def case(label: str, b: int, s: int, pad: int) -> Case:
        tokens = torch.randint(pad + 1, pad + 20, (b, s), generator=g)
        for row in range(b):
            tokens[row, int(torch.randint(1, s, (1,), generator=g)):] = pad
        return Case(label, {"tokens": tokens}, Call(args=("tokens",), options={"pad_id": pad}))

    if not hidden:
        return [case("padded sequences", 2, 5, 0), case("a pad id other than 0", 2, 4, 5), case("one sequence", 1, 6, 0)]
    return [case("padded sequences", 4, 9, 0), case("a pad id other than 0", 3, 6, 3), case("one sequence", 1, 7, 0)]


PADDING = PartCheck(
    id="padding-mask", target="make_padding_mask", kind="function", op="elementwise", outputs=["mask"],
    cases=_padding_cases, reference=lambda c: [padding_mask(c.tensors["tokens"], c.call.options["pad_id"])],
    variants={
        "inverted": ("the mask is True at padding; True must mean \"may attend\": real tokens are True",
                     lambda c: [~padding_mask(c.tensors["tokens"], c.call.options["pad_id"])]),
        "query_axis": ("the mask hides padded queries, shape (B, 1, S, 1); it must hide padded keys, shape (B, 1, 1, S)",
                       lambda c: [padding_mask(c.tensors["tokens"], c.call.options["pad_id"]).transpose(-1, -2)]),
    })


# ---- single-head self-attention -------------------------------------------------------------------------

def _self_attention_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    def case(label: str, b: int, n: int, d: int, masked: bool) -> Case:
        t = {"x": torch.randn(b, n, d, generator=g)}
        for name in ("w_q", "w_k", "w_v"):
            t[f"state.{name}.weight"] = torch.randn(d, d, generator=g) / math.sqrt(d)
        if masked:
            t["mask"] = causal_mask(n)
        return Case(label, t, Call(init={"d_model": d}, args=("x",), tensor_options={"mask": "mask"} if masked else {},
                                   substitute={"scaled_dot_product_attention": attention}))

    if not hidden:
        return [case("a batch of sequences", 2, 4, 8, False), case("causal", 1, 4, 6, True), case("one sequence", 1, 5, 4, False)]
    return [case("a batch of sequences", 3, 6, 16, False), case("causal", 2, 5, 8, True), case("one sequence", 1, 9, 4, False)]


def _self_attention_ref(c: Case, values_raw: bool = False, keys_from_q: bool = False, unscaled: bool = False) -> Outputs:
    x, mask = c.tensors["x"], c.tensors.get("mask")
    w = {n: c.tensors[f"state.{n}.weight"] for n in ("w_q", "w_k", "w_v")}
    q = x @ w["w_q"].T * (math.sqrt(x.size(-1)) if unscaled else 1.0)  # attention written inline, without the scaling
    k = x @ (w["w_q"] if keys_from_q else w["w_k"]).T
    v = x if values_raw else x @ w["w_v"].T
    return list(scaled_dot_product_attention(q, k, v, mask))


SELF_ATTENTION = PartCheck(
    id="self-attention", target="SelfAttention", kind="module", op="composite", outputs=["output", "weights"],
    cases=_self_attention_cases, reference=_self_attention_ref,
    variants={
        "values_raw": ("the values are the inputs themselves; project them with W_V",
                       lambda c: _self_attention_ref(c, values_raw=True)),
        "keys_from_q": ("the keys are computed with W_Q; use W_K for the keys",
                        lambda c: _self_attention_ref(c, keys_from_q=True)),
        "no_scaling": ("the scores are not divided by sqrt(d_k): scale them as scaled dot-product attention does",
                       lambda c: _self_attention_ref(c, unscaled=True)),
    })

WHICH_WEIGHTS = ChoiceCheck(id="weights-of-input-2", target="answer_weights_of_input_2", options=["a", "b", "c", "d"])
WHY_SCALE = ChoiceCheck(id="why-scale", target="answer_why_scale", options=["a", "b", "c", "d"])

PARTS = [WHICH_WEIGHTS, SDPA, WHY_SCALE, CAUSAL, PADDING, SELF_ATTENTION, MHA]

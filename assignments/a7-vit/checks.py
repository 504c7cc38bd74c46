"""Checks of assignment 7: patchify, the ViT embeddings ([CLS] and learned positions), the classifier on [CLS],
the cosine similarity of position embeddings and the [CLS] attention map. Each lists the mistakes students
typically make, as variants."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from reference_impl.vit import patchify

from autograder.grading.parts import Call, Case, ChoiceCheck, Outputs, PartCheck

from . import standins


def _state(c: Case, prefix: str = "state.") -> dict[str, torch.Tensor]:
    return {k.removeprefix(prefix): v for k, v in c.tensors.items() if k.startswith(prefix)}


# ---- patchify ----------------------------------------------------------------------------------------------

def _patchify_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    def case(label: str, shape: tuple[int, int, int, int], patch: int) -> Case:
        return Case(label, {"images": torch.randn(shape, generator=g)}, Call(args=("images",), options={"patch": patch}))

    if not hidden:
        return [case("grey digits, patch 2", (2, 1, 8, 8), 2), case("three channels, patch 4", (2, 3, 8, 8), 4),
                case("a wide image", (1, 2, 4, 8), 2), case("one patch per image", (3, 3, 4, 4), 4)]
    return [case("grey digits, patch 2", (3, 1, 8, 8), 2), case("three channels, patch 4", (1, 3, 12, 12), 4),
            case("a wide image", (2, 3, 6, 12), 3), case("one patch per image", (2, 2, 3, 3), 3)]


def _grid(c: Case) -> tuple[torch.Tensor, int]:
    """(B, C, H/p, p, W/p, p) and p."""
    x, p = c.tensors["images"], c.call.options["patch"]
    b, ch, h, w = x.shape
    return x.reshape(b, ch, h // p, p, w // p, p), p


def _patchify_ref(c: Case) -> Outputs:
    return [patchify(c.tensors["images"], c.call.options["patch"]).clone()]  # never a view of the input (fixtures)


def _patchify_mistake(c: Case, order: tuple[int, ...] | None = None) -> Outputs:
    """The patches gathered with the axes of the (B, C, H/p, p, W/p, p) view in another order; None: no permute."""
    grid, p = _grid(c)
    b, ch, gh, _, gw, _ = grid.shape
    out = grid if order is None else grid.permute(order)
    return [out.reshape(b, gh * gw, ch * p * p).clone()]


PATCHIFY = PartCheck(
    id="patchify", target="patchify", kind="function", op="elementwise", outputs=["patches"],
    cases=_patchify_cases, reference=_patchify_ref,
    variants={
        "channels_last": ("each patch is flattened as (p, p, C); flatten it as (C, p, p): channel first, then the "
                          "patch's rows", lambda c: _patchify_mistake(c, (0, 2, 4, 3, 5, 1))),
        "plain_reshape": ("the image is reshaped to (B, N, C*p*p) without gathering the patches: a plain reshape cuts "
                          "the image into runs of pixels, not into p x p squares; split H and W, then permute",
                          lambda c: _patchify_mistake(c, None)),
        "column_major": ("the patches are in column-major order; number them row by row over the grid (left to "
                         "right, then top to bottom)", lambda c: _patchify_mistake(c, (0, 4, 2, 1, 3, 5))),
        "within_transposed": ("each patch's pixels are flattened as (C, p_w, p_h), column by column: the patch is "
                              "transposed; flatten each channel's p x p pixels row by row, as (C, p, p)",
                              lambda c: _patchify_mistake(c, (0, 2, 4, 1, 5, 3))),
    })


# ---- the embeddings: patches, [CLS], positions ----------------------------------------------------------------

def _emb_state(g: torch.Generator, prefix: str, channels: int, patch: int, n_patches: int, d: int) -> dict[str, torch.Tensor]:
    d_in = channels * patch * patch
    return {f"{prefix}patch_embed.weight": torch.randn(d, d_in, generator=g) / math.sqrt(d_in),
            f"{prefix}patch_embed.bias": torch.randn(d, generator=g) * 0.5,
            f"{prefix}cls_token": torch.randn(1, 1, d, generator=g),
            f"{prefix}pos_embed": torch.randn(1, 1 + n_patches, d, generator=g)}


def _emb_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    def case(label: str, b: int, channels: int, size: int, patch: int, d: int) -> Case:
        t = {"images": torch.rand(b, channels, size, size, generator=g),
             **_emb_state(g, "state.", channels, patch, (size // patch) ** 2, d)}
        return Case(label, t, Call(init={"image_size": size, "patch_size": patch, "channels": channels, "d_model": d},
                                   args=("images",), substitute={"patchify": standins.patchify}))

    if not hidden:
        return [case("grey digits, patch 2", 2, 1, 8, 2, 8), case("three channels, patch 4", 2, 3, 8, 4, 6),
                case("one patch per image", 1, 1, 4, 4, 4)]
    return [case("grey digits, patch 2", 3, 1, 8, 2, 16), case("three channels, patch 4", 2, 3, 12, 4, 8),
            case("one patch per image", 2, 2, 3, 3, 6)]


def _embed(images: torch.Tensor, state: dict[str, torch.Tensor], patch: int, cls: str = "first") -> torch.Tensor:
    """The reference embeddings ("first"), or [CLS] placed wrong: "last" (appended after the patches), "no position"
    (the patches get positions 1..N, [CLS] none) or "after positions" (patches get positions 0..N-1, then [CLS])."""
    x = F.linear(patchify(images, patch), state["patch_embed.weight"], state["patch_embed.bias"])  # (B, N, d)
    token, pos = state["cls_token"].expand(x.size(0), -1, -1), state["pos_embed"]
    if cls == "first":
        return torch.cat([token, x], dim=1) + pos
    if cls == "last":
        return torch.cat([x, token], dim=1) + pos
    return torch.cat([token, x + (pos[:, 1:] if cls == "no position" else pos[:, :-1])], dim=1)


def _emb_ref(c: Case, cls: str = "first") -> Outputs:
    return [_embed(c.tensors["images"], _state(c), c.call.init["patch_size"], cls)]


EMBEDDINGS = PartCheck(
    id="vit-embeddings", target="ViTEmbeddings", kind="module", op="composite", outputs=["tokens"],
    cases=_emb_cases, reference=_emb_ref,
    variants={
        "cls_no_position": ("[CLS] gets no position embedding: prepend [CLS] first, then add pos_embed to all 1 + N "
                            "tokens ([CLS] has position 0)", lambda c: _emb_ref(c, "no position")),
        "cls_after_positions": ("the position embeddings are added before [CLS] is prepended: the patches get "
                                "positions 0..N-1 and [CLS] none; prepend [CLS], then add pos_embed",
                                lambda c: _emb_ref(c, "after positions")),
        "cls_last": ("[CLS] is appended after the patches; it goes first, at position 0", lambda c: _emb_ref(c, "last")),
    })


# ---- the classifier ------------------------------------------------------------------------------------------

def _encoder_layer(d: int, heads: int, d_ff: int) -> nn.TransformerEncoderLayer:
    return nn.TransformerEncoderLayer(d, heads, d_ff, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)


def _vit_state(g: torch.Generator, init: dict[str, int]) -> dict[str, torch.Tensor]:
    """Random weights under the documented names: embeddings.*, layers.<i>.* (PyTorch's names), norm.*, head.*."""
    d, p, ch = init["d_model"], init["patch_size"], init["channels"]
    state = _emb_state(g, "state.embeddings.", ch, p, (init["image_size"] // p) ** 2, d)
    for i in range(init["n_layers"]):
        for name, value in _encoder_layer(d, init["n_heads"], init["d_ff"]).state_dict().items():
            if "norm" in name:
                draw = 1 + 0.3 * torch.randn(value.shape, generator=g) if name.endswith("weight") else \
                    0.3 * torch.randn(value.shape, generator=g)
            elif value.dim() == 2:
                draw = torch.randn(value.shape, generator=g) / math.sqrt(value.size(1))
            else:
                draw = torch.randn(value.shape, generator=g) * 0.3
            state[f"state.layers.{i}.{name}"] = draw
    state.update({"state.norm.weight": 1 + 0.3 * torch.randn(d, generator=g), "state.norm.bias": 0.3 * torch.randn(d, generator=g),
                  "state.head.weight": torch.randn(init["n_classes"], d, generator=g) / math.sqrt(d),
                  "state.head.bias": torch.randn(init["n_classes"], generator=g) * 0.5})
    return state


def _vit_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    def case(label: str, b: int, channels: int, size: int, patch: int, d: int, heads: int, layers: int, classes: int) -> Case:
        init = {"image_size": size, "patch_size": patch, "channels": channels, "d_model": d, "n_heads": heads,
                "d_ff": 2 * d, "n_layers": layers, "n_classes": classes}
        t = {"images": torch.rand(b, channels, size, size, generator=g), **_vit_state(g, init)}
        return Case(label, t, Call(init=init, args=("images",),
                                   substitute={"ViTEmbeddings": standins.ViTEmbeddings, "patchify": standins.patchify}))

    if not hidden:
        return [case("digits, two layers", 3, 1, 8, 2, 16, 4, 2, 10), case("three channels, one layer", 2, 3, 8, 4, 8, 2, 1, 5),
                case("one image, three layers", 1, 1, 4, 2, 8, 1, 3, 3)]
    return [case("digits, two layers", 4, 1, 8, 2, 32, 4, 2, 10), case("three channels, one layer", 2, 3, 12, 4, 16, 4, 1, 7),
            case("one image, three layers", 1, 2, 6, 3, 8, 2, 3, 4)]


def _vit_ref(c: Case, pool: str = "cls", final_norm: bool = True) -> Outputs:
    """The reference: embeddings -> PyTorch's pre-norm encoder layers -> final LayerNorm -> head on token 0; or
    the head on another summary: "mean" (of all tokens), "patches" (mean of the patches) or "last" (the last token)."""
    init, state = c.call.init, _state(c)
    x = _embed(c.tensors["images"], _state(c, "state.embeddings."), init["patch_size"])
    with torch.no_grad():
        for i in range(init["n_layers"]):
            layer = _encoder_layer(init["d_model"], init["n_heads"], init["d_ff"]).eval()
            layer.load_state_dict({k.removeprefix(f"layers.{i}."): v for k, v in state.items() if k.startswith(f"layers.{i}.")})
            x = layer(x)
        if final_norm:
            x = F.layer_norm(x, (x.size(-1),), state["norm.weight"], state["norm.bias"])
        summary = {"cls": x[:, 0], "mean": x.mean(1), "patches": x[:, 1:].mean(1), "last": x[:, -1]}[pool]
        return [F.linear(summary, state["head.weight"], state["head.bias"])]


VIT = PartCheck(
    id="vit-classifier", target="ViT", kind="module", op="composite", outputs=["logits"],
    cases=_vit_cases, reference=_vit_ref,
    variants={
        "mean_pool": ("the head reads the mean of all tokens; ViT classifies from the [CLS] token alone (token 0)",
                      lambda c: _vit_ref(c, pool="mean")),
        "mean_patches": ("the head reads the mean of the patch tokens; ViT classifies from the [CLS] token (token 0)",
                         lambda c: _vit_ref(c, pool="patches")),
        "last_token": ("the head reads the last token; [CLS] is the first token (index 0)", lambda c: _vit_ref(c, pool="last")),
        "no_final_norm": ("the final LayerNorm (self.norm) is missing: pre-norm layers leave the residual stream "
                          "unnormalized, so normalize it before the head", lambda c: _vit_ref(c, final_norm=False)),
    })


# ---- cosine similarity of the position embeddings ---------------------------------------------------------------

def _sim_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    def case(label: str, n: int, d: int) -> Case:
        scale = torch.rand(1, 1 + n, 1, generator=g) * 3 + 0.2  # vectors of very different lengths
        return Case(label, {"pos_embed": torch.randn(1, 1 + n, d, generator=g) * scale}, Call(args=("pos_embed",)))

    if not hidden:
        return [case("a 4x4 grid", 16, 8), case("a 2x2 grid, wide vectors", 4, 32), case("more positions than features", 9, 4)]
    return [case("a 4x4 grid", 16, 16), case("a 2x2 grid, wide vectors", 4, 64), case("more positions than features", 16, 6)]


def _sim_ref(c: Case, cosine: bool = True, keep: slice = slice(1, None), axis: int = -1) -> Outputs:
    """The reference, or the mistakes: dot products, other positions kept (`keep`), normalized along `axis`."""
    pos = c.tensors["pos_embed"][0, keep]  # (N, d)
    if cosine:
        pos = F.normalize(pos, dim=axis)
    return [pos @ pos.T]


POSITION_SIMILARITY = PartCheck(
    id="position-similarity", target="position_similarity", kind="function", op="reduction", outputs=["similarity"],
    cases=_sim_cases, reference=_sim_ref,
    variants={
        "dot_product": ("these are dot products; cosine similarity divides each by the two vectors' lengths",
                        lambda c: _sim_ref(c, cosine=False)),
        "with_cls": ("the [CLS] position is included; compare the N patch positions only (drop index 0)",
                     lambda c: _sim_ref(c, keep=slice(None))),
        "drop_last": ("the last position is dropped instead of the first: [CLS] is position 0, so the patches are "
                      "positions 1 to N", lambda c: _sim_ref(c, keep=slice(None, -1))),
        "wrong_axis": ("the vectors are normalized over the positions; normalize each position's vector over its "
                       "features (the last axis)", lambda c: _sim_ref(c, axis=0)),
    })


# ---- the [CLS] attention map -------------------------------------------------------------------------------

def _att_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    def case(label: str, b: int, heads: int, side: int) -> Case:
        n = 1 + side * side
        weights = (torch.randn(b, heads, n, n, generator=g) * 2).softmax(-1)
        return Case(label, {"weights": weights}, Call(args=("weights",)))

    if not hidden:
        return [case("4 heads, a 4x4 grid", 2, 4, 4), case("one head", 1, 1, 3), case("a 2x2 grid", 3, 2, 2)]
    return [case("4 heads, a 4x4 grid", 3, 4, 4), case("one head", 2, 1, 4), case("a 2x2 grid", 2, 8, 2)]


def _att_ref(c: Case, row: bool = True, heads: str = "mean", keys: slice = slice(1, None),
             renormalize: str = "", transpose: bool = False) -> Outputs:
    """The reference: row 0 (the query [CLS]) over keys 1..N, averaged over the heads, as a row-major grid, NOT
    renormalized; or a mistake: the column instead of the row, the heads summed or only the first, other keys kept,
    the N weights renormalized to sum to 1 (after averaging the heads, or per head before), the grid transposed."""
    w = c.tensors["weights"]
    side = math.isqrt(w.size(-1) - 1)
    if renormalize == "per head":
        w = w / w[..., 1:].sum(-1, keepdim=True)  # only row 0's keys 1..N are kept below
    w = {"mean": w.mean(1), "sum": w.sum(1), "first": w[:, 0]}[heads]  # (B, 1+N, 1+N)
    cls = w[:, 0, keys] if row else w[:, keys, 0]  # (B, N)
    if renormalize == "after":
        cls = cls / cls.sum(-1, keepdim=True)
    grid = cls.reshape(-1, side, side)
    return [(grid.transpose(1, 2) if transpose else grid).clone()]


KEEP_SCALE = "; keep them as they are: they sum to 1 minus [CLS]'s attention to itself (key 0)"
CLS_ATTENTION = PartCheck(
    id="cls-attention", target="cls_attention", kind="function", op="reduction", outputs=["grid"],
    cases=_att_cases, reference=_att_ref,
    variants={
        "to_cls": ("this is how much each patch attends to [CLS] (column 0); take what [CLS] attends to: row 0, "
                   "the query [CLS] over the patch keys", lambda c: _att_ref(c, row=False)),
        "heads_summed": ("the heads are summed; average the heads' weights (their mean over the heads axis)",
                         lambda c: _att_ref(c, heads="sum")),
        "first_head": ("only the first head is used; average over all heads", lambda c: _att_ref(c, heads="first")),
        "renormalized": ("the N weights are renormalized to sum to 1 after averaging the heads" + KEEP_SCALE,
                         lambda c: _att_ref(c, renormalize="after")),
        "renormalized_per_head": ("the N weights are renormalized to sum to 1 in each head" + KEEP_SCALE,
                                  lambda c: _att_ref(c, renormalize="per head")),
        "last_key_dropped": ("the last key is dropped instead of the first: [CLS] is key 0, so the patches are keys 1 "
                             "to N", lambda c: _att_ref(c, keys=slice(None, -1))),
        "transposed": ("the grid is transposed: patch k lies in grid row k // √N, column k % √N (row-major, as "
                       "patchify numbers the patches); reshape the N weights to (√N, √N) without transposing",
                       lambda c: _att_ref(c, transpose=True)),
    })

SEQUENCE_LENGTH = ChoiceCheck(id="sequence-length", target="answer_sequence_length", options=["a", "b", "c", "d"])
WHY_POSITIONS = ChoiceCheck(id="why-positions", target="answer_why_positions", options=["a", "b", "c", "d"])

PARTS = [PATCHIFY, SEQUENCE_LENGTH, EMBEDDINGS, WHY_POSITIONS, VIT, POSITION_SIMILARITY, CLS_ATTENTION]

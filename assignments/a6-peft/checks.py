"""Checks of assignment 6: the LoRA layer, merging it, applying LoRA to a model by layer name, BitFit and counting
trainable parameters. Modules reach the student's code as small PyTorch models built by the protocol (Call.modules);
what a part changed comes back as reports (Call.reports): outputs, weights, zero flags and the trainable parameters.
Expected outputs are the reference's, run through the same protocol."""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from reference_impl.bitfit import apply_bitfit
from reference_impl.lora import LoRALinear, apply_lora
from reference_impl.parameters import count_parameters

from autograder.coursekit.protocol import build_module, invoke
from autograder.grading.parts import Call, Case, ChoiceCheck, Outputs, PartCheck

from . import standins


def _run(target: Any, kind: str, c: Case) -> Outputs:
    """What `target` answers on case `c`, read through the protocol exactly as the student's answer is."""
    return invoke(target, kind, c.tensors, c.call.to_wire())


# ---- the LoRA layer --------------------------------------------------------------------------------------------

LORA_REPORTS = ("zero:self.lora_A", "zero:self.lora_B", "trainable:self")


def _lora_case(g: torch.Generator, label: str, shape: tuple[int, ...], d_out: int, r: int, alpha: float, fresh: bool,
               methods: tuple[str, ...] = (), reports: tuple[str, ...] = LORA_REPORTS,
               attributes: dict[str, Any] | None = None, frozen_base: bool = False) -> Case:
    d_in = shape[-1]
    weight, bias = torch.randn(d_out, d_in, generator=g) / math.sqrt(d_in), torch.randn(d_out, generator=g) * 0.5
    t = {"x": torch.randn(shape, generator=g)}
    if fresh:  # the layer as its constructor made it: only the base layer has weights
        t.update({"base.weight": weight, "base.bias": bias})
    else:  # a trained layer: B is no longer zero
        t.update({"state.base.weight": weight, "state.base.bias": bias, "state.lora_A": torch.randn(r, d_in, generator=g),
                  "state.lora_B": torch.randn(d_out, r, generator=g) * 0.5})
    base = {"base": {"layers": {"": ["Linear", d_in, d_out]}, **({"frozen": ["weight", "bias"]} if frozen_base else {})}}
    return Case(label, t, Call(args=("x",), init={"r": r, "alpha": alpha}, modules=base, load_state=not fresh,
                               attributes=attributes or {}, methods=methods, reports=reports))


def _lora_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    """alpha / r, r / alpha and 1 always differ, so each scaling mistake shows; in one case the grader sets
    `scaling` to yet another value, which the forward must use rather than alpha / r."""
    if not hidden:
        return [_lora_case(g, "a new layer computes what its base layer computes", (3, 8), 5, 4, 8.0, fresh=True),
                _lora_case(g, "trained A and B", (4, 6), 3, 2, 8.0, fresh=False),
                _lora_case(g, "3-D input, rank 1", (2, 3, 4), 6, 1, 3.0, fresh=False),
                _lora_case(g, "scaling set by the grader", (3, 6), 4, 2, 4.0, fresh=False, attributes={"scaling": 0.75})]
    return [_lora_case(g, "a new layer computes what its base layer computes", (5, 12), 7, 3, 12.0, fresh=True),
            _lora_case(g, "trained A and B", (6, 10), 8, 4, 2.0, fresh=False),
            _lora_case(g, "3-D input, rank 1", (3, 4, 6), 5, 1, 4.0, fresh=False),
            _lora_case(g, "scaling set by the grader", (4, 8), 6, 4, 2.0, fresh=False, attributes={"scaling": 1.25})]


def _variant(**changes: Any) -> type[LoRALinear]:
    """The reference layer with one typical mistake: another scaling, other starting values, an unfrozen base."""
    class Mistake(LoRALinear):
        def __init__(self, base: torch.nn.Linear, r: int, alpha: float) -> None:
            super().__init__(base, r, alpha)
            self.scaling = changes.get("scaling", lambda r, alpha: alpha / r)(r, alpha)
            self.alpha_over_r = alpha / r  # what a forward that recomputes the scaling uses
            with torch.no_grad():
                if changes.get("a_zero"):
                    self.lora_A.zero_()
                if changes.get("b_random"):
                    self.lora_B.normal_()
            if changes.get("base_trainable"):
                base.requires_grad_(True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if changes.get("ignores_merged"):
                return self.base(x) + F.linear(F.linear(x, self.lora_A), self.lora_B) * self.scaling
            if changes.get("recomputes") and not self.merged:
                return self.base(x) + F.linear(F.linear(x, self.lora_A), self.lora_B) * self.alpha_over_r
            return super().forward(x)
    return Mistake


LORA_LINEAR = PartCheck(
    id="lora-linear", target="LoRALinear", kind="module", op="composite",
    outputs=["output", "whether lora_A is all zeros", "whether lora_B is all zeros", "trainable parameters"],
    cases=_lora_cases, reference=lambda c: _run(LoRALinear, "module", c),
    variants={
        "scaling_inverted": ("the update is scaled by r / alpha; LoRA scales B A x by alpha / r",
                             lambda c: _run(_variant(scaling=lambda r, alpha: r / alpha), "module", c)),
        "no_scaling": ("the update B A x is not scaled; multiply it by alpha / r",
                       lambda c: _run(_variant(scaling=lambda r, alpha: 1.0), "module", c)),
        "recomputes_scaling": ("the forward scales by alpha / r computed again, not by self.scaling; the grader sets "
                               "scaling itself, so always use self.scaling",
                               lambda c: _run(_variant(recomputes=True), "module", c)),
        "swapped_init": ("A starts at zero and B at random values; it is the other way round: B = 0 makes the new "
                         "layer equal its base, and a random A lets the gradient reach B",
                         lambda c: _run(_variant(a_zero=True, b_random=True), "module", c)),
        "both_zero": ("A and B both start at zero: then neither ever gets a gradient; start A at random values",
                      lambda c: _run(_variant(a_zero=True), "module", c)),
        "base_trainable": ("the base layer's weight and bias are still trainable; freeze them (requires_grad_(False))",
                           lambda c: _run(_variant(base_trainable=True), "module", c)),
    })


# ---- merging ----------------------------------------------------------------------------------------------------

MERGE_REPORTS = ("state:self.base.weight", "trainable:self")


def _merge_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    """The output, base.weight and the trainable parameters after the methods, with `scaling` and the base layer's
    freezing set by the grader: merging is graded apart from the constructor. A layer that ends unmerged computes
    its update with scaling = alpha / r = 1, so that no mistake of the LoRA layer's forward costs this part; one
    that ends merged computes with its base layer alone (how the forward treats `merged` is graded here)."""
    def case(label: str, shape: tuple[int, ...], d_out: int, r: int, alpha: float, methods: tuple[str, ...] = (),
             scaling: float | None = None, merged: bool = False) -> Case:
        attributes = {"scaling": alpha / r if scaling is None else scaling, **({"merged": True} if merged else {})}
        return _lora_case(g, label, shape, d_out, r, alpha, fresh=False, methods=methods, reports=MERGE_REPORTS,
                          attributes=attributes, frozen_base=True)

    once, both, twice = ("merge",), ("merge", "unmerge"), ("merge", "merge", "unmerge")
    if not hidden:
        return [case("after merge()", (3, 8), 5, 4, 8.0, once), case("after merge(), rank 1", (2, 3, 4), 6, 1, 3.0, once),
                case("after merge(), scaling set by the grader", (3, 6), 4, 2, 6.0, once, scaling=0.75),
                case("after merge() and unmerge()", (4, 6), 3, 2, 2.0, both),
                case("merge() twice, then unmerge()", (3, 5), 4, 3, 3.0, twice),
                case("while merged, the base layer alone", (3, 6), 4, 2, 4.0, merged=True)]
    return [case("after merge()", (5, 12), 7, 3, 12.0, once), case("after merge(), rank 1", (3, 4, 6), 5, 1, 4.0, once),
            case("after merge(), scaling set by the grader", (4, 8), 6, 4, 2.0, once, scaling=1.25),
            case("after merge() and unmerge()", (6, 10), 8, 4, 4.0, both),
            case("merge() twice, then unmerge()", (4, 7), 5, 2, 2.0, twice),
            case("while merged, the base layer alone", (4, 8), 6, 4, 2.0, merged=True)]


def _merge_variant(**changes: Any) -> type[LoRALinear]:
    """The reference layer with one mistake of merge, unmerge, or of the forward while merged."""
    class Mistake(LoRALinear):
        def __init__(self, base: torch.nn.Linear, r: int, alpha: float) -> None:
            super().__init__(base, r, alpha)
            self.alpha_over_r = alpha / r

        def delta(self) -> torch.Tensor:
            if changes.get("unscaled"):
                return self.lora_B @ self.lora_A
            return self.lora_B @ self.lora_A * (self.alpha_over_r if changes.get("recomputes") else self.scaling)

        def merge(self) -> None:
            if self.merged and not changes.get("no_guard"):
                return
            with torch.no_grad():
                if changes.get("new_parameter"):
                    self.base.weight = torch.nn.Parameter(self.base.weight + self.delta())
                elif not changes.get("noop"):
                    self.base.weight += self.delta()
            self.merged = not changes.get("no_flag")

        def unmerge(self) -> None:
            if not self.merged:
                return
            if not changes.get("unmerge_keeps"):
                with torch.no_grad():
                    self.base.weight -= self.delta()
            self.merged = False

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if changes.get("ignores_merged"):
                return self.base(x) + F.linear(F.linear(x, self.lora_A), self.lora_B) * self.scaling
            return super().forward(x)
    return Mistake


def _merge_mistake(message: str, **changes: Any) -> tuple[str, Any]:
    return message, lambda c: _run(_merge_variant(**changes), "module", c)


LORA_MERGE = PartCheck(
    id="lora-merge", target="LoRALinear", kind="module", op="composite",
    outputs=["output", "base.weight", "trainable parameters"],
    cases=_merge_cases, reference=lambda c: _run(LoRALinear, "module", c),
    variants={
        "merge_unscaled": _merge_mistake("merge() adds B A without the scaling alpha / r, so the merged layer "
                                         "computes something else", unscaled=True),
        "merge_recomputes": _merge_mistake("merge() scales B A by alpha / r computed again, not by self.scaling; the "
                                           "grader sets scaling itself, so always use self.scaling", recomputes=True),
        "unmerge_keeps": _merge_mistake("unmerge() does not restore the base weight; subtract the same scaled B A "
                                        "that merge() added", unmerge_keeps=True),
        "merge_noop": _merge_mistake("merge() leaves base.weight unchanged; add the scaled update (alpha / r) B A to "
                                     "it in place", noop=True),
        "merge_twice": _merge_mistake("a second merge() adds the update again; while self.merged is True, merge() "
                                      "must do nothing", no_guard=True),
        "no_flag": _merge_mistake("after merge() the forward still adds the update, now counted twice: merge() must "
                                  "set self.merged = True", no_flag=True),
        "new_parameter": _merge_mistake("merge() replaces base.weight by a new nn.Parameter, which trains; change the "
                                        "existing weight in place (+= under torch.no_grad())", new_parameter=True),
        "adds_after_merge": _merge_mistake("while merged, the forward still adds the LoRA update, which is then counted "
                                           "twice; once merged, the base layer alone computes the output",
                                           ignores_merged=True),
    })


# ---- applying LoRA to a model by layer name -------------------------------------------------------------------------

def _block_layout(n_blocks: int, d: int, kq_norm: bool = False) -> dict[str, Any]:
    """A decoder-like model: self-attention (q, k, v, proj), a cross-attention named as some libraries name it
    (to_q, to_kv), an MLP (fc, proj), LayerNorms (also one per attention, "norm", when kq_norm), an embedding."""
    layers: dict[str, list[Any]] = {"tokens": ["Embedding", 11, d]}
    for i in range(n_blocks):
        p = f"blocks.{i}"
        layers.update({f"{p}.ln1": ["LayerNorm", d], **{f"{p}.attn.{n}": ["Linear", d, d] for n in ("q", "k", "v", "proj")},
                       f"{p}.cross.to_q": ["Linear", d, d], f"{p}.cross.to_kv": ["Linear", d, 2 * d],
                       f"{p}.ln2": ["LayerNorm", d], f"{p}.mlp.fc": ["Linear", d, 2 * d], f"{p}.mlp.proj": ["Linear", 2 * d, d]})
        if kq_norm:
            layers[f"{p}.attn.norm"] = ["LayerNorm", d]
    layers["head"] = ["LinearNoBias", d, 11]
    return {"layers": layers}


def _apply_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    """Each model comes with its pretrained weights; besides what trains, one wrapped layer (which every known
    mistake wraps too) must keep its pretrained weight, not a new Linear's."""
    def case(label: str, layout: dict[str, Any], targets: list[str], r: int, alpha: float, wrapped: str) -> Case:
        with torch.random.fork_rng():  # the shapes only: PyTorch's default initialization draws from the global RNG
            shapes = {k: v.shape for k, v in build_module(layout, {}).state_dict().items()}
        tensors = {f"model.{k}": torch.randn(shape, generator=g) for k, shape in shapes.items()}
        return Case(label, tensors, Call(modules={"model": layout}, options={"targets": targets, "r": r, "alpha": alpha},
                                         returns="none", reports=("trainable:model", f"state:model.{wrapped}.base.weight"),
                                         substitute={"LoRALinear": standins.LoRALinear}))

    def named_like_targets(d: int, n: int) -> dict[str, Any]:
        """The Embedding "lookup.q" is named like the target "q"; both targets are bias-free, "out" at the top level."""
        return {"layers": {"lookup.q": ["Embedding", n, d], "attn.q": ["LinearNoBias", d, d], "attn.v": ["Linear", d, d],
                           "out": ["LinearNoBias", d, n]}}

    odd = "bias-free and top-level targets, an Embedding named like one"
    if not hidden:
        return [case("queries and values", _block_layout(1, 4), ["q", "v"], 2, 4.0, "blocks.0.attn.v"),
                case("a dotted target", _block_layout(2, 4), ["attn.proj", "fc"], 1, 2.0, "blocks.1.mlp.fc"),
                case("a target that also names a LayerNorm", _block_layout(1, 6, kq_norm=True), ["norm", "proj"], 2, 2.0,
                     "blocks.0.attn.proj"),
                case(odd, named_like_targets(4, 7), ["q", "out"], 2, 4.0, "out")]
    return [case("queries and values", _block_layout(2, 6), ["q", "v"], 3, 6.0, "blocks.1.attn.v"),
            case("a dotted target", _block_layout(1, 8), ["attn.proj", "fc"], 4, 8.0, "blocks.0.mlp.fc"),
            case("a target that also names a LayerNorm", _block_layout(2, 4, kq_norm=True), ["norm", "proj"], 1, 1.0,
                 "blocks.1.mlp.proj"),
            case(odd, named_like_targets(6, 9), ["q", "out"], 3, 3.0, "out")]


def _apply_variant(match: str = "suffix", freeze: bool = True):
    """apply_lora with another rule for choosing layers by name, or without freezing the rest of the model."""
    rules = {"substring": lambda name, t: t in name, "last": lambda name, t: name.rsplit(".", 1)[-1] == t}

    def apply(model: torch.nn.Module, targets: list[str], r: int, alpha: float) -> torch.nn.Module:
        if match == "suffix" and freeze:
            return apply_lora(model, targets, r, alpha)
        rule = rules.get(match, lambda name, t: name == t or name.endswith("." + t))
        if freeze:
            model.requires_grad_(False)
        for name, module in list(model.named_modules()):
            if isinstance(module, torch.nn.Linear) and any(rule(name, t) for t in targets):
                parent, _, child = name.rpartition(".")
                setattr(model.get_submodule(parent), child, LoRALinear(module, r, alpha))
        return model
    return apply


APPLY_LORA = PartCheck(
    id="apply-lora", target="apply_lora", kind="function", op="elementwise",
    outputs=["trainable parameters", "the wrapped layer's base.weight"],
    cases=_apply_cases, reference=lambda c: _run(_apply_variant(), "function", c),
    variants={
        "substring": ("a layer is chosen when a target occurs anywhere in its name (\"q\" also picked \"cross.to_q\"); "
                      "choose it only when its name is the target or ends with \".\" + target",
                      lambda c: _run(_apply_variant(match="substring"), "function", c)),
        "last_name_only": ("only the last part of each layer's name is compared, so a dotted target such as "
                           "\"attn.proj\" picks nothing; compare the end of the full name (ends with \".\" + target)",
                           lambda c: _run(_apply_variant(match="last"), "function", c)),
        "not_frozen": ("the rest of the model is still trainable; freeze every parameter first, so that only the "
                       "LoRA matrices train", lambda c: _run(_apply_variant(freeze=False), "function", c)),
    })


# ---- BitFit -------------------------------------------------------------------------------------------------------

def _bitfit_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    def case(label: str, layout: dict[str, Any]) -> Case:
        return Case(label, {}, Call(modules={"model": layout}, returns="none", reports=("trainable:model",)))

    def named_bias(d: int) -> dict[str, Any]:  # a Linear layer whose name contains "bias"
        layout = _block_layout(1, d)
        return {"layers": {**layout["layers"], "blocks.0.bias_proj": ["Linear", d, d]}}

    if not hidden:
        return [case("a decoder block", _block_layout(1, 4)),
                case("a model with frozen parts", {**_block_layout(2, 4), "frozen": ["blocks.0.mlp.fc.bias", "tokens.weight"]}),
                case("a layer whose name contains bias", named_bias(4))]
    return [case("a decoder block", _block_layout(2, 6)),
            case("a model with frozen parts", {**_block_layout(1, 8), "frozen": ["blocks.0.attn.q.bias", "head.weight"]}),
            case("a layer whose name contains bias", named_bias(6))]


def _bitfit_variant(rule: str):
    def apply(model: torch.nn.Module) -> torch.nn.Module:
        for name, p in model.named_parameters():
            if rule == "one_dim":
                p.requires_grad_(p.dim() == 1)
            elif rule == "substring":
                p.requires_grad_("bias" in name)
            elif name.rsplit(".", 1)[-1] == "bias":  # "no_freeze": biases switched on, nothing switched off
                p.requires_grad_(True)
        return model
    return apply


BITFIT = PartCheck(
    id="bitfit", target="apply_bitfit", kind="function", op="elementwise", outputs=["trainable parameters"],
    cases=_bitfit_cases, reference=lambda c: _run(apply_bitfit, "function", c),
    variants={
        "one_dim": ("every 1-D parameter trains, LayerNorm weights included; BitFit trains the parameters named bias only",
                    lambda c: _run(_bitfit_variant("one_dim"), "function", c)),
        "no_freeze": ("the biases train but so does everything else; freeze every parameter that is not a bias",
                      lambda c: _run(_bitfit_variant("no_freeze"), "function", c)),
        "substring": ("a parameter trains when \"bias\" occurs anywhere in its name, so bias_proj.weight trains too; "
                      "compare the part after the last dot with \"bias\"",
                      lambda c: _run(_bitfit_variant("substring"), "function", c)),
    })


# ---- counting parameters ------------------------------------------------------------------------------------------

def _count_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    """Every model ties its output layer to its embedding; some parts are frozen (the tied matrix too, in one case)."""
    def case(label: str, n_blocks: int, d: int, trainable_only: bool, frozen: list[str]) -> Case:
        layout = {**_block_layout(n_blocks, d), "tied": {"head.weight": "tokens.weight"}, "frozen": frozen}
        return Case(label, {}, Call(modules={"model": layout}, options={"trainable_only": trainable_only}, returns="ints"))

    if not hidden:
        return [case("all parameters", 1, 4, False, ["blocks.0.attn.q.weight"]),
                case("trainable only", 1, 6, True, ["blocks.0.attn.q.weight", "blocks.0.ln1.bias"]),
                case("trainable only, tied matrix frozen", 2, 4, True, ["tokens.weight", "blocks.1.mlp.fc.weight"])]
    return [case("all parameters", 2, 6, False, ["blocks.1.attn.k.weight"]),
            case("trainable only", 2, 4, True, ["blocks.0.mlp.proj.weight", "blocks.1.ln2.weight"]),
            case("trainable only, tied matrix frozen", 1, 8, True, ["tokens.weight", "blocks.0.attn.v.bias"])]


def _count_variant(ignore_flag: bool = False, tied_twice: bool = False):
    def count(model: torch.nn.Module, trainable_only: bool = False) -> int:
        params = model.named_parameters(remove_duplicate=not tied_twice)
        return sum(p.numel() for _, p in params if p.requires_grad or not trainable_only or ignore_flag)
    return count


COUNT = PartCheck(
    id="count-parameters", target="count_parameters", kind="function", op="elementwise", outputs=["count"],
    cases=_count_cases, reference=lambda c: _run(count_parameters, "function", c),
    variants={
        "ignores_flag": ("with trainable_only=True the frozen parameters are counted too; count only those with "
                         "requires_grad", lambda c: _run(_count_variant(ignore_flag=True), "function", c)),
        "tied_twice": ("a tied matrix is counted twice (once per name); count each parameter object once, as "
                       "model.parameters() does", lambda c: _run(_count_variant(tied_twice=True), "function", c)),
    })

LORA_SIZE = ChoiceCheck(id="lora-size", target="answer_lora_size", options=["a", "b", "c", "d"])
WHY_B_ZERO = ChoiceCheck(id="why-b-zero", target="answer_why_b_zero", options=["a", "b", "c", "d"])

PARTS = [LORA_LINEAR, LORA_SIZE, LORA_MERGE, APPLY_LORA, BITFIT, COUNT, WHY_B_ZERO]

"""Checks of assignment 9: the projector, the LLaVA-style input sequence, the caption loss, greedy captioning and
UniT's task-query decoder. Each lists the mistakes students typically make, as variants."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from reference_impl.multimodal_parts import Projector, TaskDecoder, caption_loss, greedy_caption, lm_input

from autograder.coursekit.protocol import build_module
from autograder.grading.parts import Call, Case, ChoiceCheck, Outputs, PartCheck

NOT_APPLICABLE: Outputs = [torch.empty(0)]  # a mistake that cannot be written for this case (it would raise)


def _state(c: Case, prefix: str = "state.") -> dict[str, torch.Tensor]:
    return {k.removeprefix(prefix): v for k, v in c.tensors.items() if k.startswith(prefix)}


def _linear(g: torch.Generator, name: str, d_in: int, d_out: int) -> dict[str, torch.Tensor]:
    return {f"{name}.weight": torch.randn(d_out, d_in, generator=g) / math.sqrt(d_in),
            f"{name}.bias": torch.randn(d_out, generator=g) * 0.5}


def _shows(check: PartCheck, c: Case, keys: tuple[str, ...]) -> bool:
    """Whether each of the named mistakes gives another answer than the reference on this case."""
    expected = check.reference(c)
    return all(any(v.shape != e.shape or not torch.equal(v, e) for v, e in zip(check.variants[k][1](c), expected))
               for k in keys)


# ---- the projector ---------------------------------------------------------------------------------------------

def _projector_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    def case(label: str, shape: tuple[int, ...], d_model: int) -> Case:
        d_vision = shape[-1]
        t = {"features": torch.randn(shape, generator=g), **_linear(g, "state.fc1", d_vision, d_model),
             **_linear(g, "state.fc2", d_model, d_model)}
        return Case(label, t, Call(init={"d_vision": d_vision, "d_model": d_model}, args=("features",)))

    if not hidden:
        return [case("a batch of image features", (2, 5, 8), 6), case("one image, one vector", (1, 1, 4), 8),
                case("2-D features", (3, 6), 12)]
    return [case("a batch of image features", (3, 17, 16), 12), case("one image, one vector", (1, 1, 8), 4),
            case("2-D features", (5, 10), 6)]


def _projector_ref(c: Case, activation=F.gelu, on_output: bool = False) -> Outputs:
    m = Projector(c.call.init["d_vision"], c.call.init["d_model"])
    m.load_state_dict(_state(c))
    with torch.no_grad():
        out = m.fc2(activation(m.fc1(c.tensors["features"])))
    return [F.gelu(out) if on_output else out]


PROJECTOR = PartCheck(
    id="projector", target="Projector", kind="module", op="composite", outputs=["visual tokens"],
    cases=_projector_cases, reference=_projector_ref,
    variants={
        "no_activation": ("there is no GELU between fc1 and fc2: without it the two layers collapse into one linear map",
                          lambda c: _projector_ref(c, activation=lambda x: x)),
        "gelu_on_output": ("a GELU is applied after fc2 too; only the hidden layer has one (the LM's input vectors "
                           "may be negative)", lambda c: _projector_ref(c, on_output=True)),
        "relu": ("the activation is ReLU; the projector uses GELU (F.gelu)", lambda c: _projector_ref(c, activation=F.relu)),
        "tanh_gelu": ("the GELU is the tanh approximation (approximate='tanh'); use the exact one, F.gelu's default",
                      lambda c: _projector_ref(c, activation=lambda x: F.gelu(x, approximate="tanh"))),
    })


# ---- the LM's input sequence ------------------------------------------------------------------------------------

def _lm_input_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    def case(label: str, b: int, n: int, t: int, d_vision: int, d_model: int, vocab: int) -> Case:
        tensors = {"features": torch.randn(b, n, d_vision, generator=g), "text": torch.randint(vocab, (b, t), generator=g),
                   **_linear(g, "projector", d_vision, d_model), "embed.weight": torch.randn(vocab, d_model, generator=g)}
        layout = {"projector": {"layers": {"": ["Linear", d_vision, d_model]}},
                  "embed": {"layers": {"": ["Embedding", vocab, d_model]}}}
        return Case(label, tensors, Call(args=("features", "text"), modules=layout))

    if not hidden:
        return [case("image and LM widths differ", 2, 5, 4, 8, 6, 12), case("same widths", 2, 3, 5, 6, 6, 10),
                case("one visual token, one text token", 1, 1, 1, 4, 4, 7)]
    return [case("image and LM widths differ", 3, 17, 7, 16, 12, 20), case("same widths", 2, 5, 3, 8, 8, 9),
            case("one visual token, one text token", 2, 1, 1, 6, 6, 5)]


def _lm_input_ref(c: Case, text_first: bool = False, projected: bool = True) -> Outputs:
    t = c.tensors
    projector = build_module({"layers": {"": ["Linear", *t["projector.weight"].T.shape]}}, _state(c, "projector."))
    embed = build_module({"layers": {"": ["Embedding", *t["embed.weight"].shape]}}, _state(c, "embed."))
    with torch.no_grad():
        if not projected:
            if t["features"].size(-1) != t["embed.weight"].size(-1):
                return NOT_APPLICABLE
            return [torch.cat([t["features"], embed(t["text"])], dim=1)]
        if text_first:
            return [torch.cat([embed(t["text"]), projector(t["features"])], dim=1)]
        return [lm_input(t["features"], t["text"], projector, embed)]


LM_INPUT = PartCheck(
    id="lm-input", target="lm_input", kind="function", op="composite", outputs=["LM input"],
    cases=_lm_input_cases, reference=_lm_input_ref,
    variants={
        "text_first": ("the text comes before the visual tokens; in a causal LM the image must come first, so that every "
                       "text token can attend to it", lambda c: _lm_input_ref(c, text_first=True)),
        "not_projected": ("the image features are not projected: pass them through projector, which maps them into "
                          "the LM's embedding space", lambda c: _lm_input_ref(c, projected=False)),
    })


# ---- the caption loss --------------------------------------------------------------------------------------------

def _loss_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    def case(label: str, b: int, n_visual: int, t: int, vocab: int, pad_id: int, padded: bool) -> Case:
        captions = torch.randint(pad_id + 1, vocab, (b, t), generator=g)
        if padded:  # every row but the first ends in padding of its own length
            for row in range(1, b):
                captions[row, t - 1 - row % (t - 2):] = pad_id
        logits = torch.randn(b, n_visual + t, vocab, generator=g) * 2
        return Case(label, {"logits": logits, "captions": captions},
                    Call(args=("logits", "captions"), options={"n_visual": n_visual, "pad_id": pad_id}))

    if not hidden:
        return [case("padded captions", 3, 5, 6, 11, 0, True), case("captions of one length", 2, 3, 5, 9, 0, False),
                case("one visual token, another pad id", 3, 1, 4, 8, 3, True)]
    return [case("padded captions", 4, 17, 7, 20, 0, True), case("captions of one length", 3, 5, 8, 12, 0, False),
            case("one visual token, another pad id", 2, 1, 6, 10, 2, True)]


def _loss_ref(c: Case, where: str = "text", ignore_pad: bool = True) -> Outputs:
    logits, captions, o = c.tensors["logits"], c.tensors["captions"], c.call.options
    n, t = o["n_visual"], captions.size(1)
    if where == "text" and ignore_pad:
        return [caption_loss(logits, captions, n, o["pad_id"])]
    pick, targets = {"text": (logits[:, n:-1], captions[:, 1:]), "unshifted": (logits[:, n:], captions),
                     "from_last_visual": (logits[:, n - 1:-1], captions),
                     "visual": (logits[:, :t - 1], captions[:, 1:])}[where]
    return [F.cross_entropy(pick.flatten(0, 1), targets.flatten(), ignore_index=o["pad_id"] if ignore_pad else -100)]


CAPTION_LOSS = PartCheck(
    id="caption-loss", target="caption_loss", kind="function", op="reduction", outputs=["loss"],
    cases=_loss_cases, reference=_loss_ref,
    variants={
        "unshifted": ("the targets are not shifted: position n_visual + t must predict the next token captions[:, t + 1], "
                      "not the token it reads", lambda c: _loss_ref(c, where="unshifted")),
        "visual_positions": ("the loss is taken on the visual positions: the caption's logits start after the "
                             "n_visual visual tokens (logits[:, n_visual:])", lambda c: _loss_ref(c, where="visual")),
        "from_last_visual": ("the last visual token is made to predict <bos>: the image is context, never a target; the "
                             "first target is the token after <bos>", lambda c: _loss_ref(c, where="from_last_visual")),
        "padding_counted": ("padding is counted in the loss: pass ignore_index=pad_id", lambda c: _loss_ref(c, ignore_pad=False)),
    })


# ---- greedy captioning ----------------------------------------------------------------------------------------------

def _greedy_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    """A toy LLaVA: a linear "vision encoder" on (B, N, P) patch vectors, a linear projector, an embedding and a
    linear "LM" (per position). Drawn until every mistake gives another caption than the reference."""
    def case(label: str, b: int, n: int, p: int, d_vision: int, d: int, vocab: int, bos: int, max_len: int) -> Case:
        layout = {"layers": {"vision": ["Linear", p, d_vision], "projector": ["Linear", d_vision, d],
                             "embed": ["Embedding", vocab, d], "lm": ["Linear", d, vocab]}}
        for _ in range(1000):
            t = {"images": torch.rand(b, n, p, generator=g), **_linear(g, "model.vision", p, d_vision),
                 **_linear(g, "model.projector", d_vision, d), "model.embed.weight": torch.randn(vocab, d, generator=g),
                 **_linear(g, "model.lm", d, vocab)}
            c = Case(label, t, Call(tensor_options={"images": "images"}, options={"bos_id": bos, "max_len": max_len}, modules={"model": layout}))
            if _shows(GREEDY, c, tuple(GREEDY.variants)):
                return c
        raise RuntimeError(f"no draw for {label!r} tells every mistake apart")

    if not hidden:
        return [case("a batch of images", 3, 4, 6, 8, 8, 10, 1, 5), case("one image, another BOS id", 1, 5, 4, 6, 8, 9, 3, 4),
                case("max_len 2", 2, 2, 4, 4, 6, 7, 1, 2)]
    return [case("a batch of images", 4, 5, 8, 12, 10, 15, 1, 6), case("one image, another BOS id", 1, 3, 6, 8, 6, 11, 4, 5),
            case("max_len 2", 3, 4, 5, 6, 8, 9, 1, 2)]


def _greedy_ref(c: Case, keep_bos: bool = False, feed_back: bool = True, position: int = -1) -> Outputs:
    model = build_module(c.call.modules["model"], _state(c, "model."))
    o, images = c.call.options, c.tensors["images"]
    if feed_back and position == -1:
        out = greedy_caption(model, images, o["bos_id"], o["max_len"])
        return [torch.cat([torch.full_like(out[:, :1], o["bos_id"]), out], dim=1) if keep_bos else out]
    with torch.no_grad():
        visual = model.projector(model.vision(images))
        text = torch.full((images.size(0), 1), o["bos_id"], dtype=torch.long)
        out = []
        for _ in range(o["max_len"]):
            logits = model.lm(torch.cat([visual, model.embed(text)], dim=1))
            out.append(logits[:, position].argmax(-1, keepdim=True))
            if feed_back:
                text = torch.cat([text, out[-1]], dim=1)
    return [torch.cat(out, dim=1)]


GREEDY = PartCheck(
    id="greedy-caption", target="greedy_caption", kind="function", op="elementwise", outputs=["caption tokens"],
    cases=_greedy_cases, reference=_greedy_ref,
    variants={
        "keeps_bos": ("the captions start with BOS; return only the max_len generated tokens", lambda c: _greedy_ref(c, keep_bos=True)),
        "no_feedback": ("every step predicts from the same input: append each step's argmax to the text and feed it "
                        "back, so that the next step reads it", lambda c: _greedy_ref(c, feed_back=False)),
        "first_position": ("the next token is read from the logits of the first position; it is the last position's "
                           "(logits[:, -1]) that predicts the next token", lambda c: _greedy_ref(c, position=0)),
    })


# ---- UniT's task-query decoder --------------------------------------------------------------------------------------

def _draw_state(g: torch.Generator, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Fresh weights for every entry of a module's state: weights scaled by their fan-in, norms near 1."""
    state = {}
    for name, value in module.state_dict().items():
        if "norm" in name and name.endswith("weight"):
            state[name] = 1 + 0.3 * torch.randn(value.shape, generator=g)
        elif name.endswith("bias"):
            state[name] = 0.3 * torch.randn(value.shape, generator=g)
        elif name == "queries":
            state[name] = torch.randn(value.shape, generator=g)
        else:
            state[name] = torch.randn(value.shape, generator=g) / math.sqrt(value.size(-1))
    return state


def _decoder_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    def case(label: str, b: int, n: int, t: int, d: int, heads: int, layers: int, queries: int, classes: list[int],
             task: int) -> Case:
        init = {"d_model": d, "n_heads": heads, "n_layers": layers, "n_queries": queries, "n_classes": classes}
        state = _draw_state(g, TaskDecoder(**init))
        padding = torch.zeros(b, t, dtype=torch.bool)
        for row in range(b):  # each row's text ends in padding of its own length (the first row: none)
            padding[row, t - row % (t - 1):] = row > 0
        tensors = {"image_memory": torch.randn(b, n, d, generator=g), "text_memory": torch.randn(b, t, d, generator=g),
                   "text_padding": padding, **{f"state.{k}": v for k, v in state.items()}}
        return Case(label, tensors, Call(init=init, args=("image_memory", "text_memory", "text_padding"),
                                         options={"task": task}))

    if not hidden:
        return [case("first task", 2, 5, 4, 8, 2, 1, 3, [10, 2], 0), case("second task, padded text", 3, 5, 6, 8, 2, 2, 3, [10, 2], 1),
                case("three tasks of one size", 3, 3, 4, 16, 4, 1, 2, [4, 4, 4], 2)]
    return [case("first task", 3, 17, 6, 16, 4, 2, 4, [10, 2], 0),
            case("second task, padded text", 4, 5, 7, 16, 2, 1, 4, [10, 2], 1),
            case("three tasks of one size", 2, 4, 5, 8, 1, 2, 3, [3, 3, 3], 1)]


def _decoder_ref(c: Case, query_task: int | None = None, head_task: int | None = None, read: str = "first",
                 text: bool = True, mask: str = "padding", causal: bool = False) -> Outputs:
    """The reference, or one mistake: another task's queries or head, another query read, no text in the memory,
    a memory mask that is "none", "inverted" (True at every token to attend) or "text_inverted" (text_padding
    negated), or a causal mask among the queries."""
    m = TaskDecoder(**c.call.init)
    m.load_state_dict(_state(c))
    t, task = c.tensors, c.call.options["task"]
    if query_task is None and head_task is None and read == "first" and text and mask == "padding" and not causal:
        with torch.no_grad():
            return [m(t["image_memory"], t["text_memory"], t["text_padding"], task)]
    head = m.heads[task if head_task is None else head_task]
    if head.out_features != m.heads[task].out_features:
        return NOT_APPLICABLE
    with torch.no_grad():
        text_padding = ~t["text_padding"] if mask == "text_inverted" else t["text_padding"]
        if text:
            memory, hidden = m.memory(t["image_memory"], t["text_memory"], text_padding)
        else:
            memory, hidden = t["image_memory"], torch.zeros(t["image_memory"].shape[:2], dtype=torch.bool)
        hidden = {"padding": hidden, "text_inverted": hidden, "inverted": ~hidden, "none": None}[mask]
        queries = m.queries[task if query_task is None else query_task].expand(memory.size(0), -1, -1)
        tgt_mask = torch.nn.Transformer.generate_square_subsequent_mask(queries.size(1)) if causal else None
        h = m.decoder(queries, memory, tgt_mask=tgt_mask, memory_key_padding_mask=hidden)
        return [head({"first": h[:, 0], "last": h[:, -1], "mean": h.mean(1)}[read])]


TASK_DECODER = PartCheck(
    id="task-decoder", target="TaskDecoder", kind="module", op="composite", outputs=["task logits"],
    cases=_decoder_cases, reference=_decoder_ref,
    variants={
        "one_query_set": ("every task uses the first task's queries; each task reads with its own: self.queries[task]",
                          lambda c: _decoder_ref(c, query_task=0)),
        "one_head": ("every task uses the first task's head; each task has its own: self.heads[task]",
                     lambda c: _decoder_ref(c, head_task=0)),
        "last_query": ("the head reads the last query; it reads the first one, h[:, 0]", lambda c: _decoder_ref(c, read="last")),
        "mean_of_queries": ("the head reads the mean of the queries; it reads the first one, h[:, 0]",
                            lambda c: _decoder_ref(c, read="mean")),
        "image_only": ("the queries attend to the image only: the memory is the image tokens followed by the text tokens",
                       lambda c: _decoder_ref(c, text=False)),
        "padding_ignored": ("the text's padding is attended to: pass memory_key_padding_mask, False for every image "
                            "token and text_padding for the text", lambda c: _decoder_ref(c, mask="none")),
        "padding_inverted": ("the memory mask is inverted: memory_key_padding_mask is True where a token is hidden "
                             "(the text's padding) and False for every image token and word",
                             lambda c: _decoder_ref(c, mask="inverted")),
        "text_padding_inverted": ("the text's padding mask is inverted: text_padding is already True at the padding; "
                                  "put it after the image's False values as it is", lambda c: _decoder_ref(c, mask="text_inverted")),
        "causal_queries": ("the queries attend to each other through a causal mask: nothing is generated here, so "
                           "pass no tgt_mask and every query sees every other", lambda c: _decoder_ref(c, causal=True)),
    })


VISUAL_FIRST = ChoiceCheck(id="visual-first", target="answer_visual_first", options=["a", "b", "c", "d"])
UNIT_SHARING = ChoiceCheck(id="unit-sharing", target="answer_unit_sharing", options=["a", "b", "c", "d"])

PARTS = [PROJECTOR, LM_INPUT, VISUAL_FIRST, CAPTION_LOSS, GREEDY, TASK_DECODER, UNIT_SHARING]

"""A generated class for the similarity tests: honest students who each write the assignment in a style of their
own, students who each made one typical mistake (assignments/<id>/mistakes.py), and three planted copies of
honest students (renamed, reformatted, functions reordered), as nbgrader's submitted folders."""
from __future__ import annotations

import ast
import io
import keyword
import random
import re
import textwrap
import tokenize
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from autograder.content import load_module
from autograder.course import Assignment
from autograder.notebook import read_notebook

ROOT = Path(__file__).resolve().parents[1]
REGION = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n(.*?)^[ \t]*### END SOLUTION", re.S | re.M)
COPY_KINDS = ("renamed", "reformatted", "reordered")


@dataclass
class GeneratedClass:
    honest: list[str]  # students whose every answer is correct (full marks)
    mistakes: dict[str, list[str]]  # MISTAKES entry name -> the students who made that mistake
    copies: list[tuple[str, str, str]]  # (original student, copying student, "renamed"|"reformatted"|"reordered")
    students: list[str]  # everyone, sorted


class Chooser:
    """A student's choices of style: the least used option so far (ties drawn at random), recorded so that a copy
    replays the same choices; `free` draws at random instead (a retry when a style came out like another's)."""

    def __init__(self, rng: random.Random, used: Counter[tuple[str, str]],
                 replay: list[tuple[str, Any]] | None = None) -> None:
        self.rng, self.used, self.free = rng, used, False
        self.record: list[tuple[str, Any]] = []  # (knob, choice)
        self.replay = None if replay is None else iter(choice for _, choice in replay)

    def pick(self, knob: str, options: list[Any]) -> Any:
        """One of `options` for the style question `knob`."""
        if self.replay is not None:
            choice = next(self.replay)
        elif self.free:
            choice = self.rng.choice(options)
        else:
            least = min(self.used[knob, repr(o)] for o in options)
            choice = self.rng.choice([o for o in options if self.used[knob, repr(o)] == least])
        self.record.append((knob, choice))
        return choice

    def commit(self) -> None:
        """Counts this student's choices as used."""
        for knob, choice in self.record:
            self.used[knob, repr(choice)] += 1


# --- a2-attention: the solution regions as students write them -------------------------------------------------

NAMES = {  # the role of each name a student chooses -> what students call it
    "s": ["scores", "logits", "att", "sim", "energy", "affinity", "raw"],
    "w": ["weights", "attn", "probs", "alpha", "p", "a"],
    "dk": ["d_k", "dk", "head_dim", "dim", "depth", "scale_dim"],
    "o": ["out", "output", "result", "context_vec", "y", "res"],
    "pre": ["apply_mask", "mask_scores", "hide", "masked", "block_keys"],
    "post": ["zero_empty_rows", "fix_rows", "clean", "drop_nan", "empty_to_zero"],
    "q": ["q", "queries", "Q", "q_proj", "qs"],
    "k": ["k", "keys", "K", "k_proj", "ks"],
    "v": ["v", "values", "V", "v_proj", "vs"],
    "proj": ["proj", "layer", "lin", "f"],
    "src": ["source", "kv", "memory", "ctx", "kv_input"],
    "b": ["b", "batch", "bs", "n_batch"],
    "lq": ["lq", "seq_len", "n_q", "length", "t_q"],
    "d": ["d", "n_embd", "dm", "width", "features"],
    "t": ["t", "z", "tensor", "inp", "h"],
    "split": ["split", "split_heads", "to_heads", "heads", "separate"],
    "merge": ["merge", "merge_heads", "from_heads", "combine", "join_heads"],
    "m": ["m", "causal", "tri", "allowed", "lower"],
    "keep": ["keep", "valid", "not_pad", "real", "is_token"],
    "idx": ["idx", "pos", "positions", "r", "ar"],
    "i": ["i", "row", "j", "pos_i"],
}
COMMENTS = {  # what students write above a part of their code, by the part (None: no comment)
    "sdpa": ["# scores of every query against every key", "# shapes: (..., L_q, L_k)", "# scale so the softmax does not saturate",
             "# masked positions get no weight", None, None],
    "sdpa2": ["# a row with no allowed key gets all zeros", "# weighted sum of the values", "# (..., L_q, d_v)", None, None],
    "causal": ["# lower triangle, diagonal included", "# position i sees 0..i", "# no peeking at the future", None],
    "padding": ["# True where the token is real", "# (B, 1, 1, L): broadcasts over heads and queries", "# hide the padding", None],
    "sa": ["# project, then attend", "# queries, keys and values all come from x", "# one head", None],
    "mha": ["# cross-attention when context is given", "# (B, L, d_model) -> (B, h, L, d_head)", "# h heads at once", None],
    "mha2": ["# put the heads back together", "# attend in every head", None],
}
SPARE_COMMENTS = ["# checked against the examples above", "# TODO tidy this up", "# see lecture 3", "# works for batches too",
                  "# not sure about this part", "# this was the tricky bit"]


def vocabulary(rng: random.Random, avoid: dict[str, str] | None = None) -> dict[str, str]:
    """A name for each role, all different, and none of them a name of `avoid` (a renamed copy's)."""
    names: dict[str, str] = {}
    taken = set(avoid.values()) if avoid else set()
    for role, pool in NAMES.items():
        names[role] = rng.choice([n for n in pool if n not in names.values() and n not in taken])
    return names


def comment(c: Chooser, part: str) -> list[str]:
    """A comment line for the part, or none."""
    text = c.pick(f"{part}.comment", COMMENTS[part])
    return [text] if text else []


def sdpa(c: Chooser, n: dict[str, str]) -> list[str]:
    """Scaled dot-product attention's body: the scores, the mask, the softmax and the weighted sum."""
    s, w = n["s"], n["w"]
    lines = comment(c, "sdpa")
    check = c.pick("sdpa.assert", [None, "assert q.size(-1) == k.size(-1)", "assert k.shape[-2] == v.shape[-2]"])
    lines += [check] if check else []
    size = c.pick("sdpa.size", ["q.size(-1)", "q.shape[-1]", "k.size(-1)", "k.shape[-1]"])
    dk = size
    if c.pick("sdpa.hold_dk", [True, False]):
        lines.append(f"{n['dk']} = {size}")
        dk = n["dk"]
    kt = c.pick("sdpa.kt", ["k.transpose(-2, -1)", "k.transpose(-1, -2)", "k.mT", "k.swapaxes(-2, -1)"])
    product = c.pick("sdpa.product", ["q @ {kt}", "torch.matmul(q, {kt})", 'torch.einsum("...qd,...kd->...qk", q, k)'])
    scale = c.pick("sdpa.scale", ["/ math.sqrt({d})", "/ {d} ** 0.5", "* {d} ** -0.5", "* (1.0 / math.sqrt({d}))", "q first"])
    if scale == "q first":
        lines.append(f"q = q / math.sqrt({dk})")
        lines.append(f"{s} = {product.format(kt=kt)}")
    elif c.pick("sdpa.scale_apart", [True, False]):
        lines.append(f"{s} = {product.format(kt=kt)}")
        lines.append(f"{s} = {s} {scale.format(d=dk)}")
    else:
        lines.append(f"{s} = {product.format(kt=kt)} {scale.format(d=dk)}")
    fill = c.pick("sdpa.fill", ['float("-inf")', "float('-inf')", "-math.inf", "-torch.inf", "torch.finfo({s}.dtype).min"])
    fill = fill.format(s=s)
    negated = c.pick("sdpa.not", ["~mask", "mask.logical_not()", "torch.logical_not(mask)", "mask == 0"])
    pre = c.pick("sdpa.pre", ["{s}.masked_fill({neg}, {fill})", "torch.where(mask, {s}, {fill})"])
    if "finfo" in fill:
        post = c.pick("sdpa.post_finite", ["{w}.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)", "{w} * mask",
                                           "{w} * mask.any(dim=-1, keepdim=True)", "torch.where(mask.any(-1, keepdim=True), {w}, 0.0)"])
    else:
        post = c.pick("sdpa.post_inf", ["{w}.nan_to_num(0.0)", "torch.nan_to_num({w}, nan=0.0)", "{w}.masked_fill({w}.isnan(), 0.0)",
                                        "torch.where({w}.isnan(), torch.zeros_like({w}), {w})",
                                        "{w}.masked_fill(mask.any(-1, keepdim=True).logical_not(), 0.0)"])
    softmax = c.pick("sdpa.softmax", ["{s}.softmax(dim=-1)", "torch.softmax({s}, dim=-1)", "nn.functional.softmax({s}, dim=-1)",
                                      "{s}.softmax(-1)"])
    helpers = c.pick("sdpa.helpers", ["inline", "one helper", "two helpers"])
    pre_expr, post_expr = pre.format(s=s, neg=negated, fill=fill), post.format(w=w)
    if helpers == "inline":
        lines += ["if mask is not None:", f"    {s} = {pre_expr}", f"{w} = {softmax.format(s=s)}",
                  "if mask is not None:", f"    {w} = {post_expr}"]
    else:
        lines += [f"def {n['pre']}({s}):", "    if mask is None:", f"        return {s}", f"    return {pre_expr}", ""]
        if helpers == "two helpers":
            lines += [f"def {n['post']}({w}):", f"    return {w} if mask is None else {post_expr}", "",
                      f"{w} = {n['post']}({softmax.format(s=n['pre'] + '(' + s + ')')})"]
        else:
            lines += [f"{w} = {softmax.format(s=n['pre'] + '(' + s + ')')}", "if mask is not None:", f"    {w} = {post_expr}"]
    lines += comment(c, "sdpa2")
    output = c.pick("sdpa.output", ["{w} @ v", "torch.matmul({w}, v)", 'torch.einsum("...qk,...kd->...qd", {w}, v)'])
    if c.pick("sdpa.hold_out", [True, False]):
        lines += [f"{n['o']} = {output.format(w=w)}", f"return {n['o']}, {w}"]
    else:
        lines.append(f"return {output.format(w=w)}, {w}")
    return lines


def causal(c: Chooser, n: dict[str, str]) -> list[str]:
    """make_causal_mask's body: True on and below the diagonal."""
    idx = n["idx"]
    lines = comment(c, "causal")
    way = c.pick("causal.way", ["torch.ones(n, n, dtype=torch.bool).tril()", "torch.tril(torch.ones(n, n)).bool()",
                                "torch.tril(torch.ones(n, n, dtype=torch.bool))", "~torch.ones(n, n, dtype=torch.bool).triu(1)",
                                "torch.ones(n, n).triu(diagonal=1) == 0", "torch.ones(n, n).tril().to(torch.bool)",
                                "arange", "loop"])
    if way == "arange":
        form = c.pick("causal.arange", ["{i}[:, None] >= {i}[None, :]", "{i}.unsqueeze(1) >= {i}.unsqueeze(0)",
                                        "{i}.view(-1, 1) >= {i}.view(1, -1)"])
        return lines + [f"{idx} = torch.arange(n)", f"return {form.format(i=idx)}"]
    if way == "loop":
        return lines + [f"{n['m']} = torch.zeros(n, n, dtype=torch.bool)", f"for {n['i']} in range(n):",
                        f"    {n['m']}[{n['i']}, : {n['i']} + 1] = True", f"return {n['m']}"]
    if c.pick("causal.hold", [True, False]):
        return lines + [f"{n['m']} = {way}", f"return {n['m']}"]
    return lines + [f"return {way}"]


def padding(c: Chooser, n: dict[str, str]) -> list[str]:
    """make_padding_mask's body: True at real tokens, shaped (B, 1, 1, L)."""
    lines = comment(c, "padding")
    compare = c.pick("padding.compare", ["tokens != pad_id", "tokens.ne(pad_id)", "torch.ne(tokens, pad_id)", "~(tokens == pad_id)"])
    shape = c.pick("padding.shape", ["({x})[:, None, None, :]", "({x}).unsqueeze(1).unsqueeze(2)",
                                     "({x}).view(tokens.size(0), 1, 1, tokens.size(1))", "({x}).reshape(tokens.shape[0], 1, 1, -1)",
                                     "({x}).unsqueeze(-2).unsqueeze(-2)", "({x})[:, None, None]"])
    if c.pick("padding.hold", [True, False]):
        keep = n["keep"]
        return lines + [f"{keep} = {compare}", "return " + shape.format(x=keep).replace(f"({keep})", keep)]
    return lines + [f"return {shape.format(x=compare)}"]


def self_attention(c: Chooser, n: dict[str, str]) -> list[str]:
    """SelfAttention.forward's body: project x three ways and attend."""
    q, k, v = n["q"], n["k"], n["v"]
    lines = comment(c, "sa")
    check = c.pick("sa.assert", [None, "assert x.dim() == 3", "assert x.size(-1) == self.w_q.in_features"])
    lines += [check] if check else []
    mask_arg = c.pick("sa.mask_arg", ["mask", "mask=mask"])
    way = c.pick("sa.way", ["one call", "tuple", "three lines", "generator", "list", "keywords"])
    call = "scaled_dot_product_attention({}, {}, {}, " + mask_arg + ")"
    if way == "one call":
        return lines + ["return " + call.format("self.w_q(x)", "self.w_k(x)", "self.w_v(x)")]
    if way == "keywords":
        return lines + ["return scaled_dot_product_attention(q=self.w_q(x), k=self.w_k(x), v=self.w_v(x), mask=mask)"]
    if way == "tuple":
        lines.append(f"{q}, {k}, {v} = self.w_q(x), self.w_k(x), self.w_v(x)")
    elif way == "three lines":
        lines += [f"{q} = self.w_q(x)", f"{k} = self.w_k(x)", f"{v} = self.w_v(x)"]
    elif way == "generator":
        lines.append(f"{q}, {k}, {v} = ({n['proj']}(x) for {n['proj']} in (self.w_q, self.w_k, self.w_v))")
    else:
        lines.append(f"{q}, {k}, {v} = [{n['proj']}(x) for {n['proj']} in [self.w_q, self.w_k, self.w_v]]")
    if c.pick("sa.hold", [True, False]):
        return lines + [f"{n['o']}, {n['w']} = " + call.format(q, k, v), f"return {n['o']}, {n['w']}"]
    return lines + ["return " + call.format(q, k, v)]


def multi_head(c: Chooser, n: dict[str, str]) -> list[str]:
    """MultiHeadAttention.forward's body: project, split into heads, attend, merge, project."""
    q, k, v, t, src, b, lq, d = (n[r] for r in ("q", "k", "v", "t", "src", "b", "lq", "d"))
    lines = comment(c, "mha")
    way = c.pick("mha.source", ["x if", "context if", "if-assign", "reuse context"])
    if way == "x if":
        lines.append(f"{src} = x if context is None else context")
    elif way == "context if":
        lines.append(f"{src} = context if context is not None else x")
    elif way == "if-assign":
        lines += [f"{src} = x", "if context is not None:", f"    {src} = context"]
    else:
        lines += ["if context is None:", "    context = x"]
        src = "context"
    shape = c.pick("mha.shape", ["b, lq, d = x.shape", "b, lq, d = x.size()", "b, lq = x.shape[:2]", None])
    if shape:
        lines.append(shape.replace("b, lq, d", f"{b}, {lq}, {d}").replace("b, lq =", f"{b}, {lq} ="))
    if c.pick("mha.assert", [False, True]):
        lines.append("assert x.size(-1) == self.n_heads * self.d_head")
    split = c.pick("mha.split", ["{t}.view({t}.size(0), {t}.size(1), self.n_heads, self.d_head).transpose(1, 2)",
                                 "{t}.reshape({t}.shape[0], -1, self.n_heads, self.d_head).permute(0, 2, 1, 3)",
                                 "{t}.unflatten(-1, (self.n_heads, self.d_head)).transpose(1, 2)",
                                 "{t}.view(*{t}.shape[:2], self.n_heads, self.d_head).transpose(1, 2)",
                                 "{t}.view({t}.size(0), -1, self.n_heads, self.d_head).transpose(-3, -2)"])
    merges = ["{o}.transpose(1, 2).flatten(2)", "{o}.permute(0, 2, 1, 3).flatten(-2)",
              "{o}.transpose(1, 2).reshape(x.size(0), x.size(1), -1)"]
    if shape:
        merges.append("{o}.transpose(1, 2).contiguous().view({b}, -1, self.n_heads * self.d_head)")
    if shape and "d =" in shape:
        merges.append("{o}.transpose(1, 2).reshape({b}, {lq}, {d})")
    merge = c.pick("mha.merge", merges)
    split_form = c.pick("mha.split_form", ["def", "lambda", "inline"])
    merge_form = c.pick("mha.merge_form", ["def", "inline"])
    o, w = n["o"], n["w"]
    if split_form == "def":
        lines += [f"def {n['split']}({t}):", f"    return {split.format(t=t)}", ""]
    elif split_form == "lambda":
        lines.append(f"{n['split']} = lambda {t}: {split.format(t=t)}")
    if merge_form == "def":
        lines += [f"def {n['merge']}({t}):", f"    return {merge.format(o=t, b=b, lq=lq, d=d)}", ""]
    lines += comment(c, "mha2")
    if split_form == "inline":
        lines += [f"{q} = self.w_q(x)", f"{k} = self.w_k({src})", f"{v} = self.w_v({src})"]
        lines += [f"{name} = {split.format(t=name)}" for name in (q, k, v)]
    else:
        lines += [f"{q} = {n['split']}(self.w_q(x))", f"{k} = {n['split']}(self.w_k({src}))", f"{v} = {n['split']}(self.w_v({src}))"]
    mask_arg = c.pick("mha.mask_arg", ["mask", "mask=mask"])
    lines.append(f"{o}, {w} = scaled_dot_product_attention({q}, {k}, {v}, {mask_arg})")
    merged = f"{n['merge']}({o})" if merge_form == "def" else merge.format(o=o, b=b, lq=lq, d=d)
    if c.pick("mha.hold", [True, False]):
        return lines + [f"{o} = self.w_o({merged})", f"return {o}, {w}"]
    return lines + [f"return self.w_o({merged}), {w}"]


def answer(variable: str, letter: str) -> Callable[[Chooser, dict[str, str]], list[str]]:
    """A multiple-choice answer cell: the right letter, written one of the ways students write it."""

    def write(c: Chooser, n: dict[str, str]) -> list[str]:
        """The answer line."""
        quote = c.pick(f"{variable}.quote", ['"', "'"])
        note = c.pick(f"{variable}.note", ["", "  # my answer", "  # checked", "  # I think"])
        return [f"{variable} = {quote}{letter}{quote}{note}"]

    return write


HEADS_SAY = ["Several heads can look at different things at once.", "Each head has its own attention pattern.",
             "With one head every query gets a single weighted average.", "Heads work in separate subspaces."]
HEADS_EXAMPLE = ["One head can track the previous token while another looks for a related word.",
                 "So one head might follow syntax and another long-range meaning.",
                 "The output projection then mixes what each head found.",
                 "That is more expressive than one big average for the same cost."]


def heads_answer(c: Chooser, n: dict[str, str]) -> list[str]:
    """The answer in words to why several heads help (graded by hand)."""
    return [c.pick("heads.say", HEADS_SAY) + " " + c.pick("heads.example", HEADS_EXAMPLE)]


# the solution regions of each assignment, in notebook order: (cell grade_id, region index) -> its writer
WRITERS: dict[str, dict[tuple[str, int], Callable[[Chooser, dict[str, str]], list[str]]]] = {
    "a2-attention": {
        ("weights-of-input-2-answer", 0): answer("answer_weights_of_input_2", "a"),
        ("sdpa-solution", 0): sdpa,
        ("why-scale-answer", 0): answer("answer_why_scale", "b"),
        ("masks-solution", 0): causal,
        ("masks-solution", 1): padding,
        ("self-attention-solution", 0): self_attention,
        ("mha-solution", 0): multi_head,
        ("heads-answer", 0): heads_answer,
    },
}
CODE_UNITS = {"a2-attention": [("sdpa-solution", 0), ("masks-solution", 0), ("masks-solution", 1),
                               ("self-attention-solution", 0), ("mha-solution", 0)]}


# --- notebooks --------------------------------------------------------------------------------------------------

Unit = tuple[str, int]


def regions(nb: nbformat.NotebookNode) -> dict[Unit, str]:
    """Each solution region's text (a markdown solution cell is one region, its whole text)."""
    out = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("solution"):
            continue
        if cell.cell_type == "markdown":
            out[meta["grade_id"], 0] = cell.source
        for i, match in enumerate(REGION.finditer(cell.source)):
            out[meta["grade_id"], i] = match[2].rstrip("\n")
    return out


def fill_in(source: nbformat.NotebookNode, texts: dict[Unit, str]) -> nbformat.NotebookNode:
    """The source notebook with each solution region replaced by the student's text, without nbgrader's markers
    (as a student's copy of the release reads once the stubs are replaced)."""
    nb = nbformat.from_dict(source)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("solution"):
            continue
        if cell.cell_type == "markdown":
            cell.source = texts[meta["grade_id"], 0]
            continue
        counter = iter(range(1000))
        cell.source = REGION.sub(lambda m: texts[meta["grade_id"], next(counter)], cell.source)
    return nb


def indented(lines: list[str], indent: str) -> str:
    """The lines as a region's text at the region's indentation (blank lines stay empty)."""
    return "\n".join(indent + line if line else "" for line in lines)


def region_indents(nb: nbformat.NotebookNode) -> dict[Unit, str]:
    """The indentation of each solution region's markers: where the student's code starts."""
    out = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        for i, match in enumerate(REGION.finditer(cell.source) if meta.get("solution") else []):
            out[meta["grade_id"], i] = match[1]
    return out


def edited_regions(nb: nbformat.NotebookNode, edits: list[tuple[str, str]], what: str) -> dict[Unit, str]:
    """The regions that `edits` (mistakes.py's, of the source notebook) change, as edited; an edit must hit one
    cell exactly once and change nothing outside the solution regions."""
    nb = nbformat.from_dict(nb)
    before = regions(nb)
    for old, new in edits:
        hits = [c for c in nb.cells if old in c.source]
        if len(hits) != 1 or hits[0].source.count(old) != 1:
            raise ValueError(f"{what}: edit target not found exactly once: {old!r}")
        before_edit = hits[0].source
        hits[0].source = before_edit.replace(old, new)
        if REGION.sub("", hits[0].source) != REGION.sub("", before_edit):
            raise ValueError(f"{what}: an edit reaches outside the solution regions: {old!r}")
    after = regions(nb)
    return {unit: text for unit, text in after.items() if text != before[unit]}


def normalized(code: str) -> str:
    """Code without comments, layout or its own names (each name numbered by first use): two regions that differ
    only in those read the same."""
    out, names = [], {}
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
    previous = ""
    for tok in tokenize.generate_tokens(io.StringIO(textwrap.dedent(code)).readline):
        if tok.type in skip:
            continue
        text = tok.string
        if tok.type == tokenize.NAME and not keyword.iskeyword(text) and previous != ".":
            text = names.setdefault(text, f"n{len(names)}")
        out.append(text)
        previous = tok.string
    return " ".join(out)


# --- the copies -----------------------------------------------------------------------------------------------

def reformat(code: str, rng: random.Random) -> str:
    """The same code laid out anew: compact inside brackets, with some breaks after commas, spaces around
    operators outside them, comments dropped and others added, and blank lines between some statements."""
    logical: list[tuple[str, str]] = []  # (indentation, text)
    current, indent, depth, previous, unary = None, "", 0, None, False
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        if tok.type in (tokenize.ENDMARKER, tokenize.INDENT, tokenize.DEDENT, tokenize.COMMENT, tokenize.NL):
            continue
        if tok.type == tokenize.NEWLINE:
            logical.append((indent, current))
            current = None
            continue
        if current is None:
            indent, current, previous, unary = " " * tok.start[1], "", None, False
        sep = "" if previous is None else separator(previous, tok, depth, unary, indent, rng)
        unary = tok.string in {"-", "+", "~"} and (
            previous is None or previous.type == tokenize.OP and previous.string not in CLOSING
            or keyword.iskeyword(previous.string))
        depth += (tok.string in OPENING) - (tok.string in CLOSING) if tok.type == tokenize.OP else 0
        current += sep + tok.string
        previous = tok
    out = []
    for indent, text in logical:
        if rng.random() < 0.3:
            out.append(indent + rng.choice(SPARE_COMMENTS))
        out.append(indent + text)
        if rng.random() < 0.25:
            out.append("")
    return "\n".join(out).rstrip("\n")


def separator(previous: tokenize.TokenInfo, tok: tokenize.TokenInfo, depth: int, unary: bool, indent: str,
              rng: random.Random) -> str:
    """What goes between two tokens of a reformatted line: a space where they would run together or around an
    operator outside brackets, sometimes a line break after a comma inside them, otherwise nothing."""
    def wordy(text: str) -> bool:
        return text.isalnum() or text in "_'\""

    if wordy(previous.string[-1:]) and wordy(tok.string[:1]) or tok.string in SPACED_WORDS \
            or previous.string in SPACED_WORDS and tok.string not in {":", ",", *CLOSING}:
        return " "
    if previous.string == ",":
        return " " if depth == 0 else ("\n" + indent + " " * 8 if rng.random() < 0.3 else "")
    if depth > 0 or unary or tok.string == ":":
        return ""
    return " " if spaced(previous) or spaced(tok) else ""


SPACED_WORDS = {"if", "else", "for", "in", "is", "not", "and", "or", "lambda", "return"}
OPENING, CLOSING = {"(", "[", "{"}, {")", "]", "}"}


def spaced(tok: tokenize.TokenInfo) -> bool:
    """An operator that gets spaces around it outside brackets (not a bracket, dot, colon or comma)."""
    return tok.type == tokenize.OP and tok.string not in {".", ",", ":", *OPENING, *CLOSING}


def reorder(source: str) -> str:
    """The cell with each run of two or more consecutive defs or classes (at any level: a cell's functions, a
    class's methods, a function's nested helpers) in reverse order; the blank lines between them stay."""
    lines = source.split("\n")
    runs: list[tuple[int, list[tuple[int, int]]]] = []  # (depth, [(first line, last line)] 0-based)

    def visit(body: list[ast.stmt], level: int) -> None:
        run: list[ast.stmt] = []
        for stmt in body + [None]:  # type: ignore[list-item]
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                run.append(stmt)
                continue
            if len(run) >= 2:
                runs.append((level, [(min([d.lineno for d in s.decorator_list] + [s.lineno]) - 1, s.end_lineno - 1)
                                     for s in run]))
            run = []
        for stmt in body:
            for child in (getattr(stmt, "body", None), getattr(stmt, "orelse", None)):
                if isinstance(child, list):
                    visit(child, level + 1)

    visit(ast.parse(source).body, 0)
    for _, spans in sorted(runs, key=lambda r: -r[0]):  # innermost first: a reversal keeps the outer spans' lines
        chunks = [lines[a:b + 1] for a, b in spans]
        gaps = [lines[spans[i][1] + 1:spans[i + 1][0]] for i in range(len(spans) - 1)]
        new: list[str] = []
        for i, chunk in enumerate(reversed(chunks)):
            new += chunk + (gaps[i] if i < len(gaps) else [])
        lines[spans[0][0]:spans[-1][1] + 1] = new
    return "\n".join(lines)


def reordered_regions(style: Style) -> int:
    """How many of a student's code regions hold functions that a reordered copy puts in another order."""
    code = [textwrap.dedent(t) for t in style.texts.values()]
    return sum(reorder(t) != t for t in code if is_python(t))


def is_python(text: str) -> bool:
    """Whether the text parses as Python (a markdown answer does not)."""
    try:
        ast.parse(text)
    except SyntaxError:
        return False
    return True


# --- the class ------------------------------------------------------------------------------------------------

@dataclass
class Style:
    choices: list[tuple[str, Any]]  # the Chooser's record: (style question, choice), in the order asked
    names: dict[str, str]
    texts: dict[Unit, str]


def write_style(assignment_id: str, rng: random.Random, used: Counter[tuple[str, str]], indents: dict[Unit, str],
                fixed: dict[Unit, str], taken: list[dict[Unit, str]], replay: list[tuple[str, Any]] | None = None,
                names: dict[str, str] | None = None) -> Style:
    """A student's regions: `fixed` ones as given (a mistake or a style of mistakes.py), the others written by
    WRITERS, redrawn until the student shares at most one normalized code region with each student `taken` so far
    (then added to them); with `replay`, the choices of an earlier student, written with `names`."""
    writers, code_units = WRITERS[assignment_id], CODE_UNITS[assignment_id]
    names = names or vocabulary(rng)
    for attempt in range(200):
        chooser = Chooser(rng, used, replay)
        chooser.free = attempt > 20
        texts = {}
        for unit, writer in writers.items():
            lines = writer(chooser, names)
            texts[unit] = fixed[unit] if unit in fixed else indented(lines, indents.get(unit, ""))
        if replay is not None:
            return Style(chooser.record, names, texts)
        mine = {u: normalized(texts[u]) for u in code_units}
        if all(sum(mine[u] == other[u] for u in code_units) <= 1 for other in taken):
            taken.append(mine)
            chooser.commit()
            return Style(chooser.record, names, texts)
    raise RuntimeError("no style unlike every other student's was found")


def generate_class(folder: Path, assignment: Assignment, n_honest: int, mistake_counts: dict[str, int],
                   seed: int = 0) -> GeneratedClass:
    """Writes folder/<student>/<assignment.id>/<notebook> for every student (nbgrader's submitted layout)."""
    if assignment.id not in WRITERS:
        raise ValueError(f"no student styles are written for {assignment.id!r} (only {', '.join(WRITERS)})")
    if n_honest < 3:
        raise ValueError("three honest students are needed to copy from")
    module = load_module(ROOT / "assignments" / assignment.id, "mistakes")
    known = {name: (part, edits) for name, part, edits, _ in module.MISTAKES}
    unknown = sorted(set(mistake_counts) - set(known))
    if unknown:
        raise ValueError(f"not in {assignment.id}'s mistakes.py: {unknown}")
    source_path = ROOT / assignment.notebooks[0]
    source = read_notebook(source_path)
    indents = region_indents(source)
    rng = random.Random(seed)
    used: Counter[tuple[str, str]] = Counter()
    taken: list[dict[Unit, str]] = []
    styled = [edited_regions(source, edits, name) for name, edits in getattr(module, "STYLES", [])]

    styles: dict[str, Style] = {}  # by a provisional id, named once everyone is placed
    honest = [f"honest{i}" for i in range(n_honest)]
    for i, who in enumerate(honest):
        styles[who] = write_style(assignment.id, rng, used, indents, styled[i] if i < len(styled) else {}, taken)
    made: dict[str, list[str]] = {}
    for name in sorted(mistake_counts):
        fixed = edited_regions(source, known[name][1], name)
        made[name] = []
        for j in range(mistake_counts[name]):
            who = f"mistake:{name}:{j}"
            made[name].append(who)
            styles[who] = write_style(assignment.id, rng, used, indents, fixed, taken)

    plain = honest[len(styled):] if n_honest - len(styled) >= 3 else honest  # copy the styles of this file
    reordered_from = max(plain, key=lambda h: (reordered_regions(styles[h]), -plain.index(h)))
    others = [h for h in plain if h != reordered_from]
    originals = dict(zip(COPY_KINDS, rng.sample(others, 2) + [reordered_from]))
    copies = {}
    for kind, original in originals.items():
        style = styles[original]
        if kind == "renamed":
            copied = write_style(assignment.id, rng, used, indents, {}, taken, replay=style.choices,
                                 names=vocabulary(rng, avoid=style.names))
            texts = copied.texts
        elif kind == "reformatted":
            texts = {u: reformat(t, rng) if u in CODE_UNITS[assignment.id] else t for u, t in style.texts.items()}
        else:
            texts = dict(style.texts)
        copies[f"copy:{kind}"] = (original, kind, texts)

    people = list(styles) + list(copies)
    for _ in range(10000):
        rng.shuffle(people)
        place = {p: i for i, p in enumerate(people)}
        if all(abs(place[c] - place[o]) > 1 for c, (o, _, _) in copies.items()):
            break
    else:
        raise RuntimeError("cannot place the copies apart from their originals")
    width = max(3, len(str(len(people))))
    named = {p: f"s{i + 1:0{width}d}" for i, p in enumerate(people)}

    for who in people:
        if who in copies:
            original, kind, texts = copies[who]
        else:
            kind, texts = "", styles[who].texts
        nb = fill_in(source, texts)
        if kind == "reordered":
            for cell in nb.cells:
                if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
                    cell.source = reorder(cell.source)
        path = folder / named[who] / assignment.id / source_path.name
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(path))
    return GeneratedClass(honest=sorted(named[h] for h in honest),
                          mistakes={name: sorted(named[w] for w in who) for name, who in made.items()},
                          copies=[(named[o], named[c], kind) for c, (o, kind, _) in copies.items()],
                          students=sorted(named.values()))

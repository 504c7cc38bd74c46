"""Fingerprints of a student's own code: normalised tokens, their k-grams hashed, and a few of those hashes chosen
by winnowing (Schleimer, Wilkerson and Aiken, "Winnowing: local algorithms for document fingerprinting", 2003).
Every run of at least K + W - 1 normalised tokens shared by two students within one unit (a function body, see
`units`) yields at least one shared fingerprint, and a run shorter than K yields none (noise).

Normalisation, chosen so that the cheap disguises change nothing:
- comments and whitespace (so line breaks, indentation, spacing) are dropped, and so is a comma before a closing
  bracket (a formatter's trailing comma); a string standing as a statement (a docstring) is dropped and any
  other string becomes one token S, so rewording a message changes nothing;
- every name the student chooses (variables, parameters, helper functions) becomes one placeholder V, so a
  consistent renaming changes nothing;
- names that keep their meaning whatever the student does stay as written: Python's keywords and builtins; the
  names the assignment's source notebook imports (torch, math, F, nn) or defines at top level (the functions and
  classes it asks for, which the grader calls by name) and the names the student imports; a name after '.' (a
  tensor method or the template's self.w_q: an API, not a choice); and a keyword argument's name (dim=, dtype=).
  Keeping them is what tells `scores.softmax(dim=-1)` from `torch.einsum(...)`; turning them into V as well would
  make every honest solution of the same shape look alike.
The tokenizer is a regular expression, not Python's: the kept lines are fragments (a method's body without its
def, an unterminated string) that do not parse, and a fragment must give tokens, never an exception.
"""
from __future__ import annotations

import ast
import bisect
import builtins
import keyword
import re
import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable, NamedTuple

from .regions import Line, cell_source

K = 10  # tokens per k-gram: shorter shared runs are noise (`return x.sum(dim=-1)` is 10 tokens)
W = 5  # k-grams per winnowing window: a shared run of K + W - 1 = 14 tokens is always found

TOKEN = re.compile(r"""
  (?P<comment>\#[^\n]*)
| (?P<string>[rRbBuUfF]{0,2}(?:'''(?:\\.|[^\\])*?(?:'''|\Z) | \"\"\"(?:\\.|[^\\])*?(?:\"\"\"|\Z)
                             | '(?:\\.|[^'\\\n])*(?:'|(?=\n)|\Z) | "(?:\\.|[^"\\\n])*(?:"|(?=\n)|\Z)))
| (?P<number>0[xXoObB][0-9a-fA-F_]+ | (?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?[jJ]?)
| (?P<name>[^\W\d]\w*)
| (?P<op>\*\*=?|//=?|>>=?|<<=?|->|:=|[-+*/%@&|^=<>!]=|[-+*/%@&|^~<>=.,:;()\[\]{}])
| (?P<space>\s+)
| (?P<other>.)
""", re.X | re.S)
PYTHON_NAMES = frozenset(keyword.kwlist) | frozenset(dir(builtins))
IMPORT = re.compile(r"^\s*(?:from\s+[\w.]+\s+)?import\s+\(?([\w.,\s]+)")  # the names, with any "as y"
OPEN, CLOSE = frozenset("([{"), frozenset(")]}")


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """A winnowed k-gram hash and where its tokens are: the cell and its first and last line."""
    hash: int
    cell: str
    first: int
    last: int


def imported_names(lines: Iterable[str]) -> set[str]:
    """The names `import a.b`, `import a as b` and `from m import x as y, z` bind in these lines (a, b, y, z)."""
    out = set()
    for line in lines:
        match = IMPORT.match(line)
        for part in (match.group(1).split(",") if match else []):
            words = part.split()
            if words:
                out.add(words[-1] if len(words) == 3 and words[1] == "as" else words[0].split(".")[0])
    return out


def vocabulary(source_nb: dict[str, Any]) -> frozenset[str]:
    """The names the assignment fixes: those its source notebook imports or defines at top level."""
    names: set[str] = set()
    for cell in source_nb.get("cells", []):
        if cell.get("cell_type") != "code" or (source := cell_source(cell)) is None:
            continue
        lines = ["" if l.lstrip().startswith(("%", "!")) else l for l in source.split("\n")]
        names |= imported_names(lines)
        try:
            tree = ast.parse("\n".join(lines))
        except SyntaxError:
            continue
        names |= {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    return frozenset(names)


class Token(NamedTuple):
    """A normalised token, where it is in the text, the bracket depth before it, and the indentation of its line
    where it is the line's first token (None otherwise)."""
    value: str
    start: int
    end: int
    depth: int
    indent: int | None


def tokens(text: str, kept: frozenset[str]) -> list[Token]:
    """The normalised tokens of `text` (see the module's docstring), in one pass: a hostile line of megabytes
    costs time in proportion to its length."""
    out: list[Token] = []
    depth, line_start, fresh, alone = 0, 0, True, None  # alone: a string that began its line, until we know more
    for m in TOKEN.finditer(text):
        kind, value = m.lastgroup, m.group()
        if kind == "space" and "\n" in value:
            if alone is not None and out and out[-1] is alone:
                out.pop()  # a docstring, or another string standing as a statement
            line_start, fresh, alone = m.start() + value.rindex("\n") + 1, True, None
        if kind in ("comment", "space"):
            continue
        indent = len(text[line_start:m.start()].expandtabs()) if fresh else None
        token_depth = depth
        if kind == "string":
            value = "S"
        elif kind == "name" and value not in PYTHON_NAMES and value not in kept:
            after_dot = bool(out) and out[-1].value == "."
            rest = text[m.end():m.end() + 3].lstrip(" \t")
            keyword_arg = depth > 0 and rest.startswith("=") and not rest.startswith("==")
            value = value if after_dot or keyword_arg else "V"
        elif kind == "number":
            value = value.lower().replace("_", "")
        elif value in OPEN:
            depth += 1
        elif value in CLOSE:
            depth = max(0, depth - 1)
            if out and out[-1].value == ",":
                out.pop()  # a trailing comma, as a formatter adds them, is no difference
        out.append(Token(value, m.start(), m.end(), token_depth, indent))
        alone = out[-1] if kind == "string" and fresh and token_depth == 0 else None
        fresh = False
    if alone is not None and out and out[-1] is alone:
        out.pop()
    return out


def winnow(hashes: list[int], window: int = W) -> list[int]:
    """The positions winnowing selects: in each window of `window` consecutive hashes, the rightmost minimum,
    recorded once while it stays the minimum of the windows that hold it."""
    chosen: list[int] = []
    for start in range(max(1, len(hashes) - window + 1)):
        part = hashes[start:start + window]
        if not part:
            break
        low = min(part)
        pos = start + len(part) - 1 - part[::-1].index(low)
        if not chosen or chosen[-1] != pos:
            chosen.append(pos)
    return chosen


@lru_cache(maxsize=None)
def token_id(token: str) -> int:
    """A stable number for a token (Python's str hash changes between runs, crc32 does not)."""
    return zlib.crc32(token.encode("utf-8", "backslashreplace"))


def units(toks: list[Token]) -> list[int]:
    """The indices of the tokens that start a unit: a def, class or decorator line, and the first line after a
    definition's body, each at bracket depth 0. k-grams stay inside a unit, so functions put in another order, or a
    helper moved up, give the same fingerprints."""
    starts, defs = [0], []  # defs: the indentation of each definition the current line is inside
    for i, tok in enumerate(toks):
        if tok.depth or tok.indent is None:
            continue  # not the first token of a statement's line
        ends = bool(defs) and tok.indent <= defs[-1]
        while defs and tok.indent <= defs[-1]:
            defs.pop()
        if tok.value in ("def", "class", "@", "async"):
            defs.append(tok.indent)
            ends = True
        if ends and i:
            starts.append(i)
    return starts


def fingerprints(lines: list[Line], kept: frozenset[str], k: int = K, window: int = W) -> list[Fingerprint]:
    """The winnowed fingerprints of a student's own lines. Each block of a cell (lines with no template line
    between them) is tokenized as one text and cut into units (see `units`); no k-gram spans two units."""
    kept = kept | imported_names(l.text for l in lines)
    blocks: dict[tuple[str, int], list[Line]] = {}
    for line in lines:
        blocks.setdefault((line.cell, line.block), []).append(line)
    out = []
    for (cell, _), block in blocks.items():
        text = "\n".join(l.text for l in block)
        offsets = [0]
        for l in block[:-1]:
            offsets.append(offsets[-1] + len(l.text) + 1)
        toks = tokens(text, kept)
        bounds = units(toks) + [len(toks)]
        for lo, hi in zip(bounds, bounds[1:]):
            ids = [token_id(t.value) for t in toks[lo:hi]]
            hashes = [hash(tuple(ids[i:i + k])) & 0x1FFFFFFFFFFFFFFF for i in range(len(ids) - k + 1)]
            for pos in winnow(hashes, window):
                first = block[bisect.bisect_right(offsets, toks[lo + pos].start) - 1].number
                last = block[bisect.bisect_right(offsets, toks[lo + pos + k - 1].end - 1) - 1].number
                out.append(Fingerprint(hashes[pos], cell, first, last))
    return out

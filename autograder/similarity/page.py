"""similarity.html: the ranked pairs, then each pair's code side by side with the shared lines marked. One file
with its style inline and no script; every name and line of code came from a student and is escaped."""
from __future__ import annotations

from html import escape

from .pairs import Pair, describe, lines_of
from .regions import Line

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table.pairs { border-collapse: collapse; } table.pairs td, table.pairs th { border: 1px solid #ccc; padding: .2em .6em; }
table.pairs td.score { text-align: right; font-variant-numeric: tabular-nums; }
.side { display: flex; gap: 1em; } .side > div { flex: 1; min-width: 0; }
pre { background: #f6f6f6; padding: .4em; overflow-x: auto; margin: .2em 0 .8em; }
pre span.no { color: #999; user-select: none; } pre mark { background: #ffe08a; display: inline-block; width: 100%; }
h3 { margin-bottom: .2em; } .cell { font-size: .85em; color: #555; margin: 0; }
"""


def code_block(lines: list[Line], marked: set[tuple[str, int]]) -> str:
    """A student's own lines, cell by cell, each with its line number; the lines in `marked` highlighted."""
    parts: list[str] = []
    cell = None
    for line in lines:
        if line.cell != cell:
            parts.append(("</pre>" if cell is not None else "") + f'<p class="cell">{escape(line.cell)}</p><pre>')
            cell = line.cell
        text = f'<span class="no">{line.number:>4} </span>{escape(line.text)}'
        parts.append((f"<mark>{text}</mark>" if (line.cell, line.number) in marked else text) + "\n")
    return "".join(parts) + ("</pre>" if cell is not None else "<p>(no code of their own)</p>")


def render(assignment: str, students: int, pairs: list[Pair], code: dict[str, list[Line]], notes: list[str]) -> str:
    """The whole page, for `students` compared and their best `pairs` (code: each paired student's own lines)."""
    title = f"Similarity: {escape(assignment)}"
    rows = "".join(
        f'<tr><td>{rank}</td><td><a href="#pair-{rank}">{escape(p.a)}</a></td><td>{escape(p.b)}</td>'
        f'<td class="score">{p.score:.2f}</td><td>{escape(describe(p.spans_a))}</td><td>{escape(describe(p.spans_b))}</td></tr>'
        for rank, p in enumerate(pairs, 1))
    sections = "".join(
        f'<section id="pair-{rank}"><h2>{rank}. {escape(p.a)} and {escape(p.b)}: {p.score:.2f}</h2><div class="side">'
        + "".join(f"<div><h3>{escape(s)}</h3>{code_block(code.get(s, []), lines_of(spans))}</div>"
                  for s, spans in ((p.a, p.spans_a), (p.b, p.spans_b)))
        + "</div></section>"
        for rank, p in enumerate(pairs, 1))
    skipped = "".join(f"<li>{escape(n)}</li>" for n in notes)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{STYLE}</style></head><body><h1>{title}</h1>"
            f"<p>{students} submissions compared on the code each student wrote (the released template and given "
            f"cells left out, code most of the class wrote alike ignored). A high score is a reason to look, not a "
            f"verdict.</p>"
            + (f"<table class=\"pairs\"><tr><th>#</th><th>student</th><th>student</th><th>score</th>"
               f"<th>matched lines</th><th>matched lines</th></tr>{rows}</table>" if pairs else "<p>No similar pairs.</p>")
            + (f"<h2>Files skipped</h2><ul>{skipped}</ul>" if notes else "")
            + sections + "</body></html>\n")

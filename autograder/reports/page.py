"""The report as one self-contained HTML page (figures embedded). Every text that a student's code or folder
could have made (names, the grader's messages about their answers) is escaped."""
from __future__ import annotations

import html

from . import figures
from .class_summary import ClassSummary, PartSummary

STYLE = """body{font-family:system-ui,sans-serif;max-width:64em;margin:2em auto;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0 1em}td,th{border-bottom:1px solid #ddd;padding:.3em .6em;text-align:left;
vertical-align:top}th{background:#f4f4f4}td.n{text-align:right}img{max-width:100%}h2{margin-top:2em}
.muted{color:#666}.part{border-top:2px solid #ccc;margin-top:1.5em}code{background:#f4f4f4;padding:0 .2em}"""


def _e(value: object) -> str:
    return html.escape(str(value))


def _table(header: list[str], rows: list[list[object]], numeric: frozenset[int] = frozenset()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td class='n'>{_e(c)}</td>" if i in numeric else f"<td>{_e(c)}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _img(uri: str, alt: str) -> str:
    return f"<img src='{uri}' alt='{_e(alt)}'>"


def _share(n: int, of: int) -> str:
    return f"{n / of:.0%}" if of else "–"


def _part(part: PartSummary) -> str:
    out = [f"<div class='part' id='{_e(part.grade_id)}'><h3>{_e(part.grade_id)} "
           f"<span class='muted'>({_e(part.kind)}, {part.max_score:g} points)</span></h3>"]
    graded = len(part.scores)
    out.append(f"<p>{graded} scored, {_share(part.full_marks, graded)} with full marks"
               + (f", mean {part.mean:.2f}" if part.mean is not None else "")
               + (f"; {part.waiting} still to grade by hand" if part.waiting else "") + ".</p>")
    if part.mistakes or part.unexplained:
        out.append(_img(figures.mistakes(part), f"typical mistakes in {part.grade_id}"))
        rows = [[i + 1, m.key, m.message, m.students, _share(m.students, part.answered)]
                for i, m in enumerate(part.mistakes)]
        if rows:
            out.append("<h4>Typical mistakes, most common first</h4>"
                       + _table(["rank", "mistake", "what the grader said", "students", "share"], rows, frozenset({0, 3})))
    if part.unexplained:
        out.append(f"<h4>Wrong answers no known mistake explains: {part.unexplained} student(s)</h4>"
                   "<p class='muted'>Candidates for a new typical mistake in checks.py. The grader's messages, "
                   "numbers shown as #, without the students:</p>"
                   + _table(["message", "students"], [[m, n] for m, n in part.examples], frozenset({1})))
    if part.raised:
        out.append(f"<p>{part.raised} student(s)' code raised an error instead of answering (a stub left in counts).</p>")
    if part.choices:
        answered = sum(part.choices.values())
        out.append("<h4>The class's answers</h4>" + _img(figures.choices(part), f"answers to {part.grade_id}")
                   + _table(["option", "students", "share", ""],
                            [[o, n, _share(n, answered), "right answer" if o == part.right_choice else ""]
                             for o, n in part.choices.items()], frozenset({1})))
    return "".join(out) + "</div>"


def render(summary: ClassSummary, similarity_rows: list[list[object]] | None = None,
           similarity_page: str | None = None) -> str:
    """The whole page. `similarity_rows`: the most similar pairs (student, student, score, matching lines of each)."""
    s = summary
    overview = _table(["part", "kind", "points", "scored", "full marks", "mean", "most common mistake", "unexplained",
                       "raised an error"],
                      [[p.grade_id, p.kind, f"{p.max_score:g}", len(p.scores), _share(p.full_marks, len(p.scores)),
                        "–" if p.mean is None else f"{p.mean:.2f}",
                        f"{p.mistakes[0].key} ({p.mistakes[0].students})" if p.mistakes else "–", p.unexplained, p.raised]
                       for p in s.parts], frozenset({2, 3, 7, 8}))
    glance = _table(["", "", "submissions"], [[group, k, v] for group, counts in (
        ("status", s.statuses), ("code stopped", s.troubles), ("lateness", s.lateness)) for k, v in counts.items()], frozenset({2}))
    similar = ""
    if similarity_rows is not None:
        link = f" <a href='{_e(similarity_page)}'>All pairs, side by side</a>" if similarity_page else ""
        similar = ("<h2 id='similarity'>Most similar submissions</h2><p class='muted'>Students' own code only "
                   "(the released template and given cells excluded), compared on normalised tokens: renaming, "
                   f"reformatting and reordering do not hide a copy. A lead to look at, not a verdict.{link}</p>"
                   + (_table(["student", "student", "similarity", "matching lines"], similarity_rows, frozenset({2}))
                      if similarity_rows else "<p>No pair shares enough code to list.</p>"))
    notes = "".join(f"<li>{_e(n)}</li>" for n in s.notes)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{_e(s.assignment)}: class report</title>
<style>{STYLE}</style></head><body>
<h1>{_e(s.assignment)}: {_e(s.title)}</h1>
<p>{s.submissions} submission(s) graded, due {_e(s.due)}. Scores as the gradebook holds them now (hand grades
included); what each answer got wrong as grading found it.</p>
<h2>At a glance</h2>{_img(figures.statuses(s), "statuses, code stopped and lateness")}{glance}
<h2>Totals</h2>{_img(figures.totals(s), "distribution of totals") if s.totals else "<p>No scores recorded.</p>"}
<h2>Parts</h2>{overview}
{_img(figures.score_distributions(s), "score distribution per part") if any(p.scores for p in s.parts) else ""}
{''.join(_part(p) for p in s.parts)}
{similar}
{f'<h2>Notes</h2><ul>{notes}</ul>' if notes else ''}
</body></html>"""

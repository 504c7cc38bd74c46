"""Per-student HTML feedback: scores and messages per part. Only our messages are shown: never the
notebook's test cells, so hidden tests cannot leak through feedback (nbgrader's known leak)."""
from __future__ import annotations

import html
from pathlib import Path

from ..results import SubmissionResult

STYLE = """body{font-family:system-ui,sans-serif;max-width:52em;margin:2em auto;color:#222}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.4em;text-align:left;vertical-align:top}
.full{color:#176d2c}.part{color:#9a5b00}.none{color:#b00020}.manual{color:#555}ul{margin:.2em 0;padding-left:1.2em}"""


def render(result: SubmissionResult) -> str:
    rows = []
    for p in result.parts:
        if p.score is None:
            cls, score = "manual", f"– / {p.max_score:g} (graded by hand)"
        else:
            cls = "full" if p.score == p.max_score else ("none" if p.score == 0 else "part")
            score = f"{p.score:g} / {p.max_score:g}"
        notes = "".join(f"<li>{html.escape(m)}</li>" for m in p.messages if m != "graded by hand")
        rows.append(f"<tr><td>{html.escape(p.grade_id)}</td><td class='{cls}'>{score}</td><td><ul>{notes}</ul></td></tr>")
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in result.notes)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(result.assignment)} feedback</title>
<style>{STYLE}</style></head><body>
<h1>{html.escape(result.assignment)}: {html.escape(result.notebook)}</h1>
<p>Student <b>{html.escape(result.student)}</b> — score <b>{result.score:g} / {result.max_score:g}</b>
(status: {html.escape(result.status)})</p>
<table><tr><th>part</th><th>score</th><th>what the grader found</th></tr>{''.join(rows)}</table>
{f'<h2>Notes</h2><ul>{notes}</ul>' if notes else ''}
<p>Hidden checks use inputs drawn for you at grading time; a regrade draws the same ones.</p></body></html>"""


def write_feedback(folder: Path, result: SubmissionResult) -> Path:
    path = folder / result.student / result.assignment / (Path(result.notebook).stem + ".html")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(result), encoding="utf-8", errors="backslashreplace")
    return path

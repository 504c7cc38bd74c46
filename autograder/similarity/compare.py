"""The entry point: compare the graded copies of an assignment's submissions (autograded/<student>/<assignment>/)
and write the reports: similarity.html, similarity.csv and similarity.json under reports/<assignment>/."""
from __future__ import annotations

import csv
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..course import Assignment, Course
from ..text import shown, spreadsheet_cell
from .fingerprints import fingerprints, vocabulary
from .page import render
from .pairs import Pair, Span, describe, rank_pairs
from .regions import Line, read_own_code, templates

TOP = 20


@dataclass
class SimilarityResult:
    """The pairs ranked best first, the students compared, and a note for each file that was skipped; `code`
    holds the own lines of the students in the pairs, for the page."""
    assignment: str
    students: list[str]
    pairs: list[Pair]
    notes: list[str]
    code: dict[str, list[Line]] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Sources:
    """What the assignment's source notebooks fix: each solution cell's released template, by notebook name, and
    the names that stay as written in fingerprints."""
    templates: dict[str, dict[str, list[str]]]
    vocabulary: frozenset[str]


def read_sources(course: Course, assignment: Assignment) -> Sources:
    """The templates and vocabulary of the assignment's source notebooks (course files: trusted)."""
    out, names = {}, frozenset()
    for source in assignment.notebooks:
        nb = json.loads((course.root / source).read_text(encoding="utf-8"))
        out[source.name] = templates(nb)
        names |= vocabulary(nb)
    return Sources(out, names)


def read_class(course: Course, assignment: Assignment, sources: Sources) -> tuple[dict[str, list[Line]], list[str]]:
    """(student -> own lines, notes) for every graded copy of the assignment. A student folder that is a link or
    holds a bad notebook is skipped with a note naming it; with several notebooks, each cell is 'notebook/grade_id'."""
    root = course.root / "autograded"
    code: dict[str, list[Line]] = {}
    notes: list[str] = []
    several = len(sources.templates) > 1
    for folder in sorted(root.iterdir()) if root.is_dir() and not root.is_symlink() else []:
        student = folder.name
        where = folder / assignment.id
        if not where.exists() and not where.is_symlink():
            continue  # this student has no graded copy of this assignment
        if folder.is_symlink() or where.is_symlink() or not where.is_dir():
            notes.append(f"{shown(student, 200)}: {shown(where.relative_to(root), 400)} is not a folder; skipped")
            continue
        lines: list[Line] = []
        read = 0
        for name, cell_templates in sources.templates.items():
            own, problem = read_own_code(where / name, cell_templates)
            if problem:
                notes.append(f"{shown(student, 200)}/{shown(name, 200)}: {problem}" + ("; skipped" if own is None else ""))
            if own is None:  # a notebook without a graded copy: the others are still compared
                continue
            read += 1
            lines += [dataclasses.replace(line, cell=f"{Path(name).stem}/{line.cell}") for line in own] if several else own
        if read:
            code[student] = lines
    return code, notes


def similarity(course: Course, assignment: Assignment, top: int = TOP) -> SimilarityResult:
    """The `top` most similar pairs of the assignment's graded submissions, compared on the code each student wrote
    in the solution cells (see regions, fingerprints and pairs). No graded copies: no students, no pairs."""
    sources = read_sources(course, assignment)
    code, notes = read_class(course, assignment, sources)
    prints = {student: fingerprints(lines, sources.vocabulary) for student, lines in code.items()}
    pairs = rank_pairs(prints, top)
    shown_code = {s: code[s] for p in pairs for s in (p.a, p.b)}
    return SimilarityResult(assignment.id, sorted(code), pairs, notes, shown_code)


def _spans(spans: tuple[Span, ...]) -> list[dict[str, object]]:
    return [{"cell": s.cell, "first": s.first, "last": s.last} for s in spans]


def write_similarity(course: Course, result: SimilarityResult) -> list[Path]:
    """reports/<assignment>/similarity.html, .csv and .json; returns their paths."""
    folder = course.root / "reports" / result.assignment
    folder.mkdir(parents=True, exist_ok=True)
    html, table, data = (folder / f"similarity.{ext}" for ext in ("html", "csv", "json"))
    html.write_text(render(result.assignment, len(result.students), result.pairs, result.code, result.notes),
                    encoding="utf-8", errors="backslashreplace")
    with table.open("w", newline="", encoding="utf-8", errors="backslashreplace") as f:
        writer = csv.writer(f)
        writer.writerow(["rank", "student_a", "student_b", "score", "lines_a", "lines_b"])
        writer.writerows([rank, spreadsheet_cell(p.a), spreadsheet_cell(p.b), f"{p.score:.3f}", describe(p.spans_a),
                          describe(p.spans_b)] for rank, p in enumerate(result.pairs, 1))
    data.write_text(json.dumps({
        "assignment": result.assignment, "students": len(result.students), "notes": result.notes,
        "pairs": [{"a": p.a, "b": p.b, "score": round(p.score, 4), "lines_a": _spans(p.spans_a), "lines_b": _spans(p.spans_b)}
                  for p in result.pairs]}, indent=1, ensure_ascii=False))
    return [html, table, data]

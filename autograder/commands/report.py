"""`autograder report ASSIGNMENT | --all`: what the class got wrong, and which submissions are suspiciously alike,
as an HTML page with figures plus CSV and JSON, under reports/<assignment>/. Reads what grading stored."""
from __future__ import annotations

import argparse
import html
import sys
from pathlib import Path

from ..course import Assignment, Course

HELP = "the class report of graded assignments: scores, typical mistakes, polls, statuses and similar pairs"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("assignment", nargs="?", help="an assignment id (or --all)")
    p.add_argument("--all", action="store_true", help="every active assignment that has been graded, with an index page")
    p.add_argument("--top", type=int, default=10, help="similar pairs shown in the report (default 10)")


def report(course: Course, assignment: Assignment, top: int) -> Path:
    """Write reports/<assignment>/: report.html, its data, and the similarity page it links to."""
    from ..reports.class_summary import summarize
    from ..reports.exports import write_data
    from ..reports.page import render
    from ..similarity import similarity, write_similarity
    from ..similarity.pairs import lines_of

    summary = summarize(course, assignment)
    folder = course.root / "reports" / assignment.id
    folder.mkdir(parents=True, exist_ok=True)
    similar = similarity(course, assignment, top=top)
    write_similarity(course, similar)
    pairs = similar.pairs
    rows: list[list[object]] = [[p.a, p.b, f"{p.score:.2f}", f"{len(lines_of(p.spans_a))} / {len(lines_of(p.spans_b))}"] for p in pairs]
    summary.notes += similar.notes
    write_data(folder, summary, [{"first": p.a, "second": p.b, "score": round(p.score, 4)} for p in pairs])
    path = folder / "report.html"
    path.write_text(render(summary, rows, "similarity.html"), encoding="utf-8", errors="backslashreplace")
    return path


def run(course: Course, args: argparse.Namespace) -> int:
    from ..content import ContentError

    if args.all == (args.assignment is not None):
        print("error: name one assignment, or give --all", file=sys.stderr)
        return 2
    if args.top < 1:
        print("error: --top must be at least 1", file=sys.stderr)
        return 2
    try:
        chosen = [course.assignment(args.assignment)] if args.assignment else list(course.active)
    except KeyError as err:
        print(f"error: {err.args[0]}", file=sys.stderr)
        return 2
    written = []
    for assignment in chosen:
        try:
            written.append((assignment, report(course, assignment, args.top)))
        except FileNotFoundError as err:
            if not args.all:
                print(f"error: {err}", file=sys.stderr)
                return 2
            print(f"skipped {assignment.id}: {err}")
        except ContentError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    for assignment, path in written:
        print(f"{assignment.id}: {path}")
    if args.all:
        if not written:
            print("error: no assignment has been graded yet: run `autograder grade ASSIGNMENT` first", file=sys.stderr)
            return 2
        index = course.root / "reports" / "index.html"
        links = "".join(f"<li><a href='{html.escape(a.id)}/report.html'>{html.escape(a.id)}</a>: {html.escape(a.title)}</li>"
                        for a, _ in written)
        index.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(course.title)}: "
                         f"class reports</title></head><body><h1>{html.escape(course.title)}</h1><ul>{links}</ul>"
                         "</body></html>", encoding="utf-8")
        print(f"index: {index}")
    return 0

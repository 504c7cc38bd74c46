"""The report's figures as PNG data URIs, drawn with matplotlib's object API (no pyplot state, no display)."""
from __future__ import annotations

import base64
import io

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .class_summary import ClassSummary, PartSummary

BLUE, GREEN, ORANGE, GREY = "#3b6ea8", "#2e8b57", "#d9822b", "#9a9a9a"


def _data_uri(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def score_distributions(summary: ClassSummary) -> str:
    """One histogram per part: how many students earned each score, the full-marks bar in green."""
    parts = [p for p in summary.parts if p.scores]
    cols = min(4, max(1, len(parts)))
    rows = max(1, -(-len(parts) // cols))
    fig = Figure(figsize=(3.2 * cols, 2.4 * rows))
    for i, part in enumerate(parts):
        ax = fig.add_subplot(rows, cols, i + 1)
        counts: dict[float, int] = {}
        for s in part.scores:
            counts[s] = counts.get(s, 0) + 1
        xs = sorted(counts)
        width = max(part.max_score / 20, 0.05)
        ax.bar(xs, [counts[x] for x in xs], width=width,
               color=[GREEN if x >= part.max_score else BLUE for x in xs])
        ax.set_xlim(-width, part.max_score + width)
        ax.set_title(f"{part.grade_id}\n{part.full_marks / len(part.scores):.0%} full marks", fontsize=9)
        ax.set_xlabel("score", fontsize=8)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return _data_uri(fig)


def totals(summary: ClassSummary) -> str:
    """The distribution of students' totals after the late policy."""
    fig = Figure(figsize=(6, 2.6))
    ax = fig.add_subplot()
    ax.hist(summary.totals, bins=min(20, max(5, len(set(summary.totals)))), range=(0, summary.max_score), color=BLUE)
    ax.set_xlabel(f"total score (of {summary.max_score:g})")
    ax.set_ylabel("students")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return _data_uri(fig)


def mistakes(part: PartSummary) -> str:
    """The part's known mistakes by how many students made them, and the wrong answers none explains."""
    labels = [m.key for m in part.mistakes] + (["no known mistake"] if part.unexplained else [])
    counts = [m.students for m in part.mistakes] + ([part.unexplained] if part.unexplained else [])
    fig = Figure(figsize=(6, 0.5 + 0.35 * len(labels)))
    ax = fig.add_subplot()
    ax.barh(labels[::-1], counts[::-1], color=([GREY] if part.unexplained else []) + [ORANGE] * len(part.mistakes))
    ax.set_xlabel("students")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.tick_params(labelsize=8)
    return _data_uri(fig)


def choices(part: PartSummary) -> str:
    """The class's answers to a multiple-choice question, the right one in green."""
    options = list(part.choices)
    total = sum(part.choices.values()) or 1
    fig = Figure(figsize=(5, 0.5 + 0.35 * len(options)))
    ax = fig.add_subplot()
    ax.barh(options[::-1], [part.choices[o] / total for o in options[::-1]],
            color=[GREEN if o == part.right_choice else BLUE for o in options[::-1]])
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the class")
    return _data_uri(fig)


def statuses(summary: ClassSummary) -> str:
    """Statuses, troubles and lateness side by side, counted in submissions."""
    groups = [("status", summary.statuses), ("code stopped", summary.troubles), ("lateness", summary.lateness)]
    groups = [(name, data) for name, data in groups if data]
    fig = Figure(figsize=(3.2 * len(groups), 2.6))
    for i, (name, data) in enumerate(groups):
        ax = fig.add_subplot(1, len(groups), i + 1)
        ax.barh(list(data)[::-1], list(data.values())[::-1], color=BLUE)
        ax.set_title(name, fontsize=9)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=8)
    fig.tight_layout()
    return _data_uri(fig)

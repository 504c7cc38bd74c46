"""The report's data as files a spreadsheet or a script reads: report.json (everything) and one CSV per table."""
from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path
from typing import Any

from ..text import spreadsheet_cell
from .class_summary import ClassSummary


def _csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    """One table; a cell a spreadsheet would read as a formula (=, +, -, @ first) is quoted with a ' first."""
    with path.open("w", newline="", encoding="utf-8", errors="backslashreplace") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows([[spreadsheet_cell(c) for c in row] for row in rows])


def write_data(folder: Path, summary: ClassSummary, similar: list[dict[str, Any]] | None = None) -> list[Path]:
    """report.json, parts.csv, mistakes.csv, choices.csv and statuses.csv in `folder`."""
    data = dataclasses.asdict(summary) | ({"similar_pairs": similar} if similar is not None else {})
    (folder / "report.json").write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8",
                                        errors="backslashreplace")
    _csv(folder / "parts.csv", ["part", "kind", "max_score", "graded", "scored", "full_marks", "mean",
                                "waiting_for_hand_grading", "unexplained_wrong", "raised_an_error"],
         [[p.grade_id, p.kind, p.max_score, p.answered, len(p.scores), p.full_marks,
           "" if p.mean is None else round(p.mean, 3), p.waiting, p.unexplained, p.raised] for p in summary.parts])
    _csv(folder / "mistakes.csv", ["part", "rank", "mistake", "message", "students", "share"],
         [[p.grade_id, i + 1, m.key, m.message, m.students, round(m.students / p.answered, 4) if p.answered else ""]
          for p in summary.parts for i, m in enumerate(p.mistakes)])
    _csv(folder / "choices.csv", ["part", "option", "students", "right"],
         [[p.grade_id, o, k, o == p.right_choice] for p in summary.parts for o, k in p.choices.items()])
    _csv(folder / "statuses.csv", ["group", "name", "submissions"],
         [[group, k, v] for group, counts in (("status", summary.statuses), ("code stopped", summary.troubles),
                                               ("lateness", summary.lateness)) for k, v in counts.items()])
    return [folder / name for name in ("report.json", "parts.csv", "mistakes.csv", "choices.csv", "statuses.csv")]

"""What grading found, kept per submission as JSON, so that the class report needs no regrading:
results/<assignment>/<student>/<notebook stem>.json under the course folder, replaced at each grading."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from ..results import PartResult, SubmissionResult
from ..text import shown

FOLDER = "results"
MAX_BYTES = 4 << 20  # far above what grading writes (texts capped below): a larger file is not ours
KEPT = 100  # notes of a submission, and messages of a part, kept


def result_path(root: Path, result: SubmissionResult) -> Path:
    return root / FOLDER / result.assignment / result.student / (Path(result.notebook).stem + ".json")


def _capped(texts: list[str]) -> list[str]:
    """At most KEPT texts of at most 2000 characters each: a submission cannot make its result too large to read."""
    kept = [shown(t, 2000) for t in texts[:KEPT]]
    return kept + ([f"... and {len(texts) - KEPT} more"] if len(texts) > KEPT else [])


def write_result(root: Path, result: SubmissionResult) -> Path:
    """Replace the stored result of this student's notebook (written aside, then renamed: never half a file)."""
    data = dataclasses.asdict(result)
    data["notes"] = _capped(result.notes)
    for part in data["parts"]:
        part["messages"] = _capped(part["messages"])
    data["submitted_at"] = result.submitted_at.isoformat() if result.submitted_at else None
    data["graded_file"] = None  # where the file was read is the grading machine's business
    del data["timings"]  # how long grading took says nothing about the submission
    path = result_path(root, result)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8", errors="backslashreplace")
    os.replace(partial, path)
    return path


def _result(data: dict[str, Any]) -> SubmissionResult:
    parts = [PartResult(**p) for p in data.pop("parts")]
    when = data.pop("submitted_at")
    data.pop("graded_file", None)
    data.pop("timings", None)
    return SubmissionResult(parts=parts, submitted_at=dt.datetime.fromisoformat(when) if when else None, **data)


def read_results(root: Path, assignment: str) -> tuple[list[SubmissionResult], list[str]]:
    """Every stored result of `assignment`, sorted by student and notebook, and a note for each file that could
    not be read (named, with what is wrong): a damaged file costs its own row, not the report."""
    folder = root / FOLDER / assignment
    results, notes = [], []
    for path in sorted(folder.glob("*/*.json")) if folder.is_dir() else []:
        try:
            if path.is_symlink() or path.stat().st_size > MAX_BYTES:
                raise ValueError("a link or a file larger than any result grading writes")
            results.append(_result(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as err:
            notes.append(f"{path}: not a stored result ({type(err).__name__}: {err}); grade the assignment again")
    results.sort(key=lambda r: (r.student, r.notebook))
    return results, notes

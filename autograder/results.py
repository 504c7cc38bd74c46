"""What grading one submission produces. Plain data, no torch: recording, feedback and reports read it."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path


NEEDS_REGRADE = "error"  # the status of a submission the grader could not grade (a machine fault, a bug of ours)


@dataclass
class PartResult:
    grade_id: str
    score: float | None  # None: left to manual grading
    max_score: float
    messages: list[str] = field(default_factory=list)
    mistakes: dict[str, int] = field(default_factory=dict)  # known mistake (its key in checks.py) -> cases it explains
    unexplained: list[str] = field(default_factory=list)  # wrong outputs no known mistake explains (a few cases)
    raised: int = 0  # cases where the student's code raised an error instead of answering (a stub left: all of them)
    answer: str | None = None  # a multiple-choice part: the option chosen (an option exactly, anything else shortened)


@dataclass
class SubmissionResult:
    student: str
    assignment: str
    notebook: str
    parts: list[PartResult]
    status: str = "graded"  # graded | modified | unreadable | wrong-notebook | missing | error
    notes: list[str] = field(default_factory=list)
    troubles: list[str] = field(default_factory=list)  # what stopped the student's code: "timed out", "limit hit"
    late_multiplier: float = 1.0
    submitted_at: dt.datetime | None = None
    graded_file: Path | None = None  # the submitted file that was read (its name may differ from `notebook`)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per grading step (see benchmarks/); never stored

    @property
    def needs_regrade(self) -> bool:
        """No grade at all: its scores are neither recorded nor exported, and the summary says so."""
        return self.status == NEEDS_REGRADE

    @property
    def max_score(self) -> float:
        return sum(p.max_score for p in self.parts)

    @property
    def raw_score(self) -> float:
        return sum(p.score or 0.0 for p in self.parts)

    @property
    def score(self) -> float:
        return round(self.raw_score * self.late_multiplier, 2)

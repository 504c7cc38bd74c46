"""One assignment's results across the class, from what grading stored: the scores from the gradebook (as
formgrader may since have changed them) and what each grading found from the stored results. No regrading."""
from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass, field

from ..content import checks_of
from ..course import Assignment, Course
from ..grading.intake import REFUSED
from ..grading.parts import ChoiceCheck, PartCheck
from ..notebook import answer_key, graded_cells, read_notebook
from ..records.gradebook import open_gradebook
from ..records.stored_results import read_results
from ..results import NEEDS_REGRADE, SubmissionResult

EXAMPLES = 5  # unexplained wrong answers shown per part
NO_ANSWER, OTHER_ANSWER = "(no answer)", "(not one of the options)"
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


@dataclass
class Mistake:
    """A typical mistake of a part, and how many students made it."""

    key: str  # its key in the assignment's checks.py
    message: str  # what the grader told each student who made it
    students: int


@dataclass
class PartSummary:
    """One part across the class: its scores, its typical mistakes ranked, what no known mistake explains, its poll."""

    grade_id: str
    kind: str  # "code" (checked on hidden cases), "choice" or "manual" (prose, graded by hand)
    max_score: float
    scores: list[float] = field(default_factory=list)  # one per student with a recorded score
    waiting: int = 0  # answers still to be graded by hand
    answered: int = 0  # graded submissions (graded or modified): what the shares of mistakes and answers are of
    mistakes: list[Mistake] = field(default_factory=list)  # most common first
    unexplained: int = 0  # students with a wrong output that no known mistake explains
    raised: int = 0  # students whose code raised an error instead of answering (a stub left counts)
    examples: list[tuple[str, int]] = field(default_factory=list)  # (the grader's message, numbers as #; students)
    choices: dict[str, int] = field(default_factory=dict)  # option -> students who chose it (choice parts)
    right_choice: str | None = None

    @property
    def full_marks(self) -> int:
        """Students with every point of the part."""
        return sum(s >= self.max_score for s in self.scores)

    @property
    def mean(self) -> float | None:
        """The mean score, None where nobody was scored yet."""
        return statistics.fmean(self.scores) if self.scores else None


@dataclass
class ClassSummary:
    """One assignment across the class: what the report's page, CSV and JSON show."""

    assignment: str
    title: str
    due: str
    max_score: float
    submissions: int  # stored results of the notebooks the assignment lists (one per student and notebook)
    totals: list[float]  # each student's total after the late policy, from the gradebook
    parts: list[PartSummary]
    statuses: dict[str, int]  # graded, modified, missing, unreadable, wrong-notebook, needs regrade, result unreadable,
    # no submission (students the gradebook knows, with no result)
    troubles: dict[str, int]  # submissions whose code timed out or hit a limit
    lateness: dict[str, int]  # on time, late (penalised), too late (nothing kept)
    hours_late: list[float]  # per late submission
    notes: list[str]  # stored results left out (unreadable, or of a notebook no longer listed), and the report's own


def _part_kinds(course: Course, assignment: Assignment, checks: dict[str, PartCheck | ChoiceCheck]
                ) -> dict[str, tuple[str, float, str | None]]:
    """grade_id -> (kind, points, right answer of a choice), from the source notebooks and checks.py."""
    kinds = {}
    for source in assignment.notebooks:
        for cell in graded_cells(read_notebook(course.root / source)):
            check = checks.get(cell.grade_id)
            kind = "manual" if cell.cell_type == "markdown" else "choice" if isinstance(check, ChoiceCheck) else "code"
            kinds[cell.grade_id] = (kind, cell.points, str(answer_key(cell)) if kind == "choice" else None)
    return kinds


def _gradebook(course: Course, assignment: Assignment) -> tuple[dict[tuple[str, str], tuple[float, bool]],
                                                                  dict[str, float], list[str]]:
    """((student, grade_id) -> (score, waiting for a hand grade), student -> total, every student the gradebook
    knows). An assignment the gradebook does not know yet has no scores."""
    from nbgrader.api import MissingEntry

    scores, totals = {}, {}
    with open_gradebook(course) as gb:
        students = [s.id for s in gb.students]
        try:
            submissions = gb.find_assignment(assignment.id).submissions
        except MissingEntry:
            return scores, totals, students
        for sub in submissions:
            totals[sub.student.id] = round(sub.score - (sub.late_submission_penalty or 0.0), 2)
            for nb in sub.notebooks:
                for grade in nb.grades:
                    waiting = bool(grade.needs_manual_grade) and grade.manual_score is None
                    scores[(sub.student.id, grade.name)] = (float(grade.score), waiting)
    return scores, totals, students


def _lateness(results: list[SubmissionResult], assignment: Assignment) -> tuple[dict[str, int], list[float]]:
    """Submissions on time, late (penalised) and too late (nothing kept); how many hours late each late one was."""
    counts, hours = Counter[str](), []
    for r in results:  # a submission without a time was graded as on time, and is counted so
        if r.status in ("missing", NEEDS_REGRADE, *REFUSED):
            continue
        if r.late_multiplier >= 1 or r.submitted_at is None:
            counts["on time"] += 1
            continue
        counts["late, penalised" if r.late_multiplier > 0 else "too late, nothing kept"] += 1
        hours.append(round((r.submitted_at - assignment.due).total_seconds() / 3600, 2))
    return dict(counts), sorted(hours)


def _example(message: str) -> str:
    """A wrong output's message with its numbers hidden, so that the same wrong answer groups across students
    (whose hidden cases differ)."""
    return NUMBER.sub("#", message)


def summarize(course: Course, assignment: Assignment) -> ClassSummary:
    """The class summary of one assignment; an error naming what to run when nothing was graded yet. Results of a
    notebook the assignment no longer lists are left out, with a note; a result that needs regrading counts only
    as such (its scores stay those the gradebook held, its findings are not counted)."""
    stored, notes = read_results(course.root, assignment.id)
    if not stored and not notes:
        raise FileNotFoundError(f"nothing graded for {assignment.id} yet (no {course.root / 'results' / assignment.id}):"
                                f" run `autograder grade {assignment.id}` first")
    unreadable = len(notes)
    listed = {source.name for source in assignment.notebooks}
    results = [r for r in stored if r.notebook in listed]
    notes += [f"{r.student}: a result for {r.notebook}, which {assignment.id} no longer lists, was left out"
              for r in stored if r.notebook not in listed]
    checks = checks_of(course, assignment)
    kinds = _part_kinds(course, assignment, checks)
    scores, totals, known = _gradebook(course, assignment)
    parts = {gid: PartSummary(gid, kind, points, right_choice=right) for gid, (kind, points, right) in kinds.items()}
    mistakes: dict[str, Counter[str]] = {gid: Counter() for gid in parts}
    examples: dict[str, Counter[str]] = {gid: Counter() for gid in parts}
    for r in results:
        for p in r.parts:
            part = parts.get(p.grade_id)
            if part is None:  # a part the assignment no longer has: its stored result is history
                continue
            if (r.student, p.grade_id) in scores:
                score, waiting = scores[(r.student, p.grade_id)]
                part.waiting += waiting
                if not waiting:
                    part.scores.append(score)
            if r.needs_regrade or r.status not in ("graded", "modified"):
                continue
            part.answered += 1
            mistakes[p.grade_id].update(p.mistakes.keys())
            part.raised += p.raised > 0
            if p.unexplained:
                part.unexplained += 1
                examples[p.grade_id].update({_example(m) for m in p.unexplained})
            if part.kind == "choice":
                options = checks[p.grade_id].options if isinstance(checks.get(p.grade_id), ChoiceCheck) else []
                answer = NO_ANSWER if p.answer is None else p.answer if p.answer in options else OTHER_ANSWER
                part.choices[answer] = part.choices.get(answer, 0) + 1
    for gid, part in parts.items():
        check = checks.get(gid)
        said = check.messages if isinstance(check, PartCheck) else {}
        part.mistakes = [Mistake(key, said.get(key, key), n)
                         for key, n in sorted(mistakes[gid].items(), key=lambda item: (-item[1], item[0]))]
        part.examples = sorted(examples[gid].items(), key=lambda item: (-item[1], item[0]))[:EXAMPLES]
        if part.kind == "choice":
            offered = checks[gid].options if isinstance(checks.get(gid), ChoiceCheck) else []
            part.choices = {o: part.choices.get(o, 0) for o in offered} | \
                {k: v for k, v in part.choices.items() if k not in offered}
    statuses = Counter("needs regrade" if r.needs_regrade else r.status for r in results)
    statuses["result unreadable"] = unreadable
    folder = course.root / "results" / assignment.id
    seen = {r.student for r in results} | {p.name for p in folder.iterdir() if p.is_dir()}
    statuses["no submission"] = sum(s not in seen for s in known)
    graded = [r for r in results if not r.needs_regrade]
    lateness, hours = _lateness(graded, assignment)
    return ClassSummary(
        assignment.id, assignment.title, assignment.due.isoformat(), sum(p.max_score for p in parts.values()),
        len(results), sorted(totals[s] for s in {r.student for r in results} if s in totals), list(parts.values()),
        {k: v for k, v in sorted(statuses.items()) if v}, dict(sorted(Counter(t for r in graded for t in r.troubles).items())),
        lateness, hours, notes)

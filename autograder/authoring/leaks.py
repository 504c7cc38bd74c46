"""Answers that travel between assignments: a cell that one assignment's notebook releases and that holds the
solution of another assignment's graded part. Released before that part is due, it hands out the answer, so
`autograder validate` warns (a later assignment should use PyTorch's own module, or the student's new code)."""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..content import ContentError, checks_of
from ..course import Course
from ..notebook import HIDDEN, read_notebook
from .mutants import part_of, solution_lines

SIGNIFICANT = 24  # characters: shorter lines (return x, super().__init__()) are everyone's, not an answer


def _significant(line: str) -> str | None:
    line = line.strip()
    return line if len(line) >= SIGNIFICANT and not line.startswith("#") else None


def answers(nb: Any, targets: dict[str, str]) -> dict[str, set[str]]:
    """Graded part -> the significant lines of its solution regions."""
    out: dict[str, set[str]] = defaultdict(set)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        lines = cell.source.split("\n")
        for n in sorted(solution_lines(cell.source)):
            line = _significant(lines[n - 1])
            if line:
                out[part_of(cell.source, n, targets)].add(line)
    return out


def shipped(nb: Any) -> dict[int, set[str]]:
    """Cell number -> the significant lines its release keeps (solution regions and hidden tests removed)."""
    out = {}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        source = HIDDEN.sub("", cell.source)
        keep = set(range(1, source.count("\n") + 2)) - solution_lines(source)
        lines = source.split("\n")
        out[i] = {line for n in keep if (line := _significant(lines[n - 1]))}
    return out


def leaks(course: Course) -> list[str]:
    """A warning for each released cell that holds two or more lines (or all) of another assignment's answer."""
    found = []
    for other in course.active:
        try:
            targets = {p.target: p.id for p in checks_of(course, other).values() if hasattr(p, "target")}
        except ContentError:
            continue  # validate reports it where it belongs
        solved = {part: lines for nb_path in other.notebooks
                  for part, lines in answers(read_notebook(course.root / nb_path), targets).items()}
        for assignment in course.active:
            if assignment.id == other.id:
                continue
            for nb_path in assignment.notebooks:
                for cell, lines in shipped(read_notebook(course.root / nb_path)).items():
                    for part, answer in solved.items():
                        common = sorted(answer & lines)
                        if len(common) >= 2 or (common and len(common) == len(answer)):
                            found.append(f"warning: {nb_path}: cell {cell + 1} holds the answer to {other.id}'s {part} "
                                         f"({len(common)} of its {len(answer)} lines, such as {common[0]!r}): release "
                                         f"{assignment.id} only after {other.id} is due, or use PyTorch's own module there")
    return found

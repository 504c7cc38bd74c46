"""`autograder validate`: everything an instructor can get wrong before releasing, listed with file and cell."""
from __future__ import annotations

from pathlib import Path

from .checks.registry import checks_for
from .checks.spec import ChoiceCheck, PartCheck
from .course import Assignment, Course
from .grading import grade_notebook
from .notebook import HIDDEN, GradedCell, answer_key, nbgrader_meta, read_notebook


def validate_markup(course: Course, assignment: Assignment, source: Path) -> list[str]:
    problems: list[str] = []
    path = course.root / source
    where = lambda i, gid=None: f"{source}: cell {i + 1}" + (f" ({gid})" if gid else "")
    if source.parts[:2] != ("assignments", assignment.id):
        problems.append(f"{source}: must lie in assignments/{assignment.id}/ (nbgrader's source layout)")
    try:
        nb = read_notebook(path)
    except Exception as err:
        return problems + [f"{source}: not a readable notebook ({err})"]
    ids: dict[str, int] = {}
    checks = checks_for(assignment.id)
    total = 0.0
    for i, cell in enumerate(nb.cells):
        meta = nbgrader_meta(cell)
        if not meta:
            continue
        gid = meta.get("grade_id")
        if not gid:
            problems.append(f"{where(i)}: nbgrader cell without a grade_id")
            continue
        if gid in ids:
            problems.append(f"{where(i, gid)}: grade_id also used by cell {ids[gid] + 1}")
        ids[gid] = i
        src = cell.source
        if meta.get("solution") and cell.cell_type == "code" and src.count("### BEGIN SOLUTION") != src.count("### END SOLUTION"):
            problems.append(f"{where(i, gid)}: unbalanced BEGIN/END SOLUTION markers")
        if src.count("### BEGIN HIDDEN TESTS") != src.count("### END HIDDEN TESTS"):
            problems.append(f"{where(i, gid)}: unbalanced BEGIN/END HIDDEN TESTS markers")
        if not meta.get("grade"):
            continue
        points = meta.get("points")
        if not isinstance(points, (int, float)) or points <= 0:
            problems.append(f"{where(i, gid)}: a grade cell needs positive points, has {points!r}")
            continue
        total += points
        if cell.cell_type == "markdown":
            if not meta.get("solution"):
                problems.append(f"{where(i, gid)}: a graded markdown cell must be an answer cell (solution) for manual grading")
            continue
        check = checks.get(gid)
        if check is None:
            problems.append(f"{where(i, gid)}: no check is registered for this grade cell")
        elif isinstance(check, ChoiceCheck):
            try:
                key = answer_key(GradedCell(gid, float(points), "code", src))
                if key not in check.options:
                    problems.append(f"{where(i, gid)}: ANSWER {key!r} is not one of the options {check.options}")
            except (ValueError, SyntaxError) as err:
                problems.append(f"{where(i, gid)}: {err}")
        elif isinstance(check, PartCheck) and not HIDDEN.search(src):
            problems.append(f"{where(i, gid)}: grade cell has no hidden-tests region")
    if total != assignment.points:
        problems.append(f"{source}: grade cells add up to {total:g} points, course.yml gives {assignment.id} {assignment.points:g}")
    return problems


def validate(course: Course) -> list[str]:
    """Problems with course.yml's assignments and their notebooks; sources graded as submissions must earn full marks."""
    problems = []
    for assignment in course.active:
        for source in assignment.notebooks:
            found = validate_markup(course, assignment, source)
            problems += found
            if found:
                continue
            result = grade_notebook(course, assignment, source, course.root / source, "validate")
            for part in result.parts:
                if part.score is not None and part.score < part.max_score:
                    problems.append(f"{source}: the source earns {part.score:g}/{part.max_score:g} on {part.grade_id}: "
                                    + "; ".join(part.messages[:3]))
            problems += [f"{source}: {note}" for note in result.notes]
    return problems

"""`autograder validate`: everything an instructor can get wrong before releasing, listed with file and cell."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..course import Assignment, Course

HELP = "check course.yml, the notebooks' markup and checks, and that sources earn full marks"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mutants", nargs="*", metavar="ASSIGNMENT", default=None,
                   help="instead: mutate the solutions of these assignments (default: every active one), grade each "
                        "mutant and report those that still earn full marks, part by part")
    p.add_argument("--jobs", type=int, default=1, help="with --mutants: mutants graded at once")
    p.add_argument("--max-per-part", type=int, default=None, metavar="N",
                   help="with --mutants: grade at most N mutants per part, the same sample on every run")
    p.add_argument("--timeout", type=float, default=10.0, metavar="S",
                   help="with --mutants: seconds per check, in place of course.yml's, so that a mutant that loops "
                        "forever costs little (default: 10)")


def validate_markup(course: Course, assignment: Assignment, source: Path) -> list[str]:
    from ..content import ContentError, checks_of, folder_of, part_for  # torch and nbformat: not at start-up
    from ..notebook import GradedCell, nbgrader_meta, read_notebook

    problems: list[str] = []
    where = lambda i, gid=None: f"{source}: cell {i + 1}" + (f" ({gid})" if gid else "")  # noqa: E731
    if source.parts[:2] != ("assignments", assignment.id):
        problems.append(f"{source}: must lie in assignments/{assignment.id}/ (nbgrader's source layout)")
    try:
        nb = read_notebook(course.root / source)
    except Exception as err:
        return problems + [f"{source}: not a readable notebook ({err})"]
    try:
        checks = checks_of(course, assignment)
    except ContentError as err:
        return problems + [str(err)]
    ids: dict[str, int] = {}
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
        graded = GradedCell(gid, float(points), cell.cell_type, src, bool(meta.get("solution")))
        part = part_for(checks, graded)
        if part is None:
            problems.append(f"{where(i, gid)}: no part in {folder_of(course, assignment).name}/checks.py grades this cell")
            continue
        problems += [f"{where(i, gid)}: {problem}" for problem in part.validate(graded)]
    if total != assignment.points:
        problems.append(f"{source}: grade cells add up to {total:g} points, course.yml gives {assignment.id} {assignment.points:g}")
    return problems


def validate(course: Course) -> list[str]:
    """Problems with course.yml's assignments and their notebooks; sources graded as submissions must earn full marks."""
    from ..grading.pipeline import grade_notebook

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


def validate_mutants(course: Course, args: argparse.Namespace) -> int:
    """The mutation report of each named (or every active) assignment: 0 whatever it says, as it is an aid to
    authors; 1 where an assignment's markup keeps it from being tested, 2 for an unknown assignment."""
    from ..authoring.mutants import mutation_reports, render
    from ..content import ContentError

    try:
        chosen = [course.assignment(a) for a in args.mutants] if args.mutants else list(course.active)
    except KeyError as err:
        print(f"error: {err.args[0]}", file=sys.stderr)
        return 2
    code = 0
    for assignment in chosen:
        problems = [p for source in assignment.notebooks for p in validate_markup(course, assignment, source)]
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            code = 1
            continue
        try:
            for report in mutation_reports(course, assignment, args.jobs, args.max_per_part, args.timeout):
                print(render(report) + "\n", flush=True)
        except ContentError as err:
            print(f"error: {err}", file=sys.stderr)
            code = 1
    return code


def run(course: Course, args: argparse.Namespace) -> int:
    if args.mutants is not None:
        return validate_mutants(course, args)
    from ..authoring.leaks import leaks  # reads notebooks: not at start-up

    problems = validate(course)
    warnings = leaks(course)
    for line in problems + warnings:
        print(line, file=sys.stderr)
    counted = f" ({len(warnings)} warning(s))" if warnings else ""
    print(("course is valid" if not problems else f"{len(problems)} problem(s)") + counted)
    return 1 if problems else 0

"""`autograder demo` (`make demo`): the instructor's whole job on the shipped course, in demo-out/.

validate -> release -> example submissions (complete, a typical bug, late, untouched) -> grade -> report.
"""
from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
from pathlib import Path

from ..course import Assignment, Course, copy_course, load_course
from .configure import configure
from .grade import summary
from .outline import render_outline
from .report import report
from .release import release
from .validate import validate

HELP = "the whole instructor workflow on the shipped course: validate, release, grade examples"

EXAMPLES = {
    "ada": ("the source solution, on time", None, 0),
    "ben": ("a typical bug in each assignment:", "bug", 0),
    "cy": ("the source solution, two days late", None, 2),
    "dee": ("the untouched release notebook", "release", 0),
}


def demo_mistake(course: Course, assignment: Assignment) -> tuple[str, list[tuple[str, str]]] | None:
    """The first typical mistake of the assignment's mistakes.py: (what it is, its edits of the solution)."""
    from ..content import folder_of, load_module  # imports torch: not at start-up

    module = load_module(folder_of(course, assignment), "mistakes")
    mistakes = getattr(module, "MISTAKES", [])
    return (mistakes[0][0], mistakes[0][2]) if mistakes else None


def make_examples(course: Course, folder: Path) -> None:
    """submitted/<student>/<assignment>/ in nbgrader's layout, with nbgrader's timestamp.txt."""
    import nbformat

    for assignment in course.active:
        for student, (_, edit, days_late) in EXAMPLES.items():
            target = folder / student / assignment.id
            target.mkdir(parents=True, exist_ok=True)
            for source in assignment.notebooks:
                origin = course.root / "release" / assignment.id / source.name if edit == "release" else course.root / source
                nb = nbformat.read(str(origin), as_version=4)
                mistake = demo_mistake(course, assignment) if edit == "bug" else None
                for old, new in mistake[1] if mistake else []:
                    for cell in nb.cells:
                        cell.source = cell.source.replace(old, new)
                nbformat.write(nb, str(target / source.name))
            when = assignment.due - dt.timedelta(days=1) + dt.timedelta(days=days_late + (1 if days_late else 0))
            (target / "timestamp.txt").write_text(when.strftime("%Y-%m-%d %H:%M:%S.%f %Z"))


def run_demo(course: Course) -> int:
    from ..grading.batch import grade_batch  # imports torch: not at start-up

    work = course.root / "demo-out"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir()
    copy_course(course.root, work)
    demo = load_course(work / "course.yml")
    print(render_outline(demo), "\n")
    configure(demo)  # formgrader in `jupyter lab` there lists the assignments; source notebooks run in place

    problems = validate(demo)
    print("1. validate: " + ("course and notebooks are valid" if not problems else "\n   ".join(problems)))
    if problems:
        return 1
    for assignment in demo.active:
        print(f"2. release: {release(demo, assignment).relative_to(course.root)} (solutions, hidden tests and keys removed)")
    make_examples(demo, work / "submitted")
    print("3. example submissions in demo-out/submitted/:")
    for student, (what, _, _) in EXAMPLES.items():
        print(f"   {student:<4} {what}")
    for assignment in demo.active:
        mistake = demo_mistake(demo, assignment)
        print(f"        {assignment.id}: {mistake[0] if mistake else 'none listed (no mistakes.py)'}")
    not_graded = []
    for assignment in demo.active:
        print(f"4. grade {assignment.id} (2 jobs):")
        results = grade_batch(demo, assignment, work / "submitted", jobs=2, progress=False)
        print(summary(results))
        not_graded += [f"{assignment.id}, {r.student}: {'; '.join(r.notes)}" for r in results if r.needs_regrade]
        ben = next((r for r in results if r.student == "ben" and not r.needs_regrade), None)
        failing = [f"{p.grade_id}: {p.messages[0]}" for p in ben.parts if p.messages and p.score is not None
                   and p.score < p.max_score] if ben else []
        if failing:
            print(f"   ben's feedback says: {failing[0]}")
        print(f"5. report: {report(demo, assignment, top=5).relative_to(course.root)} (what the class got wrong, "
              "similar pairs)")
    print(f"\ngrades:    {(work / 'grades.csv').relative_to(course.root)}")
    print(f"feedback:  {(work / 'feedback').relative_to(course.root)}/<student>/<assignment>/<notebook>.html")
    print(f"gradebook: {demo.db_url} (free-text answers: `jupyter lab` in demo-out/, then Nbgrader > Formgrader)")
    if not_graded:
        print("error: the demo could not grade every example:\n  " + "\n  ".join(not_graded), file=sys.stderr)
    return 1 if not_graded else 0


def run(course: Course, args: argparse.Namespace) -> int:
    return run_demo(course)

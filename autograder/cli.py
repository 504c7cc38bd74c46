"""The `autograder` command line: run it in the folder that holds course.yml."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .course import CourseError, load_course


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="autograder", description="The transformer course kit's autograder.")
    parser.add_argument("--course", type=Path, default=Path("course.yml"), help="path to course.yml (default: ./course.yml)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("outline", help="check course.yml and print the course outline")
    sub.add_parser("demo", help="the whole instructor workflow on the shipped course: validate, release, grade examples")
    sub.add_parser("validate", help="check course.yml, the notebooks' markup and checks, and that sources earn full marks")
    p = sub.add_parser("release", help="build the student release of assignments (all active ones by default)")
    p.add_argument("assignments", nargs="*")
    p = sub.add_parser("check", help="run a notebook's visible self-checks from the command line")
    p.add_argument("notebook", type=Path)
    p = sub.add_parser("grade", help="grade every submission of an assignment")
    p.add_argument("assignment")
    p.add_argument("--submissions", type=Path, default=None, help="folder of <student>/<assignment>/ (default: submitted/)")
    p.add_argument("--jobs", type=int, default=1, help="submissions graded at once")
    p.add_argument("--unsafe", action="store_true", help="grade even where student code cannot be kept from the course files")
    sub.add_parser("doctor", help="which protections this machine gives the grader")
    p = sub.add_parser("export", help="export the gradebook")
    p.add_argument("--format", choices=["csv", "gradescope"], default="csv")
    p.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    try:
        course = load_course(args.course)
    except CourseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.command == "outline":
        from .outline import render_outline
        print(render_outline(course))
        return 0
    if args.command == "demo":
        from .demo import run_demo
        return run_demo(course)
    if args.command == "validate":
        from .validate import validate
        problems = validate(course)
        for problem in problems:
            print(problem, file=sys.stderr)
        print("course is valid" if not problems else f"{len(problems)} problem(s)")
        return 1 if problems else 0
    if args.command == "release":
        from .release import release
        for aid in args.assignments or [a.id for a in course.active]:
            print(f"released {aid} -> {release(course, course.assignment(aid))}")
        return 0
    if args.command == "check":
        from .selfcheck_cli import check_notebook
        return check_notebook(course, args.notebook)
    if args.command == "doctor":
        from .doctor import report
        print(report())
        return 0
    if args.command == "grade":
        from .batch import grade_batch, summary
        from .doctor import safe_to_grade

        safe, why = safe_to_grade()
        if not safe and not args.unsafe:
            print(f"error: {why}", file=sys.stderr)
            return 3
        try:
            assignment = course.assignment(args.assignment)
            results = grade_batch(course, assignment, args.submissions or course.root / "submitted", args.jobs)
        except (KeyError, FileNotFoundError, RuntimeError) as err:
            print(f"error: {err.args[0]}", file=sys.stderr)
            return 2
        print(summary(results))
        print(f"\ngrades: {course.root / 'grades.csv'}   feedback: {course.root / 'feedback'}")
        return 0
    if args.command == "export":
        from .export import export
        print(export(course, args.format, args.out))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())

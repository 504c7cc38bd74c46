"""The `autograder` command line."""
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
    sub.add_parser("demo", help="check course.yml, print the outline and a few reference outputs")
    args = parser.parse_args(argv)

    try:
        course = load_course(args.course)
    except CourseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.command == "outline":
        from .outline import render_outline
        print(render_outline(course))
    elif args.command == "demo":
        from .demo import run_demo
        print(run_demo(course))
    return 0


if __name__ == "__main__":
    sys.exit(main())

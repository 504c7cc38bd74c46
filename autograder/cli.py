"""The `autograder` command line: run it in the folder that holds course.yml. Each verb is a module of
autograder/commands (a hyphen in the verb is an underscore in the module's name) with HELP, an optional
add_arguments(parser), run(course, args) -> exit code, and COURSE_OPTIONAL = True where it also works without a
course.yml (then course is None)."""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from .course import CourseError, load_course
from .nbgrader_run import ConfigError

VERBS = ("outline", "demo", "configure", "validate", "release", "check", "grade", "doctor", "export",
         "publish", "student-env", "report", "similarity")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="autograder", description="The transformer course kit's autograder.")
    parser.add_argument("--course", type=Path, default=Path("course.yml"), help="path to course.yml (default: ./course.yml)")
    sub = parser.add_subparsers(dest="command", required=True)
    commands = {verb: importlib.import_module(f".commands.{verb.replace('-', '_')}", __package__) for verb in VERBS}
    for verb, command in commands.items():
        p = sub.add_parser(verb, help=command.HELP)
        if hasattr(command, "add_arguments"):
            command.add_arguments(p)
    args = parser.parse_args(argv)
    command = commands[args.command]
    if getattr(command, "COURSE_OPTIONAL", False) and not args.course.exists():
        return command.run(None, args)  # a student's folder has no course.yml
    try:
        course = load_course(args.course)
    except CourseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        return command.run(course, args)
    except (ConfigError, CourseError) as err:  # an nbgrader_config.py it may not overwrite, a course.yml it refuses
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

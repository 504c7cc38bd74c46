"""`autograder outline`: a printed summary of the course: assignments, points, due dates, limits."""
from __future__ import annotations

import argparse
import datetime as dt

from ..course import Course

HELP = "check course.yml and print the course outline"


def render_outline(course: Course) -> str:
    total = sum(a.points for a in course.assignments)
    rows = [f"{course.title} [{course.id}]",
            f"device: {course.device}   per-check timeout: {course.limits.check_timeout_s:g} s   "
            f"memory: {course.limits.memory_mb} MB   files: {course.limits.disk_mb} MB in all",
            "",
            f"{'#':>2}  {'assignment':<16} {'title':<34} {'points':>6}  {'due (UTC)':<16}  status   notebooks"]
    for i, a in enumerate(course.assignments, 1):
        due = a.due.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
        rows.append(f"{i:>2}  {a.id:<16} {a.title:<34} {a.points:>6g}  {due:<16}  {a.status:<8} {len(a.notebooks)}")
    rows.append(f"{'':>2}  {'total':<16} {'':<34} {total:>6g}")
    return "\n".join(rows)


def run(course: Course, args: argparse.Namespace) -> int:
    print(render_outline(course))
    return 0

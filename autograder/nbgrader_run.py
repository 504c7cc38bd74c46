"""Running nbgrader's own command line on the course, from this interpreter's environment."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .course import Course

# nbgrader copies every other file of a source folder into the release; only notebooks may go out
# (checks.py, standins.py and mistakes.py sit beside them)
RELEASED_FILES = '["*.ipynb"]'


def nbgrader_args(course: Course) -> list[str]:
    return [f"--CourseDirectory.root={course.root}", "--CourseDirectory.source_directory=assignments",
            "--CourseDirectory.release_directory=release", "--CourseDirectory.submitted_directory=submitted",
            f"--CourseDirectory.db_url={course.db_url}", f"--CourseDirectory.course_id={course.id}",
            f"--CourseDirectory.include={RELEASED_FILES}"]


def run_nbgrader(course: Course, *args: str) -> subprocess.CompletedProcess:
    """nbgrader from this interpreter's environment (it also calls `alembic` from there)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    cmd = [sys.executable, "-m", "nbgrader", *args, *nbgrader_args(course)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=course.root)

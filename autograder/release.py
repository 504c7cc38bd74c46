"""Building the student release with nbgrader, then adding the self-check helper and its fixtures."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import torch

from .checks.registry import checks_for
from .checks.spec import ChoiceCheck, PartCheck
from .course import Assignment, Course
from .coursekit.fixtures import write_fixture
from .notebook import graded_cells, read_notebook

COURSEKIT = Path(__file__).resolve().parent / "coursekit"
FIXTURE_SEED = 20240601  # visible cases are the same for every student


def nbgrader_args(course: Course) -> list[str]:
    return [f"--CourseDirectory.root={course.root}", "--CourseDirectory.source_directory=assignments",
            "--CourseDirectory.release_directory=release", "--CourseDirectory.submitted_directory=submitted",
            f"--CourseDirectory.db_url={course.db_url}", f"--CourseDirectory.course_id={course.id}"]


def run_nbgrader(course: Course, *args: str) -> subprocess.CompletedProcess:
    """nbgrader from this interpreter's environment (it also calls `alembic` from there)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    cmd = [sys.executable, "-m", "nbgrader", *args, *nbgrader_args(course)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=course.root)


def write_support_files(folder: Path, assignment: Assignment, course: Course) -> None:
    """coursekit/ and fixtures/ next to the notebooks: what the visible checks need, and nothing hidden."""
    shutil.copytree(COURSEKIT, folder / "coursekit", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    fixtures = folder / "fixtures"
    for nb_path in assignment.notebooks:
        for cell in graded_cells(read_notebook(course.root / nb_path)):
            check = checks_for(assignment.id).get(cell.grade_id)
            if isinstance(check, PartCheck):
                g = torch.Generator().manual_seed(FIXTURE_SEED)
                write_fixture(fixtures, check.id, check.meta(), [check.evaluate(c) for c in check.cases(g, False)])
            elif isinstance(check, ChoiceCheck):
                fixtures.mkdir(parents=True, exist_ok=True)
                (fixtures / f"{check.id}.json").write_text(json.dumps({"options": check.options}))


def release(course: Course, assignment: Assignment) -> Path:
    """release/<assignment>/: nbgrader's student version of each notebook, plus coursekit and fixtures."""
    result = run_nbgrader(course, "generate_assignment", assignment.id, "--force")
    if result.returncode != 0:
        raise RuntimeError(f"nbgrader generate_assignment {assignment.id} failed:\n{result.stdout}{result.stderr}")
    folder = course.root / "release" / assignment.id
    write_support_files(folder, assignment, course)
    return folder

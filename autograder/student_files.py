"""What students get next to their notebooks: the coursekit helper and the visible fixtures of every graded
cell. The grader gives each worker the same folder, so the notebook's own checks run there too."""
from __future__ import annotations

import shutil
from pathlib import Path

from .content import bind_parts
from .course import Assignment, Course
from .notebook import graded_cells, read_notebook

COURSEKIT = Path(__file__).resolve().parent / "coursekit"


def write_support_files(folder: Path, assignment: Assignment, course: Course) -> None:
    """coursekit/, fixtures/ and data/ in `folder`: what the visible checks and the notebook need, nothing hidden."""
    shutil.copytree(COURSEKIT, folder / "coursekit", dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    for nb_path in assignment.notebooks:
        for _, part in bind_parts(course, assignment, graded_cells(read_notebook(course.root / nb_path))):
            part.write_fixture(folder / "fixtures")
    for name in assignment.data:
        (folder / "data").mkdir(exist_ok=True)
        shutil.copyfile(course.root / name, folder / "data" / Path(name).name)

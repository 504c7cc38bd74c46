"""`autograder check NOTEBOOK`: the notebook's visible checks from the command line, with the same messages."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from .checks.registry import checks_for
from .checks.spec import ChoiceCheck, PartCheck
from .course import Assignment, Course
from .coursekit.protocol import PartError
from .coursekit.selfcheck import run_visible
from .intake import inspect
from .notebook import code_to_run, graded_cells, read_notebook
from .release import write_support_files
from .runner import Worker, WorkerFailure


def assignment_of(course: Course, notebook: Path) -> tuple[Assignment, Path]:
    for a in course.assignments:
        for source in a.notebooks:
            if source.name == notebook.name:
                return a, source
    raise SystemExit(f"error: {notebook.name} is not a notebook of any assignment in course.yml")


def check_notebook(course: Course, notebook: Path) -> int:
    assignment, source = assignment_of(course, notebook)
    intake = inspect(notebook, read_notebook(course.root / source))
    for note in intake.notes:
        print(f"{notebook.name}: {note}")
    if intake.nb is None:
        return 1
    nb = intake.nb
    checks = checks_for(assignment.id)
    failures = 0
    with tempfile.TemporaryDirectory(prefix="check-") as scratch:
        support = Path(scratch)
        release_support = course.root / "release" / assignment.id
        if (release_support / "fixtures").is_dir():
            shutil.copytree(release_support / "fixtures", support / "fixtures")
            shutil.copytree(release_support / "coursekit", support / "coursekit")
        else:
            write_support_files(support, assignment, course)
        with Worker(code_to_run(nb), assignment.limits.check_timeout_s, cwd=scratch) as worker:
            for cell in graded_cells(read_notebook(course.root / source)):
                check = checks.get(cell.grade_id)
                if isinstance(check, PartCheck):
                    def call(kind: str, tensors: dict[str, torch.Tensor], spec: dict[str, Any], target: str = check.target) -> list[torch.Tensor]:
                        try:
                            result = worker.call(target, kind, tensors, spec)
                        except WorkerFailure as err:
                            raise PartError(str(err)) from None
                        if result.error is not None:
                            raise PartError(result.error)
                        return result.outputs
                    problems = run_visible(check.id, call, support / "fixtures")
                    failures += bool(problems)
                    print(f"✗ {check.id}: " + "; ".join(problems) if problems else f"✓ {check.id}: all visible checks pass")
                elif isinstance(check, ChoiceCheck):
                    value, error = worker.get(check.target)
                    ok = error is None and value in check.options
                    failures += not ok
                    print(f"✓ {check.id}: answer recorded ({value!r})" if ok else f"✗ {check.id}: answer with one of {check.options}")
    return 1 if failures else 0

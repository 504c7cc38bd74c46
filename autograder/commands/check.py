"""`autograder check NOTEBOOK`: the notebook's visible checks from the command line, with the notebook's own
messages. It works where the student is: in the release folder (the notebook beside coursekit/ and fixtures/),
with no course.yml; in a course folder it also finds an assignment's notebook that was not released yet."""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ..course import Assignment, Course, Limits

if TYPE_CHECKING:
    from ..coursekit.selfcheck import Caller
    from ..workers.client import Worker

HELP = "run a notebook's visible self-checks from the command line (no course.yml needed)"
COURSE_OPTIONAL = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("notebook", type=Path)


def assignment_of(course: Course, notebook: Path) -> Assignment | None:
    return next((a for a in course.assignments for source in a.notebooks if source.name == notebook.name), None)


MAX_FIXTURE_BYTES = 64 << 20


def copy_released_fixtures(released: Path, into: Path) -> None:
    """The fixture files of a release folder, read as untrusted data: only regular <part>.json and
    <part>.safetensors files with plain names, never through a link, at most MAX_FIXTURE_BYTES each."""
    from ..grading.intake import read_submitted_file
    from ..text import is_plain_name

    into.mkdir()
    for path in sorted(released.iterdir()):
        if path.suffix in (".json", ".safetensors") and is_plain_name(path.name) and not path.name.startswith("."):
            data, _ = read_submitted_file(path, MAX_FIXTURE_BYTES)
            if data is not None:
                (into / path.name).write_bytes(data)


def fixtures_for(notebook: Path, course: Course | None, folder: Path) -> Limits | None:
    """Put the visible fixtures for `notebook` in `folder`: the course's own where course.yml knows the notebook,
    else those released beside it. Returns the limits to check under, or None when there are none."""
    from ..student_files import write_support_files  # imports torch: not at start-up

    assignment = assignment_of(course, notebook) if course is not None else None
    released = notebook.resolve().parent / "fixtures"
    if assignment is not None:
        write_support_files(folder, assignment, course)
        return assignment.limits
    if released.is_dir() and not released.is_symlink():
        copy_released_fixtures(released, folder / "fixtures")
        return Limits()
    return None


def check_notebook(notebook: Path, course: Course | None) -> int:
    from ..coursekit.protocol import NotWritten  # torch, nbformat: not at start-up
    from ..coursekit.selfcheck import choice_problem, choice_recorded, problems_of
    from ..grading.intake import read_untrusted
    from ..notebook import code_to_run, nbgrader_meta
    from ..student_files import COURSEKIT
    from ..text import is_plain_name, shown
    from ..workers.client import Worker

    nb, notes = read_untrusted(notebook)
    for note in notes:
        print(shown(f"{notebook.name}: {note}", 1000))
    if nb is None:
        return 1
    with tempfile.TemporaryDirectory(prefix="check-") as scratch:
        support = Path(scratch)
        limits = fixtures_for(notebook, course, support)
        if limits is None:
            print(f"error: no fixtures/ folder beside {notebook}: run the check on the notebook in its release folder")
            return 2
        shutil.copytree(COURSEKIT, support / "coursekit", ignore=shutil.ignore_patterns("__pycache__"),
                        dirs_exist_ok=True)
        fixtures = support / "fixtures"
        ids = [g for c in nb.cells if isinstance(g := nbgrader_meta(c).get("grade_id"), str) and is_plain_name(g)
               and "/" not in g and (fixtures / f"{g}.json").is_file()]  # a grade id is the notebook's: untrusted
        failures = 0
        with Worker(code_to_run(nb), limits.check_timeout_s, cwd=scratch, limits=limits.for_worker()) as worker:
            for name in dict.fromkeys(ids):
                try:
                    meta = json.loads((fixtures / f"{name}.json").read_text())
                except ValueError:
                    meta = None
                if not isinstance(meta, dict) or not isinstance(meta.get("target"), str):
                    print(shown(f"✗ {name}: fixtures/{name}.json is not a fixture the autograder wrote", 1000))
                    failures += 1
                    continue
                problems: list[str] | None  # None: not answered yet
                if "kind" in meta:
                    try:
                        problems = problems_of(name, lambda target: worker_caller(worker, target), fixtures)
                    except NotWritten:  # the release's stub, in this part or one it uses
                        problems = None
                    passed = "all visible checks pass"
                else:
                    value, error = worker.get(meta["target"])
                    problem = choice_problem(meta["options"], value if error is None else None)
                    problems = None if value is None else [problem] if problem else []
                    passed = choice_recorded(value)
                if problems is None:  # as the notebook says it
                    failures += 1
                    print(f"not answered yet: {name}")
                    continue
                failures += bool(problems)
                print(shown(f"✗ {name}: " + "; ".join(problems) if problems else f"✓ {name}: {passed}", 4000))
    return 1 if failures else 0


def worker_caller(worker: Worker, target: str) -> Caller:
    """The student's `target`, called in the worker the way the notebook's own check calls it."""
    from ..coursekit.protocol import STUB_RAISED, NotWritten, PartError
    from ..workers.client import WorkerFailure

    def call(kind: str, tensors: dict, spec: dict) -> list:
        try:
            result = worker.call(target, kind, tensors, {k: v for k, v in spec.items() if k != "substitute"})
        except WorkerFailure as err:
            raise PartError(str(err)) from None
        if result.error is not None:
            if result.error.startswith(STUB_RAISED):  # "<STUB_RAISED> (<function>)"
                raise NotWritten(result.error, result.error.removeprefix(STUB_RAISED).strip(" ()"))
            raise PartError(result.error)
        return result.outputs
    return call


def run(course: Course | None, args: argparse.Namespace) -> int:
    return check_notebook(args.notebook, course)

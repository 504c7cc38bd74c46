"""What a Dask worker needs to grade one assignment, and nothing a student could use: course.yml's settings,
the assignment's folder (its source notebooks and checks) and its data files. Not the grading secret, not the
gradebook, not a submission. The kit itself (autograder, reference_impl) is installed on every worker; its
fingerprint travels too, so that a worker running other code refuses to grade instead of grading differently."""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..content import folder_of
from ..course import Assignment, Course
from ..sandbox.landlock import kit_folders
from ..student_files import SUPPORT

SKIPPED = {"__pycache__", ".ipynb_checkpoints", *SUPPORT}  # caches, and what configure writes beside notebooks


@dataclass(frozen=True)
class Bundle:
    course: Course  # its settings; no root (a worker puts its own folder there) and no gradebook
    assignment: str
    files: dict[str, bytes]  # course-relative path -> content
    kit: str  # kit_fingerprint() on the client


def kit_fingerprint() -> str:
    """A digest of the installed kit's .py files and of the torch and numpy it runs on: two machines with the same
    one grade the same way. The packages are found (landlock.kit_folders), not imported: the engine never imports
    the reference."""
    import numpy
    import torch

    h = hashlib.sha256(f"torch {torch.__version__} numpy {numpy.__version__}\0".encode())
    for folder in map(Path, kit_folders()):  # a package missing here changes the digest: the worker refuses
        for path in sorted(folder.rglob("*.py")):
            h.update(f"{folder.name}/{path.relative_to(folder)}\0".encode() + path.read_bytes() + b"\0")
    return h.hexdigest()


def _files_of(folder: Path) -> list[Path]:
    out = []
    for path in sorted(folder.iterdir()):
        if path.name in SKIPPED:
            continue
        if path.is_symlink() and path.is_dir():  # a link loop would never end; the instructor's files are real ones
            continue
        out += _files_of(path) if path.is_dir() else [path] if path.is_file() else []
    return out


def make_bundle(course: Course, assignment: Assignment) -> Bundle:
    paths = set(_files_of(folder_of(course, assignment)))
    paths |= {course.root / p for p in (*assignment.notebooks, *assignment.data)}
    files = {str(p.relative_to(course.root)): p.read_bytes() for p in sorted(paths)}
    assignments = tuple(assignment if a.id == assignment.id else a for a in course.assignments)  # as given here
    # no root (a worker has its own) and no gradebook URL (it may hold a password)
    private = dataclasses.replace(course, root=Path(), gradebook="", assignments=assignments)
    return Bundle(private, assignment.id, files, kit_fingerprint())


def unpack(bundle: Bundle, folder: Path) -> tuple[Course, Assignment]:
    """Write the bundle's files under `folder`; the course as the worker sees it, rooted there."""
    for name, data in bundle.files.items():
        path = folder / name
        if not path.resolve().is_relative_to(folder.resolve()):
            raise ValueError(f"the bundle names a file outside its folder: {name!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    course = dataclasses.replace(bundle.course, root=folder)
    return course, course.assignment(bundle.assignment)

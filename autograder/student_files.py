"""What students get next to their notebooks: the coursekit helper and the visible fixtures of every graded
cell. The grader gives each worker the same folder, so the notebook's own checks run there too."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from .content import bind_parts
from .course import Assignment, Course, CourseError
from .notebook import graded_cells, read_notebook

COURSEKIT = Path(__file__).resolve().parent / "coursekit"
SUPPORT = ("coursekit", "fixtures", "data")  # the folders write_support_files writes

SupportFiles = dict[str, bytes]  # path relative to the notebook's folder -> contents
MAX_SUPPORT_BYTES = 192 << 20  # sent to every worker in its first request, which a worker reads up to 256 MB of


def write_support_files(folder: Path, assignment: Assignment, course: Course) -> None:
    """coursekit/, fixtures/ and data/ in `folder`: what the visible checks and the notebook need, nothing hidden."""
    shutil.copytree(COURSEKIT, folder / "coursekit", dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    for nb_path in assignment.notebooks:
        for _, part in bind_parts(course, assignment, graded_cells(read_notebook(course.root / nb_path))):
            part.write_fixture(folder / "fixtures")
    for name in assignment.data:
        (folder / "data").mkdir(exist_ok=True)
        shutil.copyfile(course.root / name, folder / "data" / Path(name).name)


def support_files(assignment: Assignment, course: Course) -> SupportFiles:
    """What write_support_files writes, in memory: made once per batch and sent to every worker, which writes it
    into its own scratch folder."""
    with tempfile.TemporaryDirectory(prefix="autograder-support-") as folder:
        write_support_files(Path(folder), assignment, course)
        files = {str(p.relative_to(folder)): p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file()}
    if sum(map(len, files.values())) > MAX_SUPPORT_BYTES:
        largest = sorted(files, key=lambda name: -len(files[name]))[:3]
        raise CourseError(course.root / "course.yml", None, f"{assignment.id}: its support files (coursekit, fixtures "
                          f"and data) come to more than {MAX_SUPPORT_BYTES >> 20} MB, more than a worker is sent; the "
                          f"largest: {', '.join(f'{n} ({len(files[n]) >> 20} MB)' for n in largest)}")
    return files


def rewrite_support_files(folder: Path, assignment: Assignment, course: Course) -> None:
    """write_support_files into a folder whose support folders are first removed (no stale fixtures). A data file
    that course.yml lists from inside one of them is refused, since it would be deleted."""
    for name in SUPPORT:
        target = folder / name
        inside = [str(d) for d in assignment.data if (course.root / d).resolve().is_relative_to(target.resolve())]
        if inside:
            raise CourseError(course.root / "course.yml", None, f"{assignment.id} lists data files inside {target}, "
                              f"a folder autograder writes afresh: {', '.join(inside)}; keep them elsewhere")
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.is_dir():
            shutil.rmtree(target)
    write_support_files(folder, assignment, course)

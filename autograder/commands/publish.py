"""`autograder publish DEST [--github OWNER/REPO]`: the student repository, ready to push and open on Binder: the
release of every active assignment, a README with a Binder badge, and a binder/ folder for repo2docker (CPU torch,
the packages the notebooks import, instructor tools hidden). `autograder publish --course-binder` writes the course
repository's own binder/ from the same function, so the two cannot drift apart."""
from __future__ import annotations

import argparse
import re
import shutil
import sys
from importlib.metadata import PackageNotFoundError, requires
from pathlib import Path
from urllib.parse import quote

from ..course import Course
from . import student_env
from .release import release

HELP = "write the student repository (releases, README with a Binder badge, binder/) into an empty folder"
KIT_ROOT = Path(__file__).resolve().parents[2]
TORCH_PIN = KIT_ROOT / "requirements" / "torch.txt"
KIT_DISTRIBUTION = "transformer-course-kit"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# What the released notebooks and coursekit import, plus Lab and nbgrader's Validate; versions from pyproject.toml.
STUDENT_PACKAGES = ("numpy", "matplotlib", "scikit-learn", "safetensors", "tqdm", "jupyterlab", "nbgrader")
PYTHON = "3.11"  # repo2docker's runtime.txt: the Python the kit is tested with (Binder's default is older)
PLACEHOLDER = "OWNER/REPO"
GITHUB_REPO = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?/[A-Za-z0-9._-]+")


class PublishError(Exception):
    """The student repository cannot be written as asked."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dest", nargs="?", type=Path, help="folder for the student repository (absent or empty)")
    p.add_argument("--github", metavar="OWNER/REPO", help="where the student repository will live on GitHub "
                   "(for the Binder badge; without it the README has a placeholder to replace)")
    p.add_argument("--course-binder", action="store_true",
                   help="instead: rewrite this course repository's own binder/ (commit it)")


def torch_version() -> str:
    """The torch version requirements/torch.txt pins (the one place that pins it)."""
    try:
        lines = TORCH_PIN.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise PublishError(f"{TORCH_PIN}: cannot read the torch pin ({err.strerror}); publish runs from a checkout "
                           "of the course kit") from None
    pins = [m.group(1) for line in lines if (m := re.fullmatch(r"\s*torch\s*==\s*([0-9][\w.]*)(?:\+\w+)?\s*", line))]
    if len(pins) != 1:
        raise PublishError(f"{TORCH_PIN}: expected exactly one line `torch==VERSION`, found {len(pins)}")
    return pins[0]


def student_requirements() -> list[str]:
    """STUDENT_PACKAGES with the version ranges the kit itself declares."""
    try:
        declared = [r for r in requires(KIT_DISTRIBUTION) or [] if ";" not in r]  # extras carry a marker
    except PackageNotFoundError:
        raise PublishError(f"the {KIT_DISTRIBUTION} package is not installed (pip install -e .)") from None
    by_name = {re.split(r"[<>=!~ \[]", r, maxsplit=1)[0].lower(): r.replace(" ", "") for r in declared}
    missing = [n for n in STUDENT_PACKAGES if n not in by_name]
    if missing:
        raise PublishError(f"pyproject.toml: {', '.join(missing)} not among the kit's dependencies")
    return [by_name[n] for n in STUDENT_PACKAGES]


def first_notebook(course: Course) -> Path:
    """The notebook Binder opens: the first active assignment's first notebook, as released."""
    if not course.active:
        raise PublishError(f"{course.root / 'course.yml'}: no active assignment to publish")
    a = course.active[0]
    return Path(a.id) / a.notebooks[0].name


def binder_url(github: str, notebook: str) -> str:
    """mybinder.org's launch link for a GitHub repository, opening `notebook` in JupyterLab."""
    return f"https://mybinder.org/v2/gh/{github}/HEAD?urlpath={quote('lab/tree/' + notebook, safe='/')}"


def binder_files(course: Course, *, course_repo: bool) -> dict[str, str]:
    """binder/runtime.txt, requirements.txt and postBuild. The course repository installs the kit and builds the release
    with it; the student repository has no kit, so it gets the packages and plain `jupyter` commands."""
    header = ("# Written by `autograder publish --course-binder`: edit the generator, not this file."
              if course_repo else "# Written by `autograder publish`.")
    packages = ["-e ."] if course_repo else student_requirements()
    requirements = [header, "# The CPU build of the course's torch: PyPI's Linux wheels pull several GB of CUDA.",
                    f"--extra-index-url {CPU_INDEX}", f"torch=={torch_version()}+cpu", *packages]
    if course_repo:
        steps = ["# the student release of every active assignment, and the Jupyter config that hides",
                 "# nbgrader's instructor tools (Validate stays)", "autograder release", "autograder student-env --sys-prefix"]
    else:
        steps = ["# hide nbgrader's instructor tools from students (Validate stays)", *student_env.shell_commands()]
    post_build = ["#!/usr/bin/env bash", header, "set -euo pipefail", *steps]
    return {"runtime.txt": f"python-{PYTHON}\n", "requirements.txt": "\n".join(requirements) + "\n",
            "postBuild": "\n".join(post_build) + "\n"}


def write_binder(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "postBuild").chmod(0o755)
    return folder


def course_binder(course: Course) -> Path:
    """The course repository's binder/: a Binder launch builds the release and opens it, tools hidden."""
    return write_binder(course.root / "binder", binder_files(course, course_repo=True))


def student_readme(course: Course, github: str | None) -> str:
    """What the course is, how to open it on Binder (badge) or on one's own machine, and what to hand in."""
    notebook = first_notebook(course).as_posix()
    url = binder_url(github or PLACEHOLDER, notebook)
    lines = [f"# {course.title}", "",
             f"[![Binder](https://mybinder.org/badge_logo.svg)]({url})", ""]
    if not github:
        lines += [f"> **Instructor:** replace `{PLACEHOLDER}` in the link above with this repository's GitHub "
                  "owner and name, or publish again with `autograder publish DEST --github OWNER/REPO`.", ""]
    lines += ["Graded JupyterLab notebooks in which you build the parts of a Transformer in PyTorch. Each folder is "
              "one assignment: its notebook, `coursekit/` (the checks you run inside the notebook), `fixtures/` "
              "(the cases those checks use) and sometimes `data/`.", "",
              "| Assignment | Notebook | Points | Due |", "|---|---|---|---|"]
    for a in course.active:
        for nb in a.notebooks:
            lines.append(f"| {a.title} | [{a.id}/{nb.name}]({a.id}/{nb.name}) | {a.points:g} | "
                         f"{a.due:%Y-%m-%d %H:%M %Z} |")
    lines += ["", "## Working on Binder", "",
              "Click the badge: Binder builds this repository (the first launch can take several minutes) and opens "
              f"JupyterLab at `{notebook}`. A Binder session is temporary: it ends after about ten idle minutes and "
              "everything in it is lost, so download your notebook (File > Download) before you stop, and upload it "
              "again (the upload button of the file browser) when you come back.", "",
              "## Working on your own machine", "",
              "```", "python3 -m venv .venv", ". .venv/bin/activate", "pip install -r binder/requirements.txt",
              "jupyter lab", "```", "",
              f"On macOS and Windows, where PyTorch has no `+cpu` builds, install `torch=={torch_version()}` "
              "first and then the other lines of `binder/requirements.txt`.", "",
              "## In each notebook", "",
              "Fill in the cells marked `YOUR CODE HERE`, run the check cell under each part, and use the Validate "
              "button of the notebook's toolbar before you hand in. Hand in the notebook the way your instructor "
              "asks; the grader runs hidden cases beside the visible ones.", ""]
    return "\n".join(lines)


def publish(course: Course, dest: Path, github: str | None) -> Path:
    """DEST (absent or empty) becomes the student repository. Only release folders go out: nbgrader's student
    notebooks with coursekit/, fixtures/ and data/, never the source folders, checks, stand-ins or the reference."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise PublishError(f"{dest}: must be an empty folder or not exist yet (it has files; publish never "
                           "overwrites)")
    if github is not None and not GITHUB_REPO.fullmatch(github):
        raise PublishError(f"--github {github!r}: expected OWNER/REPO, as in https://github.com/OWNER/REPO")
    binder = binder_files(course, course_repo=False)
    readme = student_readme(course, github)
    folders = [release(course, a) for a in course.active]
    dest.mkdir(parents=True, exist_ok=True)
    for folder in folders:
        shutil.copytree(folder, dest / folder.name, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    (dest / "README.md").write_text(readme, encoding="utf-8")
    write_binder(dest / "binder", binder)
    return dest


def run(course: Course, args: argparse.Namespace) -> int:
    if args.course_binder == (args.dest is not None):
        print("error: give either DEST (the student repository) or --course-binder", file=sys.stderr)
        return 2
    try:
        if args.course_binder:
            print(f"wrote {course_binder(course)}")
            return 0
        dest = publish(course, args.dest, args.github)
    except PublishError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"published {len(course.active)} assignment(s) to {dest}")
    print(f"Binder link: {binder_url(args.github or PLACEHOLDER, first_notebook(course).as_posix())}")
    return 0

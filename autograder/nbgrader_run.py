"""nbgrader's configuration for the course, kept in <course root>/nbgrader_config.py, and running nbgrader's own
command line on the course from this interpreter's environment. The same file serves a plain `jupyter lab` in the
course folder (formgrader), so the command line and the browser see one course."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from .course import Course

CONFIG_NAME = "nbgrader_config.py"
# Lines below this marker belong to the instructor: autograder rewrites only what lies above it.
OWN_LINES = "# ---- your own settings: autograder keeps everything below this line ----"
HEADER = """\
# nbgrader's configuration of this course, written by `autograder configure` (and before every nbgrader run
# that autograder starts) from course.yml. Everything above the marker line is overwritten from course.yml:
# change course.yml instead. Lines below the marker are yours and are kept, for example
#     c.Exchange.root = "/srv/nbgrader/exchange"
# for a shared exchange (nbgrader's default is /usr/local/share/nbgrader/exchange).
c = get_config()  # noqa: F821 (traitlets provides it)
"""


MANAGED_KEYS = ("course_id", "root", "source_directory", "release_directory", "submitted_directory",
                "autograded_directory", "feedback_directory", "db_url", "include")  # nbgrader_settings' keys
MANAGED = re.compile(rf"^\s*c\.CourseDirectory\.({'|'.join(MANAGED_KEYS)})\s*=", re.M)


class ConfigError(Exception):
    """An existing nbgrader_config.py that autograder cannot update, with the file and what is wrong."""


def nbgrader_settings(course: Course) -> dict[str, str | list[str]]:
    """CourseDirectory settings: nbgrader's standard folders under the course root; nbgrader copies every other
    file of a source folder into the release, so only notebooks may go out (checks.py, standins.py,
    mistakes.py and the generated coursekit/, fixtures/, data/ sit beside them)."""
    return {"course_id": course.id, "root": str(course.root), "source_directory": "assignments",
            "release_directory": "release", "submitted_directory": "submitted",
            "autograded_directory": "autograded", "feedback_directory": "feedback",
            "db_url": course.db_url, "include": ["*.ipynb"]}


def config_path(course: Course) -> Path:
    return course.root / CONFIG_NAME


def config_text(course: Course, own_lines: str = "") -> str:
    """The whole file: the header, the settings from course.yml, the marker and the instructor's own lines."""
    settings = "".join(f"c.CourseDirectory.{k} = {v!r}\n" for k, v in nbgrader_settings(course).items())
    return f"{HEADER}{settings}\n{OWN_LINES}\n{own_lines}"


def own_lines(path: Path) -> str:
    """What an existing file holds below the marker; a file that autograder did not write is refused."""
    if not path.exists():
        return ""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot be read ({err})") from None
    if OWN_LINES not in text:
        raise ConfigError(f"{path}: was not written by autograder (it lacks the line {OWN_LINES!r}); move your "
                          "settings elsewhere, delete the file and run `autograder configure`, then put them back "
                          "below that line")
    own = text.split(OWN_LINES, 1)[1].removeprefix("\n")
    managed = sorted(f"CourseDirectory.{key}" for key in set(MANAGED.findall(own)))
    if managed:
        raise ConfigError(f"{path}: the lines below the marker set {', '.join(managed)}, which autograder writes from "
                          "course.yml; change course.yml instead and remove those lines")
    return own


def write_config(course: Course) -> Path:
    """<course root>/nbgrader_config.py from course.yml, keeping the instructor's own lines; untouched when current."""
    path = config_path(course)
    text = config_text(course, own_lines(path))
    if not (path.exists() and path.read_text(encoding="utf-8") == text):
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as err:
            raise ConfigError(f"{path}: cannot be written ({err})") from None
    return path


def nbgrader_args(course: Course) -> list[str]:
    """The same settings as command-line flags, for running nbgrader where the config file is not read."""
    return [f"--CourseDirectory.{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in nbgrader_settings(course).items()]


def run_nbgrader(course: Course, *args: str) -> subprocess.CompletedProcess:
    """nbgrader from this interpreter's environment (it also calls `alembic` from there), in the course folder,
    where it reads nbgrader_config.py (brought up to date first)."""
    write_config(course)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    cmd = [sys.executable, "-m", "nbgrader", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=course.root)

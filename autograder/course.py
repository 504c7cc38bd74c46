"""course.yml loaded into typed objects; every problem is reported with the file, line and key."""
from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .yaml_lines import Key, YamlError, dotted, load_with_lines

DEVICES = ("auto", "cpu", "cuda")
SUBMISSION_TIMES = ("timestamp-file", "arrival")  # see grading/pipeline.py: submission_time
STATUSES = ("active", "planned")


@dataclass(frozen=True)
class Limits:
    check_timeout_s: float = 30.0
    memory_mb: int = 2048
    file_size_mb: int = 64
    processes: int = 64
    disk_mb: int = 256

    def for_worker(self) -> dict[str, float]:
        """What a worker is held to (autograder/limits.py, and the grader's process cap)."""
        return {"memory_mb": self.memory_mb, "file_size_mb": self.file_size_mb,
                "cpu_s": int(self.check_timeout_s * 20), "processes": self.processes, "disk_mb": self.disk_mb}


@dataclass(frozen=True)
class LatePolicy:
    grace_minutes: float = 0.0
    penalty_per_day: float = 0.0
    max_late_days: float = 0.0

    def multiplier(self, due: dt.datetime, submitted: dt.datetime) -> float:
        """Fraction of the score kept: 1 on time or within the grace period, minus penalty_per_day per
        started day late, 0 after max_late_days."""
        late = submitted - due - dt.timedelta(minutes=self.grace_minutes)
        if late <= dt.timedelta(0):
            return 1.0
        days = -(-late.total_seconds() // 86400)  # started days
        if days > self.max_late_days:
            return 0.0
        return max(0.0, 1.0 - self.penalty_per_day * days)


@dataclass(frozen=True)
class Assignment:
    id: str
    title: str
    points: float
    due: dt.datetime
    late_policy: LatePolicy
    limits: Limits
    notebooks: tuple[Path, ...] = ()
    status: str = "active"
    data: tuple[Path, ...] = ()  # files students get in data/ beside the notebook (checkpoints), course-relative


@dataclass(frozen=True)
class Course:
    id: str
    title: str
    device: str
    limits: Limits
    assignments: tuple[Assignment, ...]
    root: Path
    gradebook: str = "sqlite:///gradebook.db"
    submission_time: str = "timestamp-file"

    @property
    def db_url(self) -> str:
        """The gradebook's SQLAlchemy URL; a relative SQLite path is taken from the course folder."""
        prefix = "sqlite:///"
        if self.gradebook.startswith(prefix) and not self.gradebook.startswith(prefix + "/"):
            return prefix + str(self.root / self.gradebook[len(prefix):])
        return self.gradebook

    def assignment(self, assignment_id: str) -> Assignment:
        for a in self.assignments:
            if a.id == assignment_id:
                return a
        known = ", ".join(a.id for a in self.assignments)
        raise KeyError(f"no assignment {assignment_id!r} in course.yml (known: {known})")

    @property
    def active(self) -> tuple[Assignment, ...]:
        return tuple(a for a in self.assignments if a.status == "active")


class CourseError(YamlError):
    """course.yml is not a valid course description."""


class _Reader:
    """Typed access to the parsed document, turning every mismatch into a CourseError at the right line."""

    def __init__(self, path: Path, lines: dict[Key, int]) -> None:
        self.path, self.lines = path, lines

    def fail(self, key: Key, message: str) -> CourseError:
        line = next((self.lines[key[:n]] for n in range(len(key), -1, -1) if key[:n] in self.lines), None)
        return CourseError(self.path, line, f"{dotted(key)}: {message}")

    def mapping(self, value: Any, key: Key, allowed: dict[str, bool]) -> dict[str, Any]:
        """Check a mapping's keys against `allowed` ({name: required})."""
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a mapping, got {_kind(value)}")
        for k in value:
            if k not in allowed:
                raise self.fail(key + (k,), f"unknown key {k!r} (allowed: {', '.join(allowed)})")
        for k, required in allowed.items():
            if required and k not in value:
                raise self.fail(key, f"missing required key {k!r}")
        return value

    def typed(self, value: Any, key: Key, kind: type | tuple[type, ...], what: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, kind):
            raise self.fail(key, f"expected {what}, got {_kind(value)} {value!r}")
        return value

    def number(self, value: Any, key: Key, minimum: float = 0.0) -> float:
        self.typed(value, key, (int, float), "a number")
        if value < minimum:
            raise self.fail(key, f"must be at least {minimum}, got {value}")
        return float(value)

    def text(self, value: Any, key: Key) -> str:
        value = self.typed(value, key, str, "a string")
        if not value.strip():
            raise self.fail(key, "must not be empty")
        return value

    def choice(self, value: Any, key: Key, options: tuple[str, ...]) -> str:
        if value not in options:
            raise self.fail(key, f"must be one of {', '.join(options)}, got {value!r}")
        return value

    def timestamp(self, value: Any, key: Key) -> dt.datetime:
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            value = dt.datetime.combine(value, dt.time(23, 59))
        if not isinstance(value, dt.datetime):
            raise self.fail(key, f"expected a date and time like 2027-01-25T23:59:00+00:00, got {value!r}")
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)

    def limits(self, value: Any, key: Key, default: Limits) -> Limits:
        if value is None:
            return default
        m = self.mapping(value, key, {"check_timeout_s": False, "memory_mb": False, "file_size_mb": False,
                                      "processes": False, "disk_mb": False})
        return Limits(
            check_timeout_s=self.number(m.get("check_timeout_s", default.check_timeout_s), key + ("check_timeout_s",), 0.1),
            memory_mb=int(self.number(m.get("memory_mb", default.memory_mb), key + ("memory_mb",), 64)),
            file_size_mb=int(self.number(m.get("file_size_mb", default.file_size_mb), key + ("file_size_mb",), 1)),
            processes=int(self.number(m.get("processes", default.processes), key + ("processes",), 8)),
            disk_mb=int(self.number(m.get("disk_mb", default.disk_mb), key + ("disk_mb",), 1)),
        )

    def late_policy(self, value: Any, key: Key, default: LatePolicy) -> LatePolicy:
        if value is None:
            return default
        m = self.mapping(value, key, {"grace_minutes": False, "penalty_per_day": False, "max_late_days": False})
        penalty = self.number(m.get("penalty_per_day", default.penalty_per_day), key + ("penalty_per_day",))
        if penalty > 1:
            raise self.fail(key + ("penalty_per_day",), f"is a fraction of the score and must be at most 1, got {penalty}")
        return LatePolicy(
            grace_minutes=self.number(m.get("grace_minutes", default.grace_minutes), key + ("grace_minutes",)),
            penalty_per_day=penalty,
            max_late_days=self.number(m.get("max_late_days", default.max_late_days), key + ("max_late_days",)),
        )


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", type(None): "nothing"}.get(
        type(value), type(value).__name__)


def load_course(path: str | Path = "course.yml") -> Course:
    """Read and check course.yml; raise CourseError naming the file, line and key of the first problem."""
    path = Path(path)
    try:
        data, lines = load_with_lines(path)
    except YamlError as err:
        raise CourseError(err.path, err.line, err.message) from None
    r = _Reader(path, lines)
    top = r.mapping(data, (), {"course": True, "device": False, "limits": False, "late_policy": False,
                               "gradebook": False, "submission_time": False, "assignments": True})
    head = r.mapping(top["course"], ("course",), {"id": True, "title": True})
    limits = r.limits(top.get("limits"), ("limits",), Limits())
    late = r.late_policy(top.get("late_policy"), ("late_policy",), LatePolicy())
    device = r.choice(top.get("device", "auto"), ("device",), DEVICES)
    items = r.typed(top["assignments"], ("assignments",), list, "a list of assignments")
    if not items:
        raise r.fail(("assignments",), "the course has no assignments")

    assignments, seen = [], {}
    for i, item in enumerate(items):
        key = ("assignments", i)
        a = r.mapping(item, key, {"id": True, "title": True, "points": True, "due": True, "notebooks": False,
                                  "data": False, "status": False, "late_policy": False, "limits": False})
        aid = r.text(a["id"], key + ("id",))
        if aid in seen:
            raise r.fail(key + ("id",), f"duplicate assignment id {aid!r} (first used by assignments[{seen[aid]}])")
        seen[aid] = i
        status = r.choice(a.get("status", "active"), key + ("status",), STATUSES)
        notebooks = tuple(_notebooks(r, a.get("notebooks", []), key + ("notebooks",), path.parent, status))
        assignments.append(Assignment(
            id=aid, title=r.text(a["title"], key + ("title",)), points=r.number(a["points"], key + ("points",)),
            due=r.timestamp(a["due"], key + ("due",)), status=status, notebooks=notebooks,
            data=tuple(_data_files(r, a.get("data", []), key + ("data",), path.parent)),
            late_policy=r.late_policy(a.get("late_policy"), key + ("late_policy",), late),
            limits=r.limits(a.get("limits"), key + ("limits",), limits)))
    return Course(id=r.text(head["id"], ("course", "id")), title=r.text(head["title"], ("course", "title")),
                  device=device, limits=limits, assignments=tuple(assignments), root=path.parent.resolve(),
                  gradebook=r.text(top.get("gradebook", "sqlite:///gradebook.db"), ("gradebook",)),
                  submission_time=r.choice(top.get("submission_time", "timestamp-file"), ("submission_time",),
                                           SUBMISSION_TIMES))


def _notebooks(r: _Reader, value: Any, key: Key, root: Path, status: str) -> list[Path]:
    r.typed(value, key, list, "a list of notebook paths")
    if status == "active" and not value:
        raise r.fail(key, "an active assignment must list at least one notebook")
    out = []
    for j, nb in enumerate(value):
        nb = r.text(nb, key + (j,))
        if not nb.endswith(".ipynb"):
            raise r.fail(key + (j,), f"{nb!r} is not a notebook (.ipynb)")
        if not (root / nb).is_file():
            raise r.fail(key + (j,), f"notebook {nb!r} does not exist (looked in {root})")
        if Path(nb) in out:
            raise r.fail(key + (j,), f"notebook {nb!r} is listed twice")
        out.append(Path(nb))
    return out


def _data_files(r: _Reader, value: Any, key: Key, root: Path) -> list[Path]:
    """Files shipped to students in data/: regular files inside the course folder, with distinct names."""
    r.typed(value, key, list, "a list of file paths")
    out: list[Path] = []
    for j, name in enumerate(value):
        name = r.text(name, key + (j,))
        path = (root / name).resolve()
        if not path.is_relative_to(root.resolve()):
            raise r.fail(key + (j,), f"data file {name!r} is outside the course folder {root}")
        if not path.is_file():
            raise r.fail(key + (j,), f"data file {name!r} does not exist (looked in {root})")
        if path.name in {p.name for p in out}:
            raise r.fail(key + (j,), f"two data files are named {path.name!r}: students get both in data/")
        out.append(Path(name))
    return out


def copy_course(root: Path, dest: Path) -> Path:
    """course.yml, assignments/ and every data file course.yml lists, copied from `root` into `dest`: a scratch
    course for demos, benchmarks and tests. Returns the copy's course.yml."""
    shutil.copytree(root / "assignments", dest / "assignments", dirs_exist_ok=True)
    shutil.copy(root / "course.yml", dest / "course.yml")
    for assignment in load_course(root / "course.yml").assignments:
        for name in assignment.data:
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(root / name, dest / name)
    return dest / "course.yml"

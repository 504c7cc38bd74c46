"""Intake: a submitted file is data, never trusted. Each problem gets a specific message; what can still be
graded fairly is graded, and the file itself is only ever read.

checks, in order: the path -> size -> text -> JSON -> notebook format -> cell ids -> grade cells -> assignment.
"""
from __future__ import annotations

import errno
import json
import os
import stat
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from ..notebook import HIDDEN, is_test_cell, nbgrader_meta
from ..text import shown

MAX_BYTES = 20 << 20
REFUSED = ("unreadable", "wrong-notebook")  # statuses of a file that is not graded further: no code, no late policy


@dataclass
class Intake:
    nb: Any | None
    status: str = "graded"  # graded | modified | unreadable | wrong-notebook
    notes: list[str] = field(default_factory=list)


def read_submitted_file(path: Path, max_bytes: int) -> tuple[bytes | None, str | None]:
    """The bytes of a file in a submission folder, or why not. Never follows a symbolic link, never opens a
    FIFO or device, never reads more than `max_bytes`; the name in messages is escaped."""
    name = shown(path.name, 200)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        if err.errno == errno.ELOOP:
            return None, f"{name} is a symbolic link; submit the file itself"
        return None, f"{name} cannot be read ({err.strerror})"
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            return None, f"{name} is not a regular file"
        if info.st_size == 0:
            return None, f"{name} is empty"
        if info.st_size > max_bytes:
            return None, f"{name} is {info.st_size / 2**20:.1f} MB, over the {max_bytes / 2**20:g} MB limit"
        return f.read(max_bytes + 1)[:max_bytes], None


Read = tuple[bytes | None, str | None]  # read_submitted_file's answer: the bytes, or why there are none


def read_text(path: Path, read: Read | None = None) -> tuple[str | None, str | None]:
    """The file's text, or why not; `read` is its bytes where they were read elsewhere (on the grading client)."""
    data, problem = read if read is not None else read_submitted_file(path, MAX_BYTES)
    if data is None:
        if "over the" in (problem or ""):
            problem += " (clear large outputs before submitting)"
        return None, problem
    name = shown(path.name, 200)
    if b"\x00" in data:
        return None, f"{name} is not a text file (it looks binary)"
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as err:
        return None, f"{name} is not UTF-8 text (byte {err.start})"


def parse_json(name: str, text: str) -> tuple[Any, str | None]:
    try:
        return json.loads(text), None
    except json.JSONDecodeError as err:
        truncated = " (the file looks truncated)" if err.pos >= len(text.rstrip()) else ""
        return None, f"{name} is not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}{truncated}"


def to_notebook(name: str, raw: Any) -> tuple[Any | None, list[str], str | None]:
    """(notebook in format 4, notes, refusal)."""
    if not isinstance(raw, dict) or "nbformat" not in raw:
        return None, [], f"{name} is JSON but not a notebook (no nbformat field)"
    major = raw.get("nbformat")
    if not isinstance(major, int) or major < 3:
        return None, [], f"{name} uses notebook format {major!r}, which is too old to read"
    if major > 4:
        return None, [], f"{name} uses notebook format {major}, newer than this grader reads"
    notes = []
    if major == 3:
        notes.append(f"{name} was saved in the old notebook format 3 and was converted for grading")
    else:
        cells = raw.get("cells")
        if not isinstance(cells, list):
            return None, [], f"{name} has no list of cells"
        ids = [c.get("id") for c in cells if isinstance(c, dict)]
        if raw.get("nbformat_minor", 0) >= 5 and any(i is None for i in ids):
            notes.append(f"{sum(i is None for i in ids)} cell(s) had no id; ids were added for grading")
        dupes = sorted(i for i, n in Counter(i for i in ids if i is not None).items() if n > 1)
        if dupes:
            notes.append(f"cell id(s) {', '.join(map(repr, dupes))} appear more than once")
    try:
        with warnings.catch_warnings():  # nbformat warns about ids it repairs; the notes above say it already
            warnings.simplefilter("ignore")
            nb = nbformat.reads(json.dumps(raw), as_version=4, capture_validation_error={})
            _, nb = nbformat.validator.normalize(nb)
            nb = nbformat.from_dict(nb)
            nbformat.validate(nb)
    except Exception as err:  # nbformat raises several kinds; each means "not a valid notebook"
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return None, notes, f"{name} is not a valid notebook: {first[:200]}"
    return nb, notes, None


def _lines(source: str) -> list[str]:
    return [l.strip() for l in HIDDEN.sub("", source).splitlines() if l.strip()]


def check_grade_cells(nb: Any, source_nb: Any) -> tuple[str, list[str]]:
    """Compare the locked check cells with the source's. The grader never runs them, so changes cost no
    points by themselves, but they are reported and the status says so."""
    expected = {nbgrader_meta(c)["grade_id"]: c for c in source_nb.cells if is_test_cell(c)}
    found: dict[str, list[Any]] = {}
    for c in nb.cells:
        gid = nbgrader_meta(c).get("grade_id")
        if gid:
            found.setdefault(gid, []).append(c)
    notes = []
    for gid, cell in expected.items():
        copies = found.get(gid, [])
        if not copies:
            notes.append(f"the check cell of {gid} was deleted")
        elif len(copies) > 1:
            notes.append(f"the check cell of {gid} appears {len(copies)} times")
        elif _lines(copies[0].source) != _lines(cell.source):
            notes.append(f"the check cell of {gid} was edited (it is not used for grading)")
    order = [g for c in nb.cells if (g := nbgrader_meta(c).get("grade_id")) in expected]
    if order != sorted(set(order), key=list(expected).index) and len(set(order)) == len(order):
        notes.append("the check cells are in a different order than in the assignment")
    return ("modified" if notes else "graded"), notes


def read_untrusted(path: Path, read: Read | None = None) -> tuple[Any, list[str]]:
    """(the notebook or None, notes): a file read as untrusted data, every problem said in words."""
    text, problem = read_text(path, read)
    if text is None:
        return None, [problem]
    name = shown(path.name, 200)
    raw, problem = parse_json(name, text)
    if problem:
        return None, [problem]
    nb, notes, problem = to_notebook(name, raw)
    return nb, notes + ([problem] if problem else [])


def inspect(path: Path, source_nb: Any, read: Read | None = None) -> Intake:
    """Read a submitted notebook as untrusted data and say what, if anything, is wrong with it. `read`: its bytes
    as read_submitted_file gave them on another machine (`path` then only names it)."""
    nb, notes = read_untrusted(path, read)
    if nb is None:
        return Intake(None, "unreadable", notes)
    name = shown(path.name, 200)
    ours = {nbgrader_meta(c).get("grade_id") for c in source_nb.cells} - {None}
    theirs = {nbgrader_meta(c).get("grade_id") for c in nb.cells} - {None}
    if theirs and not theirs & ours:
        return Intake(None, "wrong-notebook", notes + [f"{name} has none of this assignment's cells; "
                                                       "it looks like a notebook of another assignment"])
    if not theirs:
        notes.append("the notebook has none of the assignment's cells; it is graded by the names it defines")
    status, cell_notes = check_grade_cells(nb, source_nb)
    big = sum(len(json.dumps(c.get("outputs", []))) for c in nb.cells if c.get("cell_type") == "code")
    if big > 1 << 20:
        cell_notes.append(f"the notebook holds {big >> 20} MB of outputs; outputs are ignored by the grader")
    return Intake(nb, status, notes + cell_notes)

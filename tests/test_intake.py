"""Submissions are data: every malformed kind gets a specific message and status; what can be graded
fairly is graded; the file is byte-identical afterwards; the batch goes on."""
from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest

from autograder.grading.batch import grade_one, locate
from autograder.course import load_course
from autograder.grading.intake import inspect
from autograder.notebook import read_notebook

ROOT = Path(__file__).resolve().parents[1]
COURSE = load_course(ROOT / "course.yml")
ASSIGNMENT = COURSE.assignment("a2-attention")
SOURCE_PATH = ASSIGNMENT.notebooks[0]
SOURCE = read_notebook(ROOT / SOURCE_PATH)


def raw_source() -> dict:
    return json.loads(nbformat.writes(SOURCE))


def write(tmp_path: Path, content: bytes | str | dict, name: str = "attention.ipynb") -> Path:
    path = tmp_path / name
    if isinstance(content, dict):
        content = json.dumps(content)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


@pytest.mark.parametrize("content,status,words", [
    (b"", "unreadable", "is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "unreadable", "looks binary"),
    (b"\xff\xfe{ }", "unreadable", "not UTF-8"),
    ('{"cells": [', "unreadable", "looks truncated"),
    ('{"cells": [}', "unreadable", "not valid JSON"),
    ('[1, 2, 3]', "unreadable", "not a notebook"),
    ({"nbformat": 2, "worksheets": []}, "unreadable", "too old"),
    ({"nbformat": 5, "cells": []}, "unreadable", "newer than this grader reads"),
    ({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": "none"}, "unreadable", "no list of cells"),
    ({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code"}]}, "unreadable", "not a valid notebook"),
])
def test_unreadable_files_get_specific_messages(tmp_path: Path, content: object, status: str, words: str) -> None:
    path = write(tmp_path, content)
    before = path.read_bytes()
    intake = inspect(path, SOURCE)
    assert intake.nb is None and intake.status == status
    assert any(words in n for n in intake.notes), intake.notes
    assert path.read_bytes() == before


def test_symlink_and_huge_files_are_refused(tmp_path: Path) -> None:
    target = write(tmp_path, nbformat.writes(SOURCE), "real.ipynb")
    link = tmp_path / "attention.ipynb"
    link.symlink_to(target)
    assert "symbolic link" in inspect(link, SOURCE).notes[0]
    big = write(tmp_path, b" " * (21 << 20), "big.ipynb")
    assert "over the 20 MB limit" in inspect(big, SOURCE).notes[0]


def test_notebook_of_another_assignment(tmp_path: Path) -> None:
    raw = raw_source()
    for cell in raw["cells"]:
        if "nbgrader" in cell["metadata"]:
            cell["metadata"]["nbgrader"]["grade_id"] = "other-" + cell["metadata"]["nbgrader"]["grade_id"]
    intake = inspect(write(tmp_path, raw), SOURCE)
    assert intake.status == "wrong-notebook" and "another assignment" in intake.notes[0]


def test_old_format_missing_and_duplicate_ids_are_repaired_with_notes(tmp_path: Path) -> None:
    raw = raw_source()
    for cell in raw["cells"][:3]:
        del cell["id"]
    raw["cells"][5]["id"] = raw["cells"][4]["id"]
    intake = inspect(write(tmp_path, raw), SOURCE)
    assert intake.nb is not None and intake.status == "graded"
    assert any("3 cell(s) had no id" in n for n in intake.notes)
    assert any("appear more than once" in n for n in intake.notes)
    v3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [
        {"cells": [{"cell_type": "code", "input": "x = 1", "outputs": [], "language": "python", "metadata": {}}],
         "metadata": {}}]}
    intake = inspect(write(tmp_path, v3, "old.ipynb"), SOURCE)
    assert intake.nb is not None and "format 3" in intake.notes[0]
    assert any("none of the assignment's cells" in n for n in intake.notes)


@pytest.mark.filterwarnings("ignore:Non-unique cell id")  # the test duplicates a cell on purpose
def test_tampered_check_cells_are_reported_but_the_work_is_graded(tmp_path: Path) -> None:
    nb = read_notebook(ROOT / SOURCE_PATH)
    checks = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"]
    nb.cells.remove(checks[0])  # deleted
    checks[1].source = "pass  # I trust my code"  # edited
    nb.cells.append(nbformat.from_dict(json.loads(json.dumps(checks[2]))))  # duplicated
    nb.cells.insert(2, nbformat.v4.new_code_cell("scratch = [i * i for i in range(3)]"))  # an extra cell
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", text="x" * (2 << 20))]  # a huge output
    path = tmp_path / "submitted" / "mallory" / ASSIGNMENT.id / "attention.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(nb, str(path))
    before = path.read_bytes()
    result = grade_one(COURSE, ASSIGNMENT, None, "mallory", SOURCE_PATH, path)
    assert result.status == "modified"
    notes = " | ".join(result.notes)
    for words in ("was deleted", "was edited", "appears 2 times", "outputs are ignored"):
        assert words in notes, notes
    assert all(p.score == p.max_score for p in result.parts if p.score is not None), "edits to check cells cost nothing"
    assert path.read_bytes() == before


def test_renamed_and_missing_notebooks(tmp_path: Path) -> None:
    folder = tmp_path / "submitted" / "ann" / ASSIGNMENT.id
    folder.mkdir(parents=True)
    expected = folder / "attention.ipynb"
    assert "was not found" in locate(expected, SOURCE_PATH, ASSIGNMENT)[1]
    (folder / "attention (1).ipynb").write_text(nbformat.writes(SOURCE))
    found, note = locate(expected, SOURCE_PATH, ASSIGNMENT)
    assert found == folder / "attention (1).ipynb" and "submitted as attention (1).ipynb" in note
    (folder / "copy.ipynb").write_text("{}")
    assert "found: attention (1).ipynb, copy.ipynb" in locate(expected, SOURCE_PATH, ASSIGNMENT)[1]
    linked = tmp_path / "submitted" / "bob"
    linked.mkdir()
    os.symlink(folder, linked / ASSIGNMENT.id)
    assert "symbolic link" in locate(linked / ASSIGNMENT.id / "attention.ipynb", SOURCE_PATH, ASSIGNMENT)[1]

"""A student's own code in one submitted notebook: the lines of each solution cell that are not the released
template of that cell, and the lines of any other code cell that are not the given cells' (code the student put
in a cell of their own, or into a given cell). Given cells, the starter code around the solution regions and the
stub are everyone's, so they are no evidence of copying and are left out before anything is compared."""
from __future__ import annotations

import difflib
import json
import re
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any

from ..commands.release import answer_variable
from ..grading.intake import MAX_BYTES, read_submitted_file
from ..text import shown

MAX_CODE = 256 << 10  # characters of a student's own code compared; solutions are a few KB, so more is padding
# a solution region; nbgrader's ClearSolutions replaces each with the stub, at the indentation of its BEGIN line
REGION = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION[ \t]*$", re.S | re.M)


@dataclass(frozen=True)
class Line:
    """One line a student wrote: the solution cell it is in (its grade_id), its 1-based number there, and its block:
    lines of a cell with no template line between them share a block (a function body the template surrounds)."""
    cell: str
    number: int
    text: str
    block: int = 0


def released_template(source: str) -> str:
    """The cell as nbgrader releases it: each solution region replaced by `# YOUR CODE HERE / raise
    NotImplementedError()`, indented as the region was."""
    return REGION.sub(lambda m: f"{m.group(1)}# YOUR CODE HERE\n{m.group(1)}raise NotImplementedError()", source)


def line_key(line: str) -> str:
    """The line compared with the template's: whitespace removed, and a trailing comment too where no quote
    precedes its '#' (so `answer = None  # your answer: one of "a", "b"` is the released answer line)."""
    code, hash_, _ = line.partition("#")
    if hash_ and not any(q in code for q in "'\""):
        line = code
    return re.sub(r"\s+", "", line)


GIVEN = ""  # the templates' key of the given code cells, together: a cell of the student's own is diffed against them


def templates(source_nb: dict[str, Any]) -> dict[str, list[str]]:
    """grade_id -> the keys of its released template's lines, for each code cell the source marks as a solution;
    GIVEN -> the keys of every other code cell's lines. A multiple-choice answer cell's released line `name = None`
    counts as template too (release.py writes it)."""
    out: dict[str, list[str]] = {GIVEN: []}
    for cell in source_nb.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") == "code" and not (meta.get("solution") and meta.get("grade_id")):
            out[GIVEN] += [line_key(l) for l in (cell_source(cell) or "").split("\n")]
        if cell.get("cell_type") != "code" or not meta.get("solution") or not meta.get("grade_id"):
            continue
        source = cell_source(cell) or ""
        keys = [line_key(l) for l in released_template(source).split("\n")]
        if (name := answer_variable(source)) is not None:
            keys.append(f"{name}=None")
        out[meta["grade_id"]] = keys
    return out


def cell_source(cell: Any) -> str | None:
    """A cell's source as text, or None where the JSON holds something else (a hostile or broken file)."""
    source = cell.get("source") if isinstance(cell, dict) else None
    if isinstance(source, list) and all(isinstance(s, str) for s in source):
        return "".join(source)
    return source if isinstance(source, str) else None


def own_lines(cell: str, submitted: str, template: list[str]) -> list[Line]:
    """The lines of `submitted` that are not the template's: a line diff leaves out the template lines the student
    kept where they were, then a template line the student moved (a function put after another) is left out too.
    Blank and comment-only lines (### BEGIN SOLUTION in a copy of the source too) carry no code and are dropped
    before the diff, so adding or removing them changes nothing."""
    lines = submitted.split("\n")
    coded = [(j, key) for j, line in enumerate(lines) if (key := line_key(line))]
    ours = [key for key in template if key]
    matcher = difflib.SequenceMatcher(None, ours, [key for _, key in coded], autojunk=False)
    unmatched = Counter(ours)
    written = set()
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            unmatched.subtract(ours[i1:i2])
        else:
            written.update(range(j1, j2))
    out, block = [], 0
    for n, (j, key) in enumerate(coded):
        moved = n in written and unmatched[key] > 0  # a template line the student moved elsewhere
        if moved:
            unmatched[key] -= 1
        if moved or n not in written:
            block += 1
            continue
        out.append(Line(cell, j + 1, lines[j], block))
    return out


def read_own_code(path: Path, source_templates: dict[str, list[str]], max_bytes: int = MAX_BYTES
                  ) -> tuple[list[Line] | None, str | None]:
    """(the student's own lines in the notebook at `path`, a note or None) or (None, why the file was skipped).
    The file is untrusted: read capped and without following a link, anything malformed is a note, never an
    exception, and only the first MAX_CODE characters of own code are kept (a note says so)."""
    name = shown(path.name, 200)
    data, problem = read_submitted_file(path, max_bytes)
    if data is None:
        return None, problem
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:  # JSONDecodeError is a ValueError; so is a nesting too deep
        return None, f"{name} is not a JSON notebook ({shown(err, 120)})"
    except RecursionError:
        return None, f"{name} is nested too deeply to read"
    cells = raw.get("cells") if isinstance(raw, dict) else None
    if not isinstance(cells, list):
        return None, f"{name} has no list of cells"
    out: list[Line] = []
    seen, cut = set(), False
    given = set(source_templates.get(GIVEN, []))
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code" or (source := cell_source(cell)) is None:
            continue
        meta = cell.get("metadata")
        meta = meta.get("nbgrader") if isinstance(meta, dict) else None
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        if isinstance(grade_id, str) and grade_id in source_templates and grade_id != GIVEN:
            label = grade_id if grade_id not in seen else f"{grade_id}@{index + 1}"  # a second copy counts too
            seen.add(grade_id)
            template = source_templates[grade_id]
        else:  # a given cell, or one the student added (code put outside the solution cells counts as theirs)
            if all(line_key(line) in given for line in source[:2 * MAX_CODE].split("\n")):
                continue
            label, template = f"cell {index + 1}", source_templates.get(GIVEN, [])
        cut = cut or len(source) > 2 * MAX_CODE  # the rest is not even diffed: it could only be cut below
        out.extend(own_lines(label, source[:2 * MAX_CODE], template))
    sizes = list(accumulate(len(l.text) + 1 for l in out))
    if cut or (sizes and sizes[-1] > MAX_CODE):
        return out[:bisect_right(sizes, MAX_CODE)], (f"{name} holds over {MAX_CODE >> 10} KB of code in its "
                                                     f"solution cells; only the first {MAX_CODE >> 10} KB were compared")
    return out, None

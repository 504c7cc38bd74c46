"""Mutation testing of the hidden cases (`autograder validate --mutants`): the mutator makes one-site mutants of
solution regions only, and a throwaway course with deliberately weak cases shows its survivor in the report,
while a mutant that mutants.py calls equivalent is reported as such."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from autograder.authoring.mutants import mutate_cell, sampled

SNIPPET = textwrap.dedent('''\
    %matplotlib inline
    import math


    def f(x, n, mask=None):
        """Not a statement to drop."""
        ### BEGIN SOLUTION
        y = x.softmax(dim=-1)
        for i in range(n):
            y = y[1:n] - math.sqrt(n + 0.5)
        ok = mask is None and True
        if i < n:
            return y @ x
        ### END SOLUTION
        return 3 - n
    ''')


def test_each_operator_makes_a_one_line_mutant_that_compiles() -> None:
    mutants = mutate_cell(SNIPPET, "f-solution")
    changes = {(m.operator, m.change) for m in mutants}
    for expected in [("off-by-one", "range(n) -> range(n + 1)"), ("off-by-one", "range(n) -> range(n - 1)"),
                     ("off-by-one", "1 -> 2"), ("off-by-one", "1 -> 0"), ("off-by-one", "1:n -> 1:n + 1"),
                     ("dim", "dim=-1 -> dim=-2"), ("dim", "dim=-1 -> dim=0"), ("constant", "0.5 -> 1.0"),
                     ("drop-call", "x.softmax(dim=-1) -> x"), ("drop-call", "math.sqrt(n + 0.5) -> (n + 0.5)"),
                     ("drop-statement", "ok = mask is None and True -> pass"),
                     ("swap-operands", "y @ x -> x @ y"),
                     ("swap-operands", "y[1:n] - math.sqrt(n + 0.5) -> math.sqrt(n + 0.5) - y[1:n]"),
                     ("compare", "mask is None -> mask is not None"), ("compare", "i < n -> i <= n"),
                     ("and-or", "mask is None and True -> mask is None or True"), ("bool", "True -> False")]:
        assert expected in changes, f"no {expected} among {sorted(changes)}"
    assert len({m.id for m in mutants}) == len(mutants), "ids are unique"
    lines = SNIPPET.split("\n")
    for m in mutants:
        new = m.source.split("\n")
        changed = [i + 1 for i, (a, b) in enumerate(zip(lines, new)) if a != b]
        assert len(new) == len(lines) and changed == [m.line], f"{m.id}: one line changes"
        assert (lines[m.line - 1], new[m.line - 1]) == (m.before, m.after)
        assert 8 <= m.line <= 13, f"{m.id}: only the solution region is mutated"
        assert new[0] == "%matplotlib inline", "magics stay in the mutated cell"
        compile("\n".join(new[1:]), m.id, "exec")
    assert mutate_cell("### BEGIN SOLUTION\nx = (\n### END SOLUTION", "broken") == [], "a cell that does not parse"


def test_a_sample_per_part_is_the_same_on_every_run() -> None:
    found = [(m, "part-a" if m.line < 11 else "part-b") for m in mutate_cell(SNIPPET, "f-solution")]
    first = sampled(found, 3)
    assert first == sampled(found, 3)
    assert sorted(p for _, p in first) == ["part-a"] * 3 + ["part-b"] * 3
    assert sampled(found, None) == found


AID = "w2-filters"

COURSE_YML = f"""\
course:
  id: filters-course
  title: A course about filtering lists
device: cpu
assignments:
  - id: {AID}
    title: Filtering
    notebooks: [assignments/{AID}/filters.ipynb]
    points: 4
    due: 2027-01-10T23:59:00+00:00
"""

CHECKS = '''"""Checks of the filters assignment: keep-above's one hidden case is weak on purpose (no value equals
the limit)."""
from __future__ import annotations

import torch

from autograder.grading.parts import Call, Case, Outputs, PartCheck


def _cases(pairs: list[tuple[list[int], int]]) -> list[Case]:
    return [Case(f"case {i + 1}", {}, Call(options={"xs": xs, "limit": limit}, returns="ints"))
            for i, (xs, limit) in enumerate(pairs)]


def _keep(c: Case) -> Outputs:
    return [torch.tensor([x for x in c.call.options["xs"] if x > c.call.options["limit"]])]


def _drop(c: Case) -> Outputs:
    return [torch.tensor([x for x in c.call.options["xs"] if x <= c.call.options["limit"]])]


KEEP = PartCheck(id="keep-above", target="keep_above", kind="function", op="elementwise", outputs=["kept"],
                 cases=lambda g, hidden: _cases([([1, 5, 2, 8], 4)] if hidden else [([3, 9, 4], 5)]), reference=_keep)
DROP = PartCheck(id="drop-above", target="drop_above", kind="function", op="elementwise", outputs=["kept"],
                 cases=lambda g, hidden: _cases([([1, 4, 7, 4], 4), ([9, 2], 3)] if hidden else [([3, 5], 3)]),
                 reference=_drop)

PARTS = [KEEP, DROP]
'''

EQUIVALENT_ID = "filters-solution:3:drop-statement:xs = list(xs) -> pass"
SURVIVOR_ID = "filters-solution:4:compare:x > limit -> x >= limit"
STALE_ID = "filters-solution:9:compare:a > b -> a >= b"
MUTANTS = f'''EQUIVALENT = {{
    {EQUIVALENT_ID!r}: "the cases pass lists",
    {STALE_ID!r}: "a mutant of an older solution",
}}
'''


def notebook() -> nbformat.NotebookNode:
    def cell(source: str, grade_id: str, *, solution: bool = False, points: float = 0) -> nbformat.NotebookNode:
        meta = {"grade": points > 0, "grade_id": grade_id, "locked": not solution, "schema_version": 3,
                "solution": solution, "task": False, **({"points": points} if points else {})}
        return nbformat.v4.new_code_cell(textwrap.dedent(source).strip(), metadata={"nbgrader": meta})

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.cells = [
        cell("from coursekit import check", "setup"),
        cell("""
            def keep_above(xs, limit):
                ### BEGIN SOLUTION
                xs = list(xs)
                return [x for x in xs if x > limit]
                ### END SOLUTION


            def drop_above(xs, limit):
                ### BEGIN SOLUTION
                return [x for x in xs if x <= limit]
                ### END SOLUTION
            """, "filters-solution", solution=True),
        cell('check("keep-above", keep_above)\n### BEGIN HIDDEN TESTS\n# one list\n### END HIDDEN TESTS', "keep-above",
             points=2),
        cell('check("drop-above", drop_above)\n### BEGIN HIDDEN TESTS\n# ties\n### END HIDDEN TESTS', "drop-above",
             points=2),
    ]
    return nb


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("filters")
    folder = root / "assignments" / AID
    folder.mkdir(parents=True)
    (root / "course.yml").write_text(COURSE_YML)
    nbformat.write(notebook(), str(folder / "filters.ipynb"))
    (folder / "checks.py").write_text(CHECKS)
    (folder / "mutants.py").write_text(MUTANTS)
    run = subprocess.run([sys.executable, "-m", "autograder.cli", "--course", str(root / "course.yml"), "validate",
                          "--mutants", "--jobs", "2"], capture_output=True, text=True, cwd=root)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def section(report: str, title: str) -> str:
    """The lines under one heading of the report, up to the next heading."""
    lines = report.split("\n")
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(title))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith("    ")), len(lines))
    return "\n".join(lines[start + 1:end])


def test_the_report_lists_the_survivor_of_the_weak_cases(report: str) -> None:
    assert f"{AID} (assignments/{AID}/filters.ipynb): 5 mutants, 3 killed, 1 survived, 1 equivalent; " \
           "mutation score 3/4" in report, report
    survivors = section(report, "survivors")
    assert f"[keep-above] {SURVIVOR_ID}" in survivors, report
    assert "- return [x for x in xs if x > limit]\n      + return [x for x in xs if x >= limit]" in survivors
    assert [line.split()[0] for line in survivors.split("\n") if line.startswith("    [")] == ["[keep-above]"], \
        "the strong part's mutants are all killed"
    rows = {line.split()[0]: line.split()[1:] for line in report.split("\n") if line.startswith("  ") and
            line.split()[0] in ("keep-above", "drop-above")}
    assert rows == {"keep-above": ["1/3", "1", "1"], "drop-above": ["2/2", "0", "0"]}, report


def test_a_mutant_listed_as_equivalent_is_not_a_survivor(report: str) -> None:
    assert EQUIVALENT_ID in section(report, "equivalent"), report
    assert EQUIVALENT_ID not in section(report, "survivors")
    assert f"mutants.py lists a mutant that no longer exists: {STALE_ID}" in report

"""Each solution notebook runs top to bottom in place (assignments/<id>/, beside the coursekit, fixtures and data
that `autograder configure` writes there) under `pytest --nbval-lax`, in a fresh Jupyter kernel as a student
would run it, within Binder's memory (2 GB), and every visible check in it passes. The translator of assignment 3
really learns: at least 95% exact matches on held-out dates. (Their times against Binder's budget:
benchmarks/budgets.py.) The root conftest.py writes the support folders and the memory and output report."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.course import load_course

ROOT = Path(__file__).resolve().parents[1]
COURSE = load_course(ROOT / "course.yml")
ACTIVE = [a for a in COURSE.assignments if a.notebooks]


# Guards against a hung kernel, not speed bounds (speed: benchmarks/budgets.py): a cell may run an hour, and nbval
# waits 300 s for its outputs after it ran (nbval's own 5 s failed a6's long training cell on a busy machine).
NBVAL_CELL_TIMEOUT_S, NBVAL_OUTPUT_TIMEOUT_S = 3600, 300


def start_nbval(notebooks: list[Path], report: Path, log: Path) -> subprocess.Popen:
    """nbval on the notebooks in one pytest run (torch is imported once), with the kernel of this environment; its
    output goes to `log`."""
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                                 "--nbval-current-env", f"--notebook-report={report}",
                                 f"--nbval-cell-timeout={NBVAL_CELL_TIMEOUT_S}",
                                 f"--nbval-output-timeout={NBVAL_OUTPUT_TIMEOUT_S}", *map(str, notebooks)],
                                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def nbval_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Each solution notebook's nbval outcome, peak kernel memory and printed text, by notebook path. The notebooks
    run in as many nbval processes at once as the machine has cores (each kernel uses one thread)."""
    folder = tmp_path_factory.mktemp("nbval")
    shares = max(1, min(len(ACTIVE), os.cpu_count() or 1))
    runs = [start_nbval([ROOT / a.notebooks[0] for a in ACTIVE[i::shares]], folder / f"report{i}.json",
                        folder / f"log{i}.txt") for i in range(shares)]
    try:
        for run in runs:
            run.wait()
    finally:
        for run in runs:  # one that failed to start, or a test run interrupted: stop the others too
            if run.poll() is None:
                run.kill()
                run.wait()
    output = "".join((folder / f"log{i}.txt").read_text(errors="replace")[-8000:] for i in range(shares))
    results = {}
    for i in range(shares):
        assert (folder / f"report{i}.json").exists(), f"nbval did not run:\n{output}"
        results |= {r["notebook"]: r for r in json.loads((folder / f"report{i}.json").read_text())}
    missing = [a.id for a in ACTIVE if str(ROOT / a.notebooks[0]) not in results]
    assert not missing, f"nbval ran no kernel for {missing}:\n{output}"
    return results


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ACTIVE, ids=[a.id for a in ACTIVE])
def test_solution_notebook_passes_nbval_in_place_within_binder_memory(assignment, nbval_report: dict) -> None:
    notebook = ROOT / assignment.notebooks[0]
    result = nbval_report[str(notebook)]
    assert result["failures"] == [], f"nbval failed on {notebook.name}:\n" + "\n".join(result["failures"])
    peak, text = result["peak_bytes"], result["text"]
    print(f"\n[notebook] {assignment.id}: nbval {result['seconds']:.1f} s, kernel peak {peak / 2**20:.0f} MB")
    assert 0 < peak < 2 * 2**30, f"{assignment.id} peaked at {peak / 2**20:.0f} MB"
    nb = nbformat.read(str(notebook), as_version=4)
    n_checks = sum(1 for c in nb.cells if c.cell_type == "code" and c.source.startswith(("check(", "check_choice(")))
    assert text.count("✓") == n_checks, "every visible check prints its success line"
    if assignment.id == "a3-transformer":
        trained = re.search(r"trained \d+ steps in ([\d.]+) s", text)
        exact = re.search(r"exact match on \d+ held-out dates: ([\d.]+)%", text)
        print(f"[notebook] date translator: trained in {trained.group(1)} s, {exact.group(1)}% exact")
        assert float(exact.group(1)) >= 95

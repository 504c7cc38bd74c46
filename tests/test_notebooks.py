"""Each solution notebook runs top to bottom in a fresh Jupyter kernel, as a student would run it, within
Binder's memory (2 GB), and every visible check in it passes. The translator of assignment 3 really learns:
at least 95% exact matches on held-out dates. (Their times against Binder's budget: benchmarks/budgets.py.)"""
from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import nbformat
import psutil
import pytest
from nbclient import NotebookClient

from autograder.course import load_course
from autograder.student_files import write_support_files

ROOT = Path(__file__).resolve().parents[1]
COURSE = load_course(ROOT / "course.yml")
ACTIVE = [a for a in COURSE.assignments if a.notebooks]


class PeakMemory:
    """The largest resident memory of the kernel and its children, sampled while the notebook runs."""

    def __init__(self, client: NotebookClient) -> None:
        self.client, self.peak, self.running = client, 0, True
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while self.running:
            try:
                kernel = psutil.Process(self.client.km.provisioner.process.pid)
                tree = [kernel, *kernel.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in tree))
            except (AttributeError, psutil.Error):
                pass
            time.sleep(0.1)

    def __enter__(self) -> "PeakMemory":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.running = False
        self.thread.join()


def outputs_text(nb: nbformat.NotebookNode) -> str:
    return "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ACTIVE, ids=[a.id for a in ACTIVE])
def test_solution_notebook_runs_in_a_fresh_kernel_within_binder_memory(assignment, tmp_path: Path) -> None:
    write_support_files(tmp_path, assignment, COURSE)  # coursekit and fixtures next to the notebook, as released
    nb = nbformat.read(str(ROOT / assignment.notebooks[0]), as_version=4)
    # timeout: a guard against a hung kernel, not a speed bound (speed: benchmarks/budgets.py)
    client = NotebookClient(nb, timeout=3600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    started = time.perf_counter()
    with PeakMemory(client) as memory:
        client.execute()
    elapsed = time.perf_counter() - started
    text = outputs_text(nb)
    print(f"\n[notebook] {assignment.id}: {elapsed:.1f} s, peak {memory.peak / 2**20:.0f} MB")
    assert 0 < memory.peak < 2 * 2**30, f"{assignment.id} peaked at {memory.peak / 2**20:.0f} MB"
    n_checks = sum(1 for c in nb.cells if c.cell_type == "code" and c.source.startswith(("check(", "check_choice(")))
    assert text.count("✓") == n_checks, "every visible check prints its success line"
    if assignment.id == "a3-transformer":
        trained = re.search(r"trained \d+ steps in ([\d.]+) s", text)
        exact = re.search(r"exact match on \d+ held-out dates: ([\d.]+)%", text)
        print(f"[notebook] date translator: trained in {trained.group(1)} s, {exact.group(1)}% exact")
        assert float(exact.group(1)) >= 95

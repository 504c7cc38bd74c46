"""Time budgets, measured and printed as ratios (the tests check behaviour, never wall-clock time):

- each active solution notebook, top to bottom in a fresh Jupyter kernel, against Binder's 180 s budget;
- assignment 3's date translator training, against its 90 s budget;
- a worker forked from the warm server against a fresh interpreter, to start and run `x = 1`.

With --hogs N the notebooks run beside N CPU-bound processes, as on Binder's shared CPUs or a busy laptop (each
notebook trains on one torch thread; with two, assignment 3 took over 1,100 s beside one hog).

    python benchmarks/budgets.py [--repeats 5] [--hogs 1] [--only a3-transformer]
"""
from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import re
import statistics
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from autograder.course import load_course
from autograder.student_files import write_support_files
from autograder.workers.client import ForkServer, Worker

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_BUDGET_S, TRAINING_BUDGET_S = 180.0, 90.0


def notebook_seconds(assignment, course) -> tuple[float, str]:
    with tempfile.TemporaryDirectory() as folder:
        write_support_files(Path(folder), assignment, course)
        nb = nbformat.read(str(ROOT / assignment.notebooks[0]), as_version=4)
        client = NotebookClient(nb, timeout=3600, kernel_name="python3", resources={"metadata": {"path": folder}})
        t0 = time.perf_counter()
        client.execute()
        text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
        return time.perf_counter() - t0, text


def worker_start_ms(repeats: int) -> tuple[float, float]:
    """Median ms to start a worker and read x back: forked from the warm server, and as a fresh interpreter."""
    with tempfile.TemporaryDirectory() as scratch, ForkServer() as server:
        medians = []
        for srv in (server, None):
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                with Worker(["x = 1"], 60, scratch, server=srv) as w:
                    assert w.get("x") == (1, None)
                times.append((time.perf_counter() - t0) * 1e3)
            medians.append(statistics.median(times))
    return medians[0], medians[1]


def spin() -> None:
    while True:
        pass


@contextlib.contextmanager
def cpu_hogs(n: int):
    """n processes that keep a CPU busy until the block ends."""
    hogs = [multiprocessing.Process(target=spin, daemon=True) for _ in range(n)]
    for hog in hogs:
        hog.start()
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--hogs", type=int, default=0, help="CPU-bound processes running beside the notebooks")
    parser.add_argument("--only", nargs="*", default=None, help="assignment ids (default: every active one)")
    args = parser.parse_args()
    course = load_course(ROOT / "course.yml")
    unknown = set(args.only or []) - {a.id for a in course.active}
    if unknown:
        parser.error(f"not active assignments in course.yml: {', '.join(sorted(unknown))}")
    if args.hogs:
        print(f"beside {args.hogs} CPU hog(s):")
    for assignment in course.active:
        if args.only and assignment.id not in args.only:
            continue
        with cpu_hogs(args.hogs):
            seconds, text = notebook_seconds(assignment, course)
        print(f"{assignment.id:<16} solution notebook  {seconds:6.1f} s   {seconds / NOTEBOOK_BUDGET_S:5.2f} of the "
              f"{NOTEBOOK_BUDGET_S:.0f} s budget")
        trained = re.search(r"trained \d+ steps in ([\d.]+) s", text)
        if trained:
            t = float(trained.group(1))
            print(f"{'':<16} training           {t:6.1f} s   {t / TRAINING_BUDGET_S:5.2f} of the {TRAINING_BUDGET_S:.0f} s budget")
    fork, fresh = worker_start_ms(args.repeats)
    print(f"worker start: forked {fork:.0f} ms, fresh interpreter {fresh:.0f} ms ({fresh / fork:.0f}x)")


if __name__ == "__main__":
    main()

"""Solution notebooks run in place under nbval (`pytest --nbval-lax assignments/<id>/<notebook>.ipynb`, which
tests/test_notebooks.py runs for each assignment). The source folders get coursekit/, fixtures/ and data/ before
the kernels start, as `autograder configure` writes them; with --notebook-report=FILE, each notebook's peak
kernel memory, printed output, failures and time go to FILE (JSON), for the guarantees nbval itself does not
check; --nbval-output-timeout lengthens nbval's 5 s wait for a cell's outputs, which a busy machine can exceed."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--notebook-report", metavar="FILE", default=None,
                     help="with --nbval or --nbval-lax: write each notebook's peak kernel memory and output to FILE")
    parser.addoption("--nbval-output-timeout", type=float, default=None, metavar="SECONDS",
                     help="how long nbval waits for a cell's outputs after it ran (nbval's own is 5 s)")


def _nbval(config: pytest.Config) -> bool:
    return bool(config.getoption("nbval", False) or config.getoption("nbval_lax", False))


def pytest_configure(config: pytest.Config) -> None:
    if _nbval(config) and config.getoption("notebook_report"):
        config.pluginmanager.register(NotebookProbe(Path(config.getoption("notebook_report"))), "notebook-probe")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    timeout = config.getoption("nbval_output_timeout")
    for item in items:
        if timeout is not None and hasattr(item, "output_timeout"):  # nbval's cells
            item.output_timeout = timeout


def pytest_sessionstart(session: pytest.Session) -> None:
    """Support folders for every active assignment whose notebook this run was asked to run."""
    if not _nbval(session.config):
        return
    from autograder.commands.configure import write_support_folders
    from autograder.course import load_course

    course = load_course(ROOT / "course.yml")
    asked = [(session.config.invocation_params.dir / arg.split("::")[0]).resolve() for arg in session.config.args]
    wanted = [a for a in course.active
              if any((course.root / nb).resolve().is_relative_to(path) for nb in a.notebooks for path in asked)]
    write_support_folders(course, wanted)


class PeakMemory:
    """The largest resident memory of a process and its children, sampled every 0.1 s until stopped."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self.running = pid, 0, True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        import psutil

        while self.running:
            try:
                kernel = psutil.Process(self.pid)
                self.peak = max(self.peak, sum(p.memory_info().rss for p in [kernel, *kernel.children(recursive=True)]))
            except psutil.Error:
                pass
            time.sleep(0.1)

    def stop(self) -> int:
        self.running = False
        self.thread.join()
        return self.peak


class NotebookProbe:
    """Samples each nbval kernel's memory from its first cell on and collects the text its cells print."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.memory: dict[str, PeakMemory] = {}
        self.text: dict[str, list[str]] = {}
        self.failures: dict[str, list[str]] = {}
        self.started: dict[str, float] = {}
        self.seconds: dict[str, float] = {}

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item):
        yield
        kernel = getattr(item.parent, "kernel", None)  # nbval's notebook collector starts it in its setup
        name = str(item.path)
        if kernel is not None and name not in self.memory:
            self.memory[name] = PeakMemory(kernel.km.provisioner.process.pid)
            self.text[name], self.failures[name], self.started[name] = [], [], time.perf_counter()

    def pytest_runtest_teardown(self, item: pytest.Item) -> None:
        name = str(item.path)
        if name in self.text:
            self.text[name] += [out.get("text", "") for out in getattr(item, "test_outputs", None) or []]
            self.seconds[name] = time.perf_counter() - self.started[name]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        name = str((ROOT / report.nodeid.split("::")[0]).resolve())
        if report.failed and name in self.failures:
            self.failures[name].append(f"{report.nodeid}: {report.longreprtext[-3000:]}")

    def pytest_sessionfinish(self) -> None:
        notebooks = [{"notebook": name, "peak_bytes": memory.stop(), "text": "".join(self.text[name]),
                      "failures": self.failures[name], "seconds": self.seconds.get(name, 0.0)}
                     for name, memory in self.memory.items()]
        self.path.write_text(json.dumps(notebooks, indent=1), encoding="utf-8")

"""Fixtures of the browser tests: a scratch course with assignment 1 released, JupyterLab servers on loopback,
Debian's chromium driven by Playwright, and numbered screenshots in each test's own folder. Every test here
is marked `browser` and `slow`; without chromium or Playwright they skip, saying how to enable them."""
from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from .lab_server import LabServer, start_lab
from .lab_ui import CHROMIUM, ENABLE
from .scratch_course import ASSIGNMENT, ROOT, autograder


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    mine = [item for item in items if here in Path(item.path).parents]
    missing = CHROMIUM is None or importlib.util.find_spec("playwright") is None
    for item in mine:
        item.add_marker(pytest.mark.browser)
        item.add_marker(pytest.mark.slow)
        if missing:
            item.add_marker(pytest.mark.skip(reason=ENABLE))


@pytest.fixture(scope="session")
def course_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch copy of the course with assignment 1 released."""
    from autograder.course import copy_course

    course = tmp_path_factory.mktemp("course")
    copy_course(ROOT, course)
    autograder(course, "release", ASSIGNMENT)
    return course


@pytest.fixture(scope="session")
def configured_course(course_dir: Path) -> Path:
    """The scratch course after `autograder configure`: nbgrader_config.py and the gradebook's assignments."""
    autograder(course_dir, "configure")
    return course_dir


@pytest.fixture
def student_home(course_dir: Path, tmp_path: Path) -> Path:
    """A student's folder holding only the released assignment, as a student or Binder gets it; each test
    gets its own, untouched."""
    home = tmp_path / "student"
    shutil.copytree(course_dir / "release" / ASSIGNMENT, home / ASSIGNMENT)
    return home


@pytest.fixture(scope="session")
def student_config(course_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Jupyter config of a student environment (`autograder student-env`), written to a scratch folder."""
    config = tmp_path_factory.mktemp("student-env")
    autograder(course_dir, "student-env", "--config-dir", str(config))
    return config


@pytest.fixture
def lab(tmp_path: Path) -> Iterator:
    """lab(root, config_path=None) -> a running LabServer; every server started is stopped at teardown, and its
    log is printed when the test fails."""
    servers: list[LabServer] = []

    def start(root: Path, config_path: Path | None = None) -> LabServer:
        servers.append(start_lab(root, tmp_path / f"jupyter-{len(servers)}", config_path))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()
        print(f"--- jupyter lab log ({server.log}) ---\n{server.log_tail()}")


@pytest.fixture(scope="session")
def browser() -> Iterator:
    """Debian's chromium, headless, through Playwright (its own browser download is not used)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


class Screenshots:
    """Numbered full-window screenshots in the test's own folder; the paths are printed and kept in the test
    report's user properties."""

    def __init__(self, folder: Path, request: pytest.FixtureRequest):
        self.folder, self.request, self.paths = folder, request, []

    def __call__(self, page, name: str) -> Path:
        path = self.folder / f"{len(self.paths) + 1:02d}-{name}.png"
        page.screenshot(path=str(path))
        self.paths.append(path)
        self.request.node.user_properties.append(("screenshot", str(path)))
        print(f"screenshot: {path}")
        return path


@pytest.fixture
def shot(tmp_path: Path, request: pytest.FixtureRequest) -> Screenshots:
    folder = tmp_path / "screenshots"
    folder.mkdir()
    return Screenshots(folder, request)


FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.when == "call" and report.failed:
        item.stash[FAILED] = True
    return report


GUARD_MS = 300_000


@pytest.fixture
def page(browser, request: pytest.FixtureRequest, shot: Screenshots) -> Iterator:
    """A fresh browser tab (its own cookies); when the test fails, the tab is screenshotted as it was left."""
    from playwright.sync_api import expect

    # Guards against a hung page, never speed bounds: a busy CI machine may take minutes where an idle one takes
    # a second, so every wait (actions, and expect()'s own 5 s default) gets the same generous limit.
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(GUARD_MS)
    expect.set_options(timeout=GUARD_MS)
    tab = context.new_page()
    yield tab
    if request.node.stash.get(FAILED, False):
        shot(tab, "at-failure")
    context.close()

"""What a person does in JupyterLab 4, as Playwright steps: open a notebook, use the menus, run cells, type
into a cell, read what the notebook shows. Selectors are Lab's own CSS classes."""
from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

from .lab_server import LabServer

if TYPE_CHECKING:  # Playwright may be missing: the tests then skip (see ENABLE)
    from playwright.sync_api import Locator, Page

CHROMIUM = shutil.which("chromium")  # Debian's, driven by Playwright (whose own download is not used)
ENABLE = "browser tests need Debian's chromium: apt-get install -y chromium; and pip install playwright"
NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"
KERNEL_INDICATOR = f"{NOTEBOOK} .jp-Notebook-ExecutionIndicator"
PROMPTS = f"{NOTEBOOK} .jp-CodeCell .jp-InputPrompt"
RUN_TIMEOUT_MS = 300_000  # a whole notebook on a shared CPU


def open_notebook(page: Page, server: LabServer, path: str) -> None:
    """Open `path` (relative to the server's root) and wait until its kernel is started and idle (the
    toolbar's indicator says idle before the kernel is up; the status bar's "| Idle" waits for it)."""
    page.goto(server.url(f"lab/tree/{path}"))
    page.wait_for_selector(f"{KERNEL_INDICATOR}[data-status='idle']", timeout=90_000)
    page.locator("#jp-main-statusbar", has_text="| Idle").wait_for(timeout=90_000)


def open_menu(page: Page, menu: str) -> list[str]:
    """Open a menu of Lab's menu bar; returns the labels of its items."""
    page.click(f".lm-MenuBar-itemLabel:text-is('{menu}')")
    items = page.locator(".lm-Menu .lm-Menu-itemLabel")
    items.first.wait_for()
    return [label.strip() for label in items.all_text_contents()]


def choose(page: Page, menu: str, item: str) -> None:
    """Menu bar `menu`, then its item `item` (the way a person runs a command)."""
    open_menu(page, menu)
    page.click(f".lm-Menu .lm-Menu-itemLabel:text-is('{item}')")


def menu_bar(page: Page) -> list[str]:
    return [label.strip() for label in page.locator(".lm-MenuBar-itemLabel").all_text_contents()]


def commands(page: Page) -> list[str]:
    """Every command id Lab has registered, reachable from a menu, the palette or a shortcut (the test servers
    expose the app to the page for this)."""
    return page.evaluate("() => window.jupyterapp.commands.listCommands()")


def sidebar_tabs(page: Page) -> list[str]:
    """Titles of the left and right sidebar tabs (file browser, table of contents, nbgrader's panels...)."""
    return page.locator(".jp-SideBar .lm-TabBar-tab").evaluate_all(
        "tabs => tabs.map(t => (t.getAttribute('title') || '') + ' ' + t.textContent)")


def run_all(page: Page) -> None:
    """Run > Run All Cells, then wait until the run has started and ended: the kernel idle and no cell's
    prompt showing [*] (queued or running)."""
    before = prompts(page)
    choose(page, "Run", "Run All Cells")
    page.wait_for_function("([sel, before]) => [...document.querySelectorAll(sel)].map(p => p.textContent)"
                           ".join('|') !== before", arg=[PROMPTS, "|".join(before)])
    wait_until_done(page)


def prompts(page: Page) -> list[str]:
    """The code cells' input prompts: [ ] not run, [*] queued or running, [n] run n-th."""
    return page.locator(PROMPTS).all_text_contents()


def wait_until_done(page: Page) -> None:
    """Wait until the kernel is idle and no cell's prompt shows [*]."""
    page.wait_for_function(
        """([indicator, prompts]) => {
            const status = document.querySelector(indicator);
            const all = [...document.querySelectorAll(prompts)];
            return status && status.dataset.status === 'idle' && all.length > 0
                && !all.some(p => p.textContent.includes('*'));
        }""", arg=[KERNEL_INDICATOR, PROMPTS], timeout=RUN_TIMEOUT_MS)


def notebook_text(page: Page) -> str:
    """Everything the open notebook shows, offscreen cells included (windowing is off in the tests)."""
    return page.locator(f"{NOTEBOOK} .jp-Notebook").text_content() or ""


def tracebacks(page: Page) -> list[str]:
    """Outputs on stderr that are tracebacks (errors render there; a plain warning is not counted)."""
    texts = page.locator(f"{NOTEBOOK} .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    return [t for t in texts.all_text_contents() if "Traceback" in t or "Error" in t]


def code_cell(page: Page, source: str) -> Locator:
    """The one code cell whose source contains `source`."""
    cells = page.locator(f"{NOTEBOOK} .jp-CodeCell").filter(
        has=page.locator(".jp-InputArea-editor", has_text=source))
    assert cells.count() == 1, f"{cells.count()} code cells contain {source!r}"
    return cells.first


def replace_source(page: Page, cell: Locator, source: str) -> None:
    """Click into the cell's editor, select everything and type `source` in its place. Text is inserted as
    typed input (no key-by-key auto-indent), so the cell ends up holding exactly `source`."""
    cell.locator(".cm-content").click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(source)


def save(page: Page) -> None:
    """Ctrl+S in the notebook, and wait until its tab no longer shows unsaved changes."""
    page.keyboard.press("Control+S")
    page.wait_for_selector(".jp-mod-current.jp-mod-dirty", state="detached")

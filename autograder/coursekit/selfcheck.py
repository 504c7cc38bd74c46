"""The checks a student runs in the notebook: visible cases shipped as fixtures, with helpful messages.

A part whose cases the grader runs with trusted stand-ins for earlier parts (see `substitute` in a fixture's
cases) is checked here with the student's own earlier parts, and only once those pass their own checks: until
then the check says which one to fix first. So a ✓ never stands on a broken building block, and the grader,
which puts a correct one in its place, finds nothing in that part that the notebook could have shown.

In a notebook every outcome is short: a part still the release's stub prints one "not answered yet" line and
lets Run All go on (under nbgrader's Validate it also fails, in one line, so that Validate lists it); a failing
part prints one line per failing case and raises CheckFailed, which IPython shows as one line (no traceback
into this kit), while nbgrader's Validate and Run All still see the failure.
"""
from __future__ import annotations

import inspect
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .diagnose import diagnose
from .fixtures import read_fixture
from .protocol import NotWritten, PartError, invoke

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"  # read at each check (the grader's workers move it)


Caller = Callable[[str, dict[str, torch.Tensor], dict[str, Any]], list[torch.Tensor]]


def run_visible(name: str, call: Caller, folder: Path | None = None) -> list[str]:
    """Problems found on the visible cases of part `name` (empty when all pass).

    `call(kind, tensors, spec)` runs the student's part; it raises PartError for an error in their code, and
    NotWritten, which is passed on, for a stub that is not written yet.
    """
    folder = folder or FIXTURES
    meta, cases = read_fixture(folder, name)
    problems = []
    for i, case in enumerate(cases):
        try:
            outputs = call(meta["kind"], case.tensors, case.spec)
        except NotWritten:  # not a problem of this case: the caller says so once
            raise
        except PartError as err:
            problems.append(f"case {i + 1} ({case.spec['label']}): {err}")  # PartError says what the code did
            continue
        verdict = diagnose(outputs, case.expected, case.variants, meta["messages"], meta["op"], meta["outputs"])
        if not verdict.passed:
            problems.append(f"case {i + 1} ({case.spec['label']}): {verdict.message}")
    return problems


def builds_on(meta: dict[str, Any], folder: Path | None = None) -> list[tuple[str, str]]:
    """(part, target) of the earlier parts whose targets the cases of a part (its fixture's `meta`) use: the
    grader's stand-ins."""
    folder = folder or FIXTURES
    used = {n for spec in meta["cases"] for n in spec.get("substitute", {})}
    parts = []
    for path in sorted(folder.glob("*.json")):
        meta = json.loads(path.read_text())
        if "kind" in meta and meta.get("target") in used:
            parts.append((path.stem, meta["target"]))
    return parts


def problems_of(name: str, caller_for: Callable[[str], Caller], folder: Path | None = None) -> list[str]:
    """The visible checks of part `name`, each earlier part it uses checked first. `caller_for(target)` calls
    the student's function or class of that name."""
    folder = folder or FIXTURES
    meta = json.loads((folder / f"{name}.json").read_text())
    for part, target in builds_on(meta, folder):
        if run_visible(part, caller_for(target), folder):
            return [f"not checked yet: this part is meant to use your {target}, which fails its own check ({part}); "
                    f"fix that first. (The grader grades this part with a correct {target} in its place: that mistake "
                    f"costs the points of {part} only.)"]
    return run_visible(name, caller_for(meta["target"]), folder)


def namespace_of(target: Any) -> dict[str, Any]:
    """The globals the student's function or class was defined in (the notebook's namespace)."""
    if hasattr(target, "__globals__"):
        return target.__globals__
    methods = [v for v in vars(target).values() if hasattr(v, "__globals__")] if isinstance(target, type) else []
    return methods[0].__globals__ if methods else {}


class CheckFailed(AssertionError):
    """A check that found problems. Its message holds them all (as the command-line check prints them); in IPython
    it displays as one line, the problems having been printed above it one per line."""

    def __init__(self, name: str, problems: list[str]) -> None:
        super().__init__(f"{name}: " + "; ".join(problems))
        lines = "the line" if len(problems) == 1 else f"the {len(problems)} lines"
        self.summary = f"{name} did not pass its visible checks (see {lines} above)"

    def _render_traceback_(self) -> list[str]:
        """What IPython shows instead of a traceback."""
        return [f"CheckFailed: {self.summary}"]


def fail(name: str, problems: list[str]) -> None:
    """Print one line per problem, then raise CheckFailed."""
    for problem in problems:
        print(f"✗ {name}: {problem}")
    raise CheckFailed(name, problems)


def stubs_of(target: Any) -> list[str]:
    """The qualified names of the functions of a part (the function, or a class's own methods) that still hold the
    release's `raise NotImplementedError()`."""
    functions = [target] if inspect.isfunction(target) else \
        [v for v in vars(target).values() if inspect.isfunction(v)] if isinstance(target, type) else []
    return [f.__qualname__ for f in functions if "NotImplementedError" in f.__code__.co_names]


def not_written(name: str, target: Any, err: NotWritten) -> str:
    """The line for a part whose code, or the code of an earlier part it uses, is still the release's stub."""
    own = getattr(target, "__name__", None)
    stubs = [err.where] if err.where.split(".")[0] == own else stubs_of(target)
    if stubs:
        return (f"not answered yet: {name} (write {' and '.join(stubs)} between the YOUR CODE HERE lines, then run "
                "this cell again)")
    return (f"not checked yet: {name} uses your {err.where}, which is not written yet (write it "
            "between its YOUR CODE HERE lines, run its check, then run this cell again)")


class NotAnswered(AssertionError):
    """A part or question not answered yet, raised only under nbgrader's Validate; IPython shows it as one line."""

    def _render_traceback_(self) -> list[str]:
        return [f"NotAnswered: {self}"]


def unanswered(line: str) -> None:
    """Print the "not answered yet" line. Under nbgrader's Validate (which sets NBGRADER_VALIDATING in the kernel's
    environment) it is also a one-line failure, so that Validate lists the parts still to do."""
    print(line)
    if os.environ.get("NBGRADER_VALIDATING"):
        raise NotAnswered(line)


def check(name: str, target: Any) -> None:
    """Run the visible checks of one part: print a ✓ line, or "not answered yet", or the problems found and
    raise CheckFailed."""
    own = json.loads((FIXTURES / f"{name}.json").read_text())["target"]
    namespace = namespace_of(target)

    def caller_for(target_name: str) -> Caller:
        found = target if target_name == own else namespace.get(target_name)
        return lambda kind, tensors, spec: invoke(found, kind, tensors, spec)

    try:
        problems = problems_of(name, caller_for)
    except NotWritten as err:
        unanswered(not_written(name, target, err))
        return
    if problems:
        fail(name, problems)
    print(f"✓ {name}: all visible checks pass")


def choice_problem(options: list[str], answer: Any) -> str | None:
    """What is wrong with a multiple-choice answer before the deadline: only that it is not an offered letter."""
    return None if answer in options else f"answer with one of {', '.join(map(repr, options))}, not {answer!r}"


def choice_recorded(answer: Any) -> str:
    """What a ✓ for a multiple-choice answer says: it is kept, not yet judged."""
    return f"answer recorded ({answer!r}); it is graded after the deadline"


def check_choice(name: str, answer: Any, folder: Path | None = None) -> None:
    """A multiple-choice answer must be one of the offered letters; whether it is right is graded later. None
    (the release's placeholder) is not answered yet."""
    folder = folder or FIXTURES
    meta = json.loads((folder / f"{name}.json").read_text())
    if answer is None:
        unanswered(f"not answered yet: {name} (set {meta['target']} to one of "
                   f"{', '.join(map(repr, meta['options']))}, then run this cell again)")
        return
    problem = choice_problem(meta["options"], answer)
    if problem:
        fail(name, [problem])
    print(f"✓ {name}: {choice_recorded(answer)}")

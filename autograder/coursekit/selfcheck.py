"""The checks a student runs in the notebook: visible cases shipped as fixtures, with helpful messages."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .diagnose import diagnose
from .fixtures import read_fixture
from .protocol import PartError, invoke

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


Caller = Callable[[str, dict[str, torch.Tensor], dict[str, Any]], list[torch.Tensor]]


def run_visible(name: str, call: Caller, folder: Path = FIXTURES) -> list[str]:
    """Problems found on the visible cases of part `name` (empty when all pass).

    `call(kind, tensors, spec)` runs the student's part; it raises PartError for an error in their code.
    """
    meta, cases = read_fixture(folder, name)
    problems = []
    for i, case in enumerate(cases):
        try:
            outputs = call(meta["kind"], case.tensors, case.spec)
        except PartError as err:
            problems.append(f"case {i + 1} ({case.spec['label']}): your code raised {err}")
            continue
        verdict = diagnose(outputs, case.expected, case.variants, meta["messages"], meta["op"], meta["outputs"])
        if not verdict.passed:
            problems.append(f"case {i + 1} ({case.spec['label']}): {verdict.message}")
    return problems


def check(name: str, target: Any) -> None:
    """Run the visible checks of one part; raise AssertionError with every problem found."""
    problems = run_visible(name, lambda kind, tensors, spec: invoke(target, kind, tensors, spec))
    if problems:
        raise AssertionError(f"{name}: " + "; ".join(problems))
    print(f"✓ {name}: all visible checks pass")


def check_choice(name: str, answer: Any, folder: Path = FIXTURES) -> None:
    """A multiple-choice answer must be one of the offered letters; whether it is right is graded later."""
    options = json.loads((folder / f"{name}.json").read_text())["options"]
    if answer not in options:
        raise AssertionError(f"{name}: answer with one of {', '.join(map(repr, options))}, not {answer!r}")
    print(f"✓ {name}: answer recorded ({answer!r}); it is graded after the deadline")

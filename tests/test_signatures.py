"""Every argument reaches the student's code in the type its signature documents. For each graded part of every
assignment, each case (visible and hidden) is called through the protocol on a recorder, and what the recorder
received is checked against the annotations of the function or class the source notebook asks the student to
write. (Merges delivered as lists of lists made `{pair: rank for rank, pair in enumerate(merges)}`, a correct
answer to `merges: list[tuple[int, int]]`, fail with "unhashable type: 'list'".)"""
from __future__ import annotations

import ast
import collections.abc
import inspect
import types
import typing
from pathlib import Path
from typing import Any

import pytest
import torch

from autograder.content import checks_of
from autograder.coursekit.protocol import PartError, invoke
from autograder.course import load_course
from autograder.grading.parts import FIXTURE_SEED, PartCheck
from autograder.notebook import read_notebook

ROOT = Path(__file__).resolve().parents[1]
COURSE = load_course(ROOT / "course.yml")
NAMESPACE = {**vars(typing), "torch": torch, "nn": torch.nn, "Tensor": torch.Tensor, "Callable": collections.abc.Callable}


def documented(notebook: Path, target: str) -> dict[str, inspect.Signature]:
    """The signatures the notebook documents for `target`: {"call": ...} for a function, {"init": ..., "call": ...}
    (the constructor and forward) for a class; annotations evaluated, bodies never run."""
    for cell in read_notebook(notebook).cells:
        if cell.cell_type != "code":
            continue
        code = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        for node in ast.parse(code).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == target:
                defs = [node] if isinstance(node, ast.FunctionDef) else \
                    [d for d in node.body if isinstance(d, ast.FunctionDef) and d.name in ("__init__", "forward")]
                out = {}
                for d in defs:
                    stub = ast.FunctionDef(d.name, d.args, [ast.Expr(ast.Constant(...))], [], d.returns, type_params=[])
                    module = ast.fix_missing_locations(ast.Module([stub], []))
                    space: dict[str, Any] = {}
                    exec(compile(module, str(notebook), "exec"), dict(NAMESPACE), space)
                    sig = inspect.signature(space[d.name], eval_str=False)
                    params = [p for p in sig.parameters.values() if p.name != "self"]
                    out["init" if d.name == "__init__" else "call"] = sig.replace(parameters=params)
                return out
    raise AssertionError(f"{notebook.name} defines no {target}")


def conforms(value: Any, annotation: Any) -> bool:
    """Whether `value` is of the annotated type (strictly: an int is no float, a list no tuple)."""
    if annotation is Any:
        return True
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(conforms(value, a) for a in args)
    if origin is list:
        return type(value) is list and all(conforms(v, args[0]) for v in value)
    if origin is tuple:
        if type(value) is not tuple:
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(conforms(v, args[0]) for v in value)
        return len(value) == len(args) and all(conforms(v, a) for v, a in zip(value, args))
    if origin is collections.abc.Callable:
        return callable(value)
    if annotation is None or annotation is type(None):
        return value is None
    if annotation is torch.Tensor:
        return type(value) is torch.Tensor
    return type(value) is annotation


class Recorder(torch.nn.Module):
    """Stands in for the student's function or class and keeps what the protocol passed it."""

    calls: list[tuple[str, tuple, dict]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        Recorder.calls.append(("init", args, kwargs))

    def load_state_dict(self, *args: Any, **kwargs: Any) -> Any:
        return None

    def __getattr__(self, name: str) -> Any:
        """Any other method a case calls before the forward (Call.methods, e.g. merge) does nothing."""
        if name.startswith("_"):
            return super().__getattr__(name)
        return lambda: None

    def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        Recorder.calls.append(("call", args, kwargs))
        return torch.zeros(1)


def record(kind: str, tensors: dict[str, torch.Tensor], spec: dict[str, Any]) -> list[tuple[str, tuple, dict]]:
    Recorder.calls = []
    target = Recorder if kind == "module" else (lambda *a, **k: Recorder.calls.append(("call", a, k)) or torch.zeros(1))
    try:
        invoke(target, kind, tensors, spec)
    except PartError:  # the recorder's answer is not what the part returns: only its inputs matter here
        pass
    return Recorder.calls


PARTS = [(a, p) for a in COURSE.active for p in checks_of(COURSE, a).values() if isinstance(p, PartCheck)]


@pytest.mark.parametrize("assignment,part", PARTS, ids=[f"{a.id}:{p.id}" for a, p in PARTS])
def test_every_case_passes_the_types_the_signature_documents(assignment, part: PartCheck) -> None:
    signatures = documented(ROOT / assignment.notebooks[0], part.target)
    cases = part.cases(torch.Generator().manual_seed(FIXTURE_SEED), False) + part.cases(torch.Generator().manual_seed(7), True)
    for case in cases:
        data = part.evaluate(case)
        calls = record(part.kind, data.tensors, data.spec)
        assert [c[0] for c in calls] == (["init", "call"] if part.kind == "module" else ["call"]), (case.label, calls)
        for role, args, kwargs in calls:
            bound = signatures[role].bind(*args, **kwargs)
            for name, value in bound.arguments.items():
                annotation = signatures[role].parameters[name].annotation
                assert annotation is not inspect.Parameter.empty, f"{part.target}: {name} has no annotation in the notebook"
                expected = eval(annotation, NAMESPACE) if isinstance(annotation, str) else annotation
                assert conforms(value, expected), \
                    f"{part.id} ({case.label}): {name} is passed as {type(value).__name__} {value!r:.80}, documented {annotation}"


def test_the_checker_tells_tuples_from_lists() -> None:
    assert conforms([(1, 2)], list[tuple[int, int]]) and not conforms([[1, 2]], list[tuple[int, int]])
    assert conforms(None, torch.Tensor | None) and not conforms(3, float)

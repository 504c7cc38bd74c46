"""The kinds of graded cell. Each knows how to grade itself, how to make its visible fixture, and how to check
its own markup, so that grading, release and validate never ask which kind a cell is.

- PartCheck: a function or class of the student's, called on cases and compared with the reference;
- ChoiceCheck: a multiple-choice answer, compared with the key kept in the source notebook;
- ManualPart: a prose answer, left to formgrader.
An assignment's checks.py lists its PartChecks and ChoiceChecks; ManualPart comes from markdown grade cells.
"""
from __future__ import annotations

import ast
import functools
import inspect
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import torch

from ..coursekit.diagnose import Verdict, diagnose
from ..coursekit.fixtures import CaseData, write_fixture
from ..notebook import HIDDEN, GradedCell, answer_key
from ..results import PartResult
from ..text import shown

if TYPE_CHECKING:
    from ..workers.client import Worker

FIXTURE_SEED = 20240601  # visible cases are the same for every student
UNEXPLAINED_KEPT = 3  # wrong cases no known mistake explains, kept per part for the class report


@functools.lru_cache(maxsize=64)
def needed_source(source: str, names: frozenset[str]) -> str:
    """The imports of a module's source and the top-level definitions that `names` need (those, and whatever
    they refer to by name, transitively), in their original order; cached, as every case of a part asks."""
    tree = ast.parse(source)
    lines = source.splitlines()
    defined: dict[str, ast.stmt] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if isinstance(target, ast.Name):
                    defined[target.id] = node
    missing = names - defined.keys()
    if missing:
        raise ValueError(f"stand-ins {sorted(missing)} are not defined at the top level of their module")
    keep: set[int] = set()
    todo = sorted(names)
    while todo:
        node = defined[todo.pop()]
        if id(node) in keep:
            continue
        keep.add(id(node))
        todo += [n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id in defined]
    imports, definitions = [], []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)) or id(node) in keep:
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            chunk = "\n".join(lines[first - 1:node.end_lineno])
            (imports if isinstance(node, (ast.Import, ast.ImportFrom)) else definitions).append(chunk)
    return "\n\n\n".join(["\n".join(imports)] + definitions) + "\n"


@dataclass(frozen=True)
class Call:
    """How one case calls the student's part; coursekit/protocol.py reads it (as JSON) in the same way.

    args: tensor names passed positionally (None passes None).
    options: JSON keyword arguments.
    init: keyword arguments of a module's constructor (its weights come from the tensors named "state.*").
    tensor_options: keyword argument -> tensor name.
    as_python: tensor input -> the Python type its signature documents ("list[tuple[int, int]]"), passed so.
    noncontiguous: tensor arguments passed with other strides (same values).
    step_tables: keyword argument -> tensor turned into a toy model's step function.
    returns: "tensors", "ints" (an int, or a list or tuple of them), "text" (a str) or "none" (ignored: the part
        changes a module).
    modules: keyword argument -> the JSON layout of a small module built for it (protocol.build_module); its
        weights come from the tensors named "<argument>.*" (none: PyTorch's defaults).
    load_state: False judges a module target as its constructor made it (no "state.*" tensors loaded).
    attributes: attribute name -> JSON value, set on a module target after loading (documented attributes only).
    methods: no-argument methods of a module target called in order (with gradients) after loading, before the forward.
    gradients: tensor arguments of a function target whose gradients (of its first output, a scalar) are appended
        to the outputs.
    reports: outputs appended after the call ("trainable:<module>", "zero:<module>.<parameter>",
        "state:<module>.<name>"; the module target is "self"), see coursekit/protocol.py.
    substitute: name in the student's namespace -> trusted stand-in (a function or class of the assignment's
        standins.py) put there while this part is graded, so that an earlier part's bug costs that part only.
    """

    args: tuple[str | None, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    init: dict[str, Any] = field(default_factory=dict)
    tensor_options: dict[str, str] = field(default_factory=dict)
    as_python: dict[str, str] = field(default_factory=dict)
    noncontiguous: tuple[str, ...] = ()
    step_tables: dict[str, str] = field(default_factory=dict)
    returns: str = "tensors"
    substitute: dict[str, Any] = field(default_factory=dict)
    modules: dict[str, dict[str, Any]] = field(default_factory=dict)
    load_state: bool = True
    attributes: dict[str, Any] = field(default_factory=dict)
    methods: tuple[str, ...] = ()
    reports: tuple[str, ...] = ()
    gradients: tuple[str, ...] = ()

    def to_wire(self) -> dict[str, Any]:
        """The JSON form sent to a worker and written into fixtures (stand-ins by name only)."""
        spec: dict[str, Any] = {"args": list(self.args)}
        for key in ("options", "init", "tensor_options", "step_tables", "as_python", "modules", "attributes"):
            if getattr(self, key):
                spec[key] = dict(getattr(self, key))
        for key in ("noncontiguous", "methods", "reports", "gradients"):
            if getattr(self, key):
                spec[key] = list(getattr(self, key))
        if not self.load_state:
            spec["load_state"] = False
        if self.returns != "tensors":
            spec["returns"] = self.returns
        if self.substitute:
            spec["substitute"] = {name: obj.__name__ for name, obj in self.substitute.items()}
        return spec

    def standins_source(self) -> str | None:
        """This call's stand-ins as source the worker runs in a short-lived fork: the imports of the module that
        defines them and the definitions they need, nothing else (the module's stand-ins for later parts are
        answers that the student's code there could read)."""
        modules = {obj.__module__ for obj in self.substitute.values()}
        if not modules:
            return None
        if len(modules) > 1:
            raise ValueError(f"stand-ins of one call come from one module, not {sorted(modules)}")
        return needed_source(inspect.getsource(sys.modules[modules.pop()]),
                             frozenset(obj.__name__ for obj in self.substitute.values()))


@dataclass
class Case:
    label: str
    tensors: dict[str, torch.Tensor]
    call: Call


Outputs = list[torch.Tensor]


class LazyVariants(Mapping[str, Outputs]):
    """The outputs of each known mistake on one case, each computed the first time it is asked for: diagnosis
    asks only when an answer is wrong, so a right answer costs the reference alone."""

    def __init__(self, case: Case, variants: dict[str, tuple[str, Callable[[Case], Outputs]]]) -> None:
        self.case, self.variants, self.computed = case, variants, {}

    def __getitem__(self, key: str) -> Outputs:
        if key not in self.computed:
            self.computed[key] = self.variants[key][1](self.case)
        return self.computed[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.variants)

    def __len__(self) -> int:
        return len(self.variants)


Drawn = list[tuple[Case, CaseData]]  # a part's hidden cases, each with its expected outputs and its mistakes'


class Grader(Protocol):
    """What a part needs from the grading of one submission."""

    worker: Worker
    devices: list[str]
    drawn: dict[str, Drawn]  # grade_id -> the part's hidden cases, where drawn ahead of grading

    def seed(self, grade_id: str) -> int: ...


@dataclass
class PartCheck:
    """A part graded by calling the student's function or class on cases and comparing with the reference."""

    id: str
    target: str
    kind: str  # "function" or "module"
    op: str  # tolerance class: elementwise, reduction or composite
    outputs: list[str]
    cases: Callable[[torch.Generator, bool], list[Case]]  # (generator, hidden) -> cases
    reference: Callable[[Case], Outputs]
    variants: dict[str, tuple[str, Callable[[Case], Outputs]]] = field(default_factory=dict)

    @property
    def messages(self) -> dict[str, str]:
        return {key: message for key, (message, _) in self.variants.items()}

    def evaluate(self, case: Case, lazy: bool = False) -> CaseData:
        """The case with its expected outputs and the outputs of every known mistake (`lazy`: computed when first
        asked for, see LazyVariants)."""
        spec = {**case.call.to_wire(), "label": case.label}
        variants = LazyVariants(case, self.variants) if lazy else {k: fn(case) for k, (_, fn) in self.variants.items()}
        return CaseData(spec, case.tensors, self.reference(case), variants)  # type: ignore[arg-type]

    def meta(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.target, "op": self.op, "outputs": self.outputs,
                "messages": self.messages}

    def validate(self, cell: GradedCell) -> list[str]:
        return [] if HIDDEN.search(cell.source) else ["grade cell has no hidden-tests region"]

    def write_fixture(self, folder: Path) -> None:
        g = torch.Generator().manual_seed(FIXTURE_SEED)
        write_fixture(folder, self.id, self.meta(), [self.evaluate(c) for c in self.cases(g, False)])

    def draw(self, seed: int) -> Drawn:
        """The hidden cases drawn from `seed`, with their expected outputs: the grader does this while the worker
        starts (the outputs of known mistakes wait until an answer is wrong)."""
        return [(case, self.evaluate(case, lazy=True)) for case in self.cases(torch.Generator().manual_seed(seed), True)]

    def run_case(self, worker: Worker, case: Case, data: CaseData, device: str) -> tuple[Verdict, str]:
        """Whether the student's answer on this case is right; if not, what is wrong and which known mistakes
        explain it; and how the code ended: "answered", or "raised" an error. A worker that stopped raises
        WorkerFailure."""
        result = worker.call(self.target, self.kind, data.tensors, {**data.spec, "device": device},
                             case.call.standins_source())
        if result.error is not None:
            return Verdict(False, result.error), "raised"
        return diagnose(result.outputs, data.expected, data.variants, self.messages, self.op, self.outputs), "answered"

    def grade(self, grader: Grader, cell: GradedCell) -> PartResult:
        """Partial credit: the fraction of hidden cases answered right (on every grading device). For the class
        report: the known mistakes found, a few wrong outputs none explains, and how many cases raised instead of
        answering (a process that stopped, timed out or died, is the submission's trouble, not counted here)."""
        from ..workers.client import WorkerFailure

        cases = grader.drawn.get(cell.grade_id) or self.draw(grader.seed(cell.grade_id))
        passed, raised, messages, mistakes, unexplained = 0, 0, [], Counter[str](), []
        for case, data in cases:
            wrong: dict[str, tuple[Verdict, str]] = {}
            for device in grader.devices:
                try:
                    verdict, ended = self.run_case(grader.worker, case, data, device)
                except WorkerFailure as err:
                    verdict, ended = Verdict(False, str(err)), "stopped"
                if not verdict.passed:
                    wrong[device] = (verdict, ended)
            if not wrong:
                passed += 1
                continue
            device, (verdict, ended) = next(iter(wrong.items()))
            gpu_only = device == "cuda" and len(wrong) < len(grader.devices)
            messages.append(f"{case.label}: {verdict.message}" + (" (on the GPU)" if gpu_only else ""))
            mistakes.update(verdict.mistakes)
            stopped = any(how == "stopped" for _, how in wrong.values())
            raised += ended == "raised" and not stopped
            if not verdict.mistakes and ended == "answered" and len(unexplained) < UNEXPLAINED_KEPT:
                unexplained.append(messages[-1])
        return PartResult(self.id, round(cell.points * passed / len(cases), 2), cell.points, messages,
                          dict(sorted(mistakes.items())), unexplained, raised)


@dataclass
class ChoiceCheck:
    """A multiple-choice question: the answer variable must equal the key kept in the source notebook."""

    id: str
    target: str
    options: list[str]

    def validate(self, cell: GradedCell) -> list[str]:
        try:
            key = answer_key(cell)
        except (ValueError, SyntaxError) as err:
            return [str(err)]
        return [] if key in self.options else [f"ANSWER {key!r} is not one of the options {self.options}"]

    def write_fixture(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{self.id}.json").write_text(json.dumps({"target": self.target, "options": self.options}))

    def grade(self, grader: Grader, cell: GradedCell) -> PartResult:
        from ..workers.client import WorkerFailure

        try:
            value, error = grader.worker.get(self.target)
        except WorkerFailure as err:
            value, error = None, str(err)
        if error is not None:
            return PartResult(self.id, 0.0, cell.points, [f"no answer: {error}"])
        right = value == answer_key(cell)
        return PartResult(self.id, cell.points if right else 0.0, cell.points,
                          [] if right else [f"{value!r} is not the right answer"],
                          answer=str(value) if str(value) in self.options else shown(str(value), 80))


@dataclass
class ManualPart:
    """A prose answer in a markdown cell: formgrader's job, never autograded."""

    id: str

    def validate(self, cell: GradedCell) -> list[str]:
        return [] if cell.solution else ["a graded markdown cell must be an answer cell (solution) for manual grading"]

    def write_fixture(self, folder: Path) -> None:
        """Nothing to check before the deadline."""

    def grade(self, grader: Grader, cell: GradedCell) -> PartResult:
        return PartResult(self.id, None, cell.points, ["graded by hand"])


Part = PartCheck | ChoiceCheck | ManualPart

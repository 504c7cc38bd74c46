"""What a graded part is: its target in the student's notebook, its cases, its reference and its known bugs."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from ..coursekit.fixtures import CaseData


@dataclass
class Case:
    label: str
    tensors: dict[str, torch.Tensor]
    spec: dict[str, Any]  # args, options, init, tensor_options, noncontiguous (see coursekit.protocol)


Outputs = list[torch.Tensor]


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

    def evaluate(self, case: Case) -> CaseData:
        """The case with its expected outputs and the outputs of every known mistake."""
        spec = {**case.spec, "label": case.label}
        return CaseData(spec, case.tensors, self.reference(case), {k: fn(case) for k, (_, fn) in self.variants.items()})

    def meta(self) -> dict[str, Any]:
        return {"kind": self.kind, "op": self.op, "outputs": self.outputs, "messages": self.messages}


@dataclass
class ChoiceCheck:
    """A multiple-choice question: the answer variable must equal the key kept in the source notebook."""

    id: str
    target: str
    options: list[str]

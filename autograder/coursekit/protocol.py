"""How a graded part is called: the same convention in the notebook's self-checks and in the grader.

A case is a set of named tensors plus JSON options:
- a function target is called as target(*args, **options);
- a module target is built as target(**init), given the tensors named "state.*" with load_state_dict,
  put in eval mode, then called as module(*args, **options).
With spec["device"] = "cuda", inputs and module move to the GPU first; outputs come back to the CPU.
Outputs must be plain torch.Tensor objects (a tuple of them for several outputs).
"""
from __future__ import annotations

from typing import Any

import torch


class PartError(Exception):
    """The student's code raised, or returned something that is not a tensor."""


def invoke(target: Any, kind: str, tensors: dict[str, torch.Tensor], spec: dict[str, Any]) -> list[torch.Tensor]:
    device = torch.device(spec.get("device", "cpu"))
    tensors = {k: v.to(device) for k, v in tensors.items()}
    args = [tensors[name] if name is not None else None for name in spec.get("args", [])]
    # same values, other strides: code that assumes contiguous memory (view after transpose) shows up here
    strided = set(spec.get("noncontiguous", []))
    args = [a.transpose(-1, -2).contiguous().transpose(-1, -2) if n in strided else a
            for n, a in zip(spec.get("args", []), args)]
    options = dict(spec.get("options", {}))
    options.update({k: tensors[v] for k, v in spec.get("tensor_options", {}).items()})
    try:
        if kind == "module":
            module = target(**spec.get("init", {}))
            state = {k.removeprefix("state."): v for k, v in tensors.items() if k.startswith("state.")}
            module.load_state_dict(state, strict=True)
            module.to(device).eval()
            with torch.no_grad():
                out = module(*args, **options)
        else:
            with torch.no_grad():
                out = target(*args, **options)
    except Exception as err:  # the student's exception becomes a message, not a crash
        raise PartError(f"{type(err).__name__}: {err}") from None
    outputs = list(out) if isinstance(out, (tuple, list)) else [out]
    for i, o in enumerate(outputs):
        if type(o) is not torch.Tensor:
            raise PartError(f"output {i} is a {type(o).__name__}, expected a torch.Tensor")
        if o.device != device:
            raise PartError(f"output {i} is on {o.device}, but the inputs were on {device}")
    return [o.cpu() for o in outputs]

"""How a graded part is called: the same convention in the notebook's self-checks and in the grader.

A case is a set of named tensors plus JSON options:
- a function target is called as target(*args, **options);
- a module target is built as target(**init), given the tensors named "state.*" with load_state_dict,
  put in eval mode, then called as module(*args, **options).
With spec["device"] = "cuda", inputs and module move to the GPU first; outputs come back to the CPU.
Outputs must be plain torch.Tensor objects (a tuple of them for several outputs), except that
spec["returns"] = "ints" takes a (nested) list or tuple of integers (Python, NumPy or 0-d tensors) and "text" takes
a str (compared as UTF-8 bytes).
spec["as_python"] maps tensor inputs (arguments or options) to the Python type their signature documents
("list[int]", "tuple[int, int]", "list[tuple[int, int]]"), in which they are passed instead of a tensor, and
spec["step_tables"] maps an option name to a tensor turned into a toy model's step function (table_step).

Parts that take or change modules (build_module):
- spec["modules"] maps a keyword argument to a small module built from PyTorch layers: {"layers": {path: [type,
  *sizes]}, "tied": {parameter: parameter}, "frozen": [parameter, ...]}, with type "Linear" (in, out),
  "LinearNoBias" (in, out), "LayerNorm" (d) or "Embedding" (n, d); path "" is the layer itself, a dotted path
  nests it in plain nn.Module containers. Its weights are the tensors named "<argument>.<parameter>" (all of them,
  loaded strictly) or, when there are none, PyTorch's defaults. A module target gets these arguments in its
  constructor, a function target in its call.
- spec["load_state"] = False leaves a module target as its constructor made it (no "state.*" tensors are loaded).
- spec["attributes"] maps attribute names of a module target to JSON values set after loading (a documented
  attribute such as a scaling factor or a flag, so that a part is graded apart from how its constructor set it).
- spec["methods"] lists no-argument methods of a module target, called in order (with gradients, as a notebook
  calls them; the forward runs without) after loading, before the forward.
- spec["returns"] = "none" ignores the return value (a function that changes a module in place).
- spec["gradients"] lists tensor arguments of a function target: it is called with gradients on, its first output
  must be a scalar that depends on each of them, and the gradient of that scalar with respect to each is appended
  to the outputs (a loss written by hand is checked on its values and on what it teaches through backward).
- spec["reports"] lists outputs appended after the call, about the module target ("self") or a module argument:
  "trainable:<module>[.<submodule>]" (its parameters with requires_grad as "name [shape]", sorted, one per line,
  as UTF-8 bytes, a tied parameter once), "zero:<module>.<parameter>" (a bool scalar: the parameter is all zeros) and
  "state:<module>.<name>" (an entry of its state dict). Nothing but tensors and JSON crosses the wire.
"""
from __future__ import annotations

import numbers
import re
from typing import Any

import torch


class PartError(Exception):
    """The student's code raised, or returned something that is not a tensor."""


STUB_RAISED = "not written yet: it still raises NotImplementedError"  # how a release's stub is reported


class NotWritten(PartError):
    """A release's stub was reached: a notebook function (the part, or one it uses) raised NotImplementedError
    itself. `where` is that function's qualified name, such as "FeedForward.forward"."""

    def __init__(self, message: str, where: str) -> None:
        super().__init__(message)
        self.where = where


def stub_raised(err: BaseException) -> str | None:
    """The qualified name of the notebook function that raised `err` itself, bare as the release's stub does
    (`raise NotImplementedError()`, in code a notebook cell defined: the namespace whose __name__ is "__main__").
    None for one with a message, or one library code raised (torch's, for a module without forward): a bug."""
    if err.args:
        return None
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None or tb.tb_frame.f_globals.get("__name__") != "__main__" or tb.tb_frame.f_code.co_name == "<module>":
        return None
    return getattr(tb.tb_frame.f_code, "co_qualname", tb.tb_frame.f_code.co_name)


def table_step(table: torch.Tensor) -> Any:
    """A toy language model for decoding checks: table (T, V, V) holds the log-probabilities of the next token
    given the prefix length t (capped at T) and the prefix's last token. step(prefixes (n, t)) -> (n, V), on
    the CPU like the step functions of the notebooks, whatever device the table is on."""
    def step(prefixes: torch.Tensor) -> torch.Tensor:
        prefixes = torch.as_tensor(prefixes, device=table.device)
        prefixes = prefixes[None] if prefixes.dim() == 1 else prefixes
        return table[min(prefixes.size(1), table.size(0)) - 1, prefixes[:, -1]].cpu()
    return step


def _top_level(types: str) -> list[str]:
    """'int, list[int]' -> ['int', 'list[int]']: the comma-separated types at the outer level."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(types):
        depth += (ch == "[") - (ch == "]")
        if ch == "," and depth == 0:
            parts.append(types[start:i].strip())
            start = i + 1
    return parts + [types[start:].strip()]


def as_python(value: Any, annotation: str) -> Any:
    """Values from tensor.tolist() in the documented type: int, float, bool, list[T], tuple[T, ...], tuple[A, B]."""
    kind, _, inner = annotation.partition("[")
    if not inner:
        return {"int": int, "float": float, "bool": bool}[kind](value)
    types = _top_level(inner[:-1])
    if kind == "list":
        return [as_python(v, types[0]) for v in value]
    if kind == "tuple":
        return tuple(as_python(v, types[0] if types[-1] == "..." else t) for v, t in zip(value, types, strict=types[-1] != "..."))
    raise ValueError(f"cannot pass a tensor as {annotation}")


def _is_int(value: Any) -> bool:
    """A Python or NumPy integer, or a 0-d integer tensor (what indexing a tensor gives); not a bool."""
    if type(value) is torch.Tensor:
        return value.dim() == 0 and not value.is_floating_point() and not value.is_complex() and value.dtype != torch.bool
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _plain_ints(value: Any) -> bool:
    return _is_int(value) or type(value) in (list, tuple) and all(_plain_ints(v) for v in value)


def _as_ints(value: Any) -> Any:
    return [_as_ints(v) for v in value] if type(value) in (list, tuple) else int(value)


def same_device(found: torch.device, asked: torch.device) -> bool:
    """cuda:0 is the "cuda" the grader asked for when 0 is the current device (torch.device compares them unequal)."""
    if found.type != asked.type:
        return False
    if asked.type == "cuda" and asked.index is None:
        return found.index == torch.cuda.current_device()
    return found.index == asked.index


def as_outputs(out: Any, returns: str, device: torch.device) -> list[Any]:
    """The student's return value as a list of outputs, converting lists of ints and text to tensors."""
    if returns == "ints":
        if type(out) is torch.Tensor:
            if out.is_floating_point() or out.is_complex() or out.dtype == torch.bool:
                raise PartError(f"your code returned a {out.dtype} tensor, expected an int or a list (or tuple) of ints")
            return [out]
        if not _plain_ints(out):
            raise PartError(f"your code returned a {type(out).__name__}, expected an int or a list (or tuple) of ints")
        return [torch.tensor(_as_ints(out), dtype=torch.long, device=device)]
    if returns == "text":
        if type(out) is not str:
            raise PartError(f"your code returned a {type(out).__name__}, expected a str")
        return [torch.tensor(list(out.encode("utf-8", "surrogatepass")), dtype=torch.uint8, device=device)]
    return list(out) if isinstance(out, (tuple, list)) else [out]


LAYERS = {"Linear": lambda i, o: torch.nn.Linear(i, o), "LinearNoBias": lambda i, o: torch.nn.Linear(i, o, bias=False),
          "LayerNorm": lambda d: torch.nn.LayerNorm(d), "Embedding": lambda n, d: torch.nn.Embedding(n, d)}


def build_module(layout: dict[str, Any], tensors: dict[str, torch.Tensor]) -> torch.nn.Module:
    """A module from its JSON layout (see spec["modules"] above); `tensors` are its weights, keyed by parameter
    name (empty: PyTorch's default initialization)."""
    layers = layout["layers"]
    root = LAYERS[layers[""][0]](*layers[""][1:]) if "" in layers else torch.nn.Module()
    for path, (kind, *sizes) in layers.items():
        if path:
            *parents, name = path.split(".")
            holder = root
            for part in parents:
                if not hasattr(holder, part):
                    holder.add_module(part, torch.nn.Module())
                holder = getattr(holder, part)
            holder.add_module(name, LAYERS[kind](*sizes))
    for param, source in layout.get("tied", {}).items():
        owner, _, name = param.rpartition(".")
        setattr(root.get_submodule(owner), name, root.get_parameter(source))
    if tensors:
        root.load_state_dict(tensors, strict=True)
    for param in layout.get("frozen", []):
        root.get_parameter(param).requires_grad_(False)
    return root


def _report(what: str, subjects: dict[str, Any], device: torch.device) -> torch.Tensor:
    """One entry of spec["reports"] (see above); `subjects` maps "self" and module arguments to the modules."""
    kind, _, path = what.partition(":")
    head, _, rest = path.partition(".")
    module = subjects[head]
    if kind == "trainable":
        part = module.get_submodule(rest) if rest else module
        names = sorted(f"{name} {list(p.shape)}" for name, p in part.named_parameters() if p.requires_grad)
        return torch.tensor(list("\n".join(names).encode()), dtype=torch.uint8, device=device)
    if kind == "zero":
        return (module.get_parameter(rest) == 0).all().reshape(())
    if kind == "state":
        return module.state_dict()[rest]
    raise ValueError(f"unknown report {what!r}")


_SHAPES = re.compile(r"(size mismatch for \S+): copying a param with shape torch.Size\((\[.*?\])\) from checkpoint, "
                     r"the shape in current model is torch.Size\((\[.*?\])\)\.?")


def _names(keys: list[str]) -> str:
    """At most six names of at most 80 characters: a module's names are the student's to choose."""
    return ", ".join(str(k)[:80] for k in keys[:6]) + (f" and {len(keys) - 6} more" if len(keys) > 6 else "")


def _load_state(module: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """The grader's weights into the student's module, as strictly as load_state_dict(strict=True), with one short
    line naming what does not fit (the parameter names and shapes the notebook documents)."""
    try:
        result = module.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shapes that do not fit
        lines = [_SHAPES.sub(r"\1: the grader sets \2, your module has \3", line.strip())
                 for line in str(err).splitlines() if line.strip().startswith("size mismatch")]
        if not lines:
            raise
        raise PartError("your module's parameters do not have the shapes the notebook gives: "
                        + "; ".join(lines)) from None
    missing, unexpected = list(getattr(result, "missing_keys", [])), list(getattr(result, "unexpected_keys", []))
    if missing or unexpected:
        problems = ([f"the grader sets {_names(unexpected)}, which your module does not have"] if unexpected else []) \
            + ([f"your module has {_names(missing)}, which the grader does not set"] if missing else [])
        raise PartError("your module's parameters are not named as the notebook gives them: " + "; ".join(problems))


def _gradients(outputs: list[Any], inputs: list[torch.Tensor], names: list[str]) -> list[torch.Tensor]:
    """d outputs[0] / d input for each input, as spec["gradients"] asks; a detached or non-scalar loss is an error."""
    loss = outputs[0] if outputs else None
    if type(loss) is not torch.Tensor or loss.dim() != 0 or not loss.is_floating_point():
        raise PartError("your code did not return a scalar floating-point tensor as its first output")
    if not loss.requires_grad:
        raise PartError("your code returned a value with no gradient: it was computed outside autograd "
                        "(detached, .item(), NumPy or torch.no_grad)")
    grads = torch.autograd.grad(loss, inputs, allow_unused=True)
    for name, grad in zip(names, grads):
        if grad is None:
            raise PartError(f"your code returned a value that does not depend on {name} through autograd")
    return [g.detach() for g in grads]


def invoke(target: Any, kind: str, tensors: dict[str, torch.Tensor], spec: dict[str, Any]) -> list[torch.Tensor]:
    device = torch.device(spec.get("device", "cpu"))
    wrt: list[str] = []  # the arguments whose gradients a function target's answer includes
    try:  # everything that touches the student's objects or torch (which their code may have changed)
        tensors = {k: v.to(device) for k, v in tensors.items()}
        args = [tensors[name] if name is not None else None for name in spec.get("args", [])]
        # same values, other strides: code that assumes contiguous memory (view after transpose) shows up here
        strided = set(spec.get("noncontiguous", []))
        args = [a.transpose(-1, -2).contiguous().transpose(-1, -2) if n in strided else a
                for n, a in zip(spec.get("args", []), args)]
        python = spec.get("as_python", {})
        args = [as_python(a.tolist(), python[n]) if n in python else a for n, a in zip(spec.get("args", []), args)]
        options = dict(spec.get("options", {}))
        options.update({k: as_python(tensors[v].tolist(), python[v]) if v in python else tensors[v]
                        for k, v in spec.get("tensor_options", {}).items()})
        options.update({k: table_step(tensors[v]) for k, v in spec.get("step_tables", {}).items()})
        built = {name: build_module(layout, {k.removeprefix(f"{name}."): v for k, v in tensors.items()
                                             if k.startswith(f"{name}.")}).to(device)
                 for name, layout in spec.get("modules", {}).items()}
        subjects = dict(built)
        if kind == "module":
            module = subjects["self"] = target(**spec.get("init", {}), **built)
            if spec.get("load_state", True):
                state = {k.removeprefix("state."): v for k, v in tensors.items() if k.startswith("state.")}
                _load_state(module, state)
            for name, value in spec.get("attributes", {}).items():
                setattr(module, name, value)
            module.to(device).eval()
            for method in spec.get("methods", []):  # with gradients, as the notebook calls them
                getattr(module, method)()
            with torch.no_grad():
                out = module(*args, **options)
        else:
            wrt = spec.get("gradients", [])
            named = dict(zip(spec.get("args", []), args))
            named.update({n: named[n].detach().requires_grad_(True) for n in wrt})
            args = [named[n] for n in spec.get("args", [])]
            with torch.set_grad_enabled(bool(wrt)):
                out = target(*args, **options, **built)
        returns = spec.get("returns", "tensors")
        outputs = [] if returns == "none" else as_outputs(out, returns, device)
        if wrt:
            outputs += _gradients(outputs, [named[n] for n in wrt], wrt)
        outputs += [_report(what, subjects, device) for what in spec.get("reports", [])]
    except PartError:
        raise
    except NotImplementedError as err:
        where = stub_raised(err)  # the release's stub, or a NotImplementedError from library code (a bug)
        if where is not None:
            raise NotWritten(f"{STUB_RAISED} ({where})", where) from None
        raise PartError(f"your code raised NotImplementedError: {err}") from None
    except BaseException as err:  # the student's exception (SystemExit too) becomes a message, not a crash
        raise PartError(f"your code raised {type(err).__name__}: {err}") from None
    for i, o in enumerate(outputs):
        if type(o) is not torch.Tensor:
            raise PartError(f"your code returned output {i} as a {type(o).__name__}, expected a torch.Tensor")
        if tensors and not same_device(o.device, device):  # a part given no tensors (a mask of size n) may answer on the CPU
            raise PartError(f"your code returned output {i} on {o.device}, but the inputs were on {device}")
    return [o.detach().cpu() for o in outputs]

"""The protocol's support for parts that take or change modules (Call.modules, load_state, methods, reports,
returns="none", gradients): built modules, their weights and ties, the order of the calls, and what comes back as
tensors."""
from __future__ import annotations

import json

import pytest
import torch

from autograder.coursekit.protocol import NotWritten, PartError, as_outputs, build_module, invoke, stub_raised
from autograder.grading.parts import Call

STACK = {"layers": {"emb": ["Embedding", 5, 4], "block.fc": ["Linear", 4, 6], "block.ln": ["LayerNorm", 6],
                    "head": ["LinearNoBias", 4, 5]},
         "tied": {"head.weight": "emb.weight"}, "frozen": ["block.ln.weight"]}


def text(t: torch.Tensor) -> str:
    return bytes(t.tolist()).decode()


def test_a_layout_builds_nested_layers_with_ties_frozen_parameters_and_given_weights() -> None:
    model = build_module(STACK, {})
    assert type(model) is torch.nn.Module and type(model.block) is torch.nn.Module
    assert model.head.weight is model.emb.weight
    assert [n for n, _ in model.named_parameters()] == ["emb.weight", "block.fc.weight", "block.fc.bias",
                                                        "block.ln.weight", "block.ln.bias"]
    assert not model.block.ln.weight.requires_grad and model.block.fc.weight.requires_grad
    layer = build_module({"layers": {"": ["Linear", 3, 2]}}, {"weight": torch.ones(2, 3), "bias": torch.zeros(2)})
    assert type(layer) is torch.nn.Linear and torch.equal(layer.weight, torch.ones(2, 3))
    with pytest.raises(RuntimeError):  # weights are loaded strictly
        build_module({"layers": {"": ["Linear", 3, 2]}}, {"weight": torch.ones(2, 3)})


class Scaled(torch.nn.Module):
    """A module target that takes a module in its constructor and has no-argument methods."""

    def __init__(self, base: torch.nn.Linear, factor: float) -> None:
        super().__init__()
        self.base, self.factor = base, factor
        self.extra = torch.nn.Parameter(torch.zeros(base.out_features))
        base.requires_grad_(False)
        self.calls: list[str] = []

    def double(self) -> None:
        self.calls.append("double")
        self.base.weight *= 2  # in place on a frozen weight: the protocol calls methods without gradients

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append("forward")
        return self.base(x) * self.factor + self.extra


def test_a_module_target_gets_built_modules_then_its_state_then_methods_then_the_forward() -> None:
    x, w, b = torch.randn(3, 4), torch.randn(2, 4), torch.randn(2)
    call = Call(args=("x",), init={"factor": 3.0}, modules={"base": {"layers": {"": ["Linear", 4, 2]}}},
                methods=("double",), reports=("state:self.base.weight", "zero:self.extra", "trainable:self"))
    spec = json.loads(json.dumps(call.to_wire()))  # the wire is JSON
    tensors = {"x": x, "state.base.weight": w, "state.base.bias": b, "state.extra": torch.ones(2)}
    out, weight, zero, trainable = invoke(Scaled, "module", tensors, spec)
    assert torch.allclose(out, (x @ (2 * w).T + b) * 3 + 1) and torch.equal(weight, 2 * w)
    assert zero.dtype == torch.bool and not zero.item() and text(trainable) == "extra [2]"


def test_load_state_false_judges_the_module_as_its_constructor_made_it() -> None:
    w, b = torch.randn(2, 4), torch.randn(2)
    call = Call(args=("x",), init={"factor": 1.0}, modules={"base": {"layers": {"": ["Linear", 4, 2]}}},
                load_state=False, reports=("zero:self.extra",))
    x = torch.randn(1, 4)
    out, zero = invoke(Scaled, "module", {"x": x, "base.weight": w, "base.bias": b}, call.to_wire())
    assert torch.allclose(out, x @ w.T + b) and zero.item()


def test_a_function_gets_built_modules_as_keyword_arguments_and_returns_none_keeps_only_the_reports() -> None:
    def freeze_all_but_biases(model: torch.nn.Module, keep: list[str]) -> torch.nn.Module:
        for name, p in model.named_parameters():
            p.requires_grad_(name.endswith("bias") or name in keep)
        return model  # ignored

    call = Call(options={"keep": ["emb.weight"]}, modules={"model": STACK}, returns="none", reports=("trainable:model",))
    (trainable,) = invoke(freeze_all_but_biases, "function", {}, call.to_wire())
    assert text(trainable) == "block.fc.bias [6]\nblock.ln.bias [6]\nemb.weight [5, 4]"  # the tied matrix once


def test_a_function_may_return_an_int_about_a_built_module() -> None:
    call = Call(modules={"model": STACK}, returns="ints")
    (count,) = invoke(lambda model: sum(p.numel() for p in model.parameters()), "function", {}, call.to_wire())
    assert count.item() == 20 + 24 + 6 + 12


def test_errors_in_methods_and_reports_are_the_students() -> None:
    call = Call(args=("x",), init={"factor": 1.0}, modules={"base": {"layers": {"": ["Linear", 4, 2]}}},
                load_state=False, methods=("merge",))
    with pytest.raises(PartError, match="AttributeError"):
        invoke(Scaled, "module", {"x": torch.randn(1, 4)}, call.to_wire())
    call = Call(args=("x",), init={"factor": 1.0}, modules={"base": {"layers": {"": ["Linear", 4, 2]}}},
                load_state=False, reports=("zero:self.lora_B",))
    with pytest.raises(PartError, match="lora_B"):
        invoke(Scaled, "module", {"x": torch.randn(1, 4)}, call.to_wire())


def test_call_to_wire_leaves_out_the_defaults() -> None:
    assert Call(args=("x",)).to_wire() == {"args": ["x"]}
    wire = Call(modules={"m": STACK}, load_state=False, methods=("merge",), reports=("trainable:m",)).to_wire()
    assert wire == {"args": [], "modules": {"m": STACK}, "load_state": False, "methods": ["merge"],
                    "reports": ["trainable:m"]}


def test_attributes_are_set_after_loading_and_before_the_methods() -> None:
    w, b = torch.randn(2, 4), torch.randn(2)
    call = Call(args=("x",), init={"factor": 1.0}, modules={"base": {"layers": {"": ["Linear", 4, 2]}}},
                attributes={"factor": 5.0}, returns="none", reports=("state:self.base.weight",), methods=("double",))
    tensors = {"x": torch.randn(1, 4), "state.base.weight": w, "state.base.bias": b, "state.extra": torch.zeros(2)}
    (weight,) = invoke(Scaled, "module", tensors, json.loads(json.dumps(call.to_wire())))
    assert torch.equal(weight, 2 * w)
    module = Scaled(torch.nn.Linear(4, 2), 1.0)
    invoke(lambda **kw: module, "module", {"x": torch.randn(1, 4)},
           {**Call(args=("x",), load_state=False, attributes={"factor": 5.0}).to_wire()})
    assert module.factor == 5.0


def test_ints_may_come_as_a_tuple_of_python_numpy_or_tensor_integers_but_not_floats_or_bools() -> None:
    import numpy as np

    cpu = torch.device("cpu")
    for answer in [(3, 5), [3, 5], (torch.tensor(3), np.int64(5)), torch.tensor([3, 5])]:
        assert torch.equal(as_outputs(answer, "ints", cpu)[0], torch.tensor([3, 5])), answer
    for answer in [(3.0, 5), (True, 5), (torch.tensor(3.0), 5), "3 5"]:
        with pytest.raises(PartError, match=r"your code returned a \w+, expected an int or a list \(or tuple\) of ints"):
            as_outputs(answer, "ints", cpu)
    for answer in [torch.tensor([]), torch.tensor([3.0, 5.0]), torch.tensor([True])]:  # torch.tensor(empty list)
        with pytest.raises(PartError, match=r"your code returned a torch\.\w+ tensor, expected an int or a list"):
            as_outputs(answer, "ints", cpu)


def test_a_student_change_to_torch_that_breaks_building_a_module_is_their_error_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    """Module arguments are built inside the student's process, after their code ran: what fails there is theirs."""
    spec = {"args": [], "modules": {"model": {"layers": {"fc": ["Linear", 2, 2]}}}, "returns": "none"}
    monkeypatch.setattr(torch.nn, "Linear", None)  # as a notebook cell could do
    with pytest.raises(PartError, match="your code raised TypeError"):
        invoke(lambda model: None, "function", {}, spec)


def test_trainable_report_of_a_submodule_lists_only_its_parameters() -> None:
    spec = {"args": [], "modules": {"model": {"layers": {"a": ["Linear", 2, 2], "b.c": ["Linear", 2, 3]}}},
            "returns": "none", "reports": ["trainable:model.b"]}
    (report,) = invoke(lambda model: None, "function", {}, spec)
    assert bytes(report.tolist()).decode() == "c.bias [3]\nc.weight [3, 2]"


def _wire(call: Call) -> dict:
    return json.loads(json.dumps(call.to_wire()))


def test_gradients_of_a_hand_written_loss_come_back_after_its_value() -> None:
    x, target = torch.randn(3, 5), torch.tensor([0, 4, 2])
    spec = _wire(Call(args=("x", "target"), gradients=("x",)))

    def nll(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return -x.log_softmax(-1).gather(1, target[:, None]).mean()

    loss, grad = invoke(nll, "function", {"x": x, "target": target}, spec)
    leaf = x.clone().requires_grad_(True)
    torch.nn.functional.cross_entropy(leaf, target).backward()
    assert torch.allclose(loss, torch.nn.functional.cross_entropy(x, target)) and torch.allclose(grad, leaf.grad)
    assert not loss.requires_grad and not grad.requires_grad
    # without the option the same function runs without gradients, as before
    (plain,) = invoke(nll, "function", {"x": x, "target": target}, _wire(Call(args=("x", "target"))))
    assert not plain.requires_grad


def _detached_sum(x: torch.Tensor) -> torch.Tensor:
    return x.detach().sum() + torch.zeros((), requires_grad=True)


@pytest.mark.parametrize("answer, message", [
    (lambda x: torch.tensor(float(x.sum())), "no gradient: it was computed outside autograd"),
    (_detached_sum, "does not depend on x through autograd"),
    (lambda x: x.sum(0), "did not return a scalar floating-point tensor"),
    (lambda x: 1.0, "did not return a scalar floating-point tensor"),
])
def test_a_loss_that_gradients_cannot_flow_through_is_the_student_s_error(answer: object, message: str) -> None:
    with pytest.raises(PartError, match=message):
        invoke(answer, "function", {"x": torch.randn(2, 3)}, _wire(Call(args=("x",), gradients=("x",))))


class Renamed(torch.nn.Module):
    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(3, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Wider(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = torch.nn.Linear(3, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc1(x)


def test_weights_that_do_not_fit_the_student_s_module_get_one_line_naming_the_parameters() -> None:
    tensors = {"x": torch.randn(2, 3), "state.fc1.weight": torch.randn(4, 3), "state.fc1.bias": torch.randn(4)}
    with pytest.raises(PartError) as names:
        invoke(Renamed, "module", tensors, _wire(Call(args=("x",))))
    assert str(names.value) == ("your module's parameters are not named as the notebook gives them: the grader sets "
                                "fc1.weight, fc1.bias, which your module does not have; your module has net.0.weight, "
                                "net.0.bias, which the grader does not set")
    with pytest.raises(PartError) as shapes:
        invoke(Wider, "module", tensors, _wire(Call(args=("x",))))
    assert str(shapes.value) == ("your module's parameters do not have the shapes the notebook gives: size mismatch for "
                                 "fc1.weight: the grader sets [4, 3], your module has [5, 3]; size mismatch for "
                                 "fc1.bias: the grader sets [4], your module has [5]")


def test_a_student_s_system_exit_is_their_error_not_the_worker_s_end() -> None:
    def leaves(x: torch.Tensor) -> torch.Tensor:
        raise SystemExit(0)

    with pytest.raises(PartError, match="your code raised SystemExit"):
        invoke(leaves, "function", {"x": torch.ones(2)}, _wire(Call(args=("x",))))


def _reply(target: object, spec: dict, tensors: dict[str, torch.Tensor]) -> dict:
    """What the worker writes back for one case, read from a real pipe."""
    import os

    from autograder.workers.server import answer
    from autograder.workers.wire import receive

    read_fd, write_fd = os.pipe()
    try:
        answer({"f": target}, {"target": "f", "kind": "function", "spec": spec}, tensors, write_fd)
        return receive(read_fd, 1 << 20)[0]
    finally:
        os.close(read_fd), os.close(write_fd)


def test_an_output_that_cannot_be_sent_or_a_huge_message_comes_back_as_one_short_error() -> None:
    sparse = _reply(lambda x: x.to_sparse(), _wire(Call(args=("x",))), {"x": torch.eye(3)})
    assert not sparse["ok"] and sparse["error"].startswith("your code returned an output that cannot be sent back")

    def shouts(x: torch.Tensor) -> torch.Tensor:
        raise ValueError("<b>" * 100_000)

    huge = _reply(shouts, _wire(Call(args=("x",))), {"x": torch.ones(1)})
    assert not huge["ok"] and huge["error"].startswith("your code raised ValueError: <b><b>")
    assert len(huge["error"]) < 4100 and huge["error"].endswith("more characters)")
    fine = _reply(lambda x: x * 2, _wire(Call(args=("x",))), {"x": torch.ones(1)})
    assert fine == {"ok": True, "n": 1, "blob": fine["blob"]}


def test_gradients_come_back_in_the_order_the_spec_names_them() -> None:
    a, b = torch.randn(3), torch.randn(3)
    spec = _wire(Call(args=("a", "b"), gradients=("b", "a")))
    _, grad_b, grad_a = invoke(lambda a, b: (a * 2 + b * 3).sum(), "function", {"a": a, "b": b}, spec)
    assert torch.equal(grad_b, torch.full((3,), 3.0)) and torch.equal(grad_a, torch.full((3,), 2.0))


def test_only_a_notebook_function_raising_not_implemented_itself_is_a_stub() -> None:
    """The release's stub is 'not written yet'; torch's NotImplementedError (a module without forward) is a bug."""
    notebook: dict = {"__name__": "__main__", "nn": torch.nn}  # what a notebook cell's code runs in
    exec("def stub(x):\n    raise NotImplementedError()\n\n"
         "def no_forward(x):\n    return nn.Module()(x)\n", notebook)
    tensors, spec = {"x": torch.ones(2)}, {"args": ["x"]}
    with pytest.raises(NotWritten) as written:
        invoke(notebook["stub"], "function", tensors, spec)
    assert written.value.where == "stub" and "not written yet" in str(written.value)
    with pytest.raises(PartError) as bug:
        invoke(notebook["no_forward"], "function", tensors, spec)
    assert not isinstance(bug.value, NotWritten) and "forward" in str(bug.value)
    try:
        notebook["no_forward"](torch.ones(2))
    except NotImplementedError as err:
        assert stub_raised(err) is None


@pytest.mark.gpu
def test_outputs_on_the_current_gpu_are_on_the_cuda_device_the_grader_asked_for() -> None:
    from autograder.coursekit.protocol import same_device

    here = torch.device("cuda", torch.cuda.current_device())
    assert here != torch.device("cuda")  # torch's own comparison, which the grader must not use
    assert same_device(here, torch.device("cuda")) and same_device(here, here)
    assert not same_device(torch.device("cpu"), torch.device("cuda"))
    assert not same_device(here, torch.device("cpu"))

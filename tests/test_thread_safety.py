"""The grader computes expected outputs in several threads at once (`--jobs`), so the course's checks and the
reference must leave torch's process-wide settings alone: one thread's float64 default once turned another
thread's reference nn.Linear into float64 and failed a submission's grading (a8's filterbank, in CI)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROCESS_WIDE = {"set_default_dtype", "set_default_tensor_type", "set_default_device", "set_num_threads",
                "set_num_interop_threads", "use_deterministic_algorithms"}
GRADER_SIDE = sorted([*ROOT.glob("assignments/*/checks.py"), *ROOT.glob("assignments/*/standins.py"),
                      *ROOT.glob("reference_impl/**/*.py")])


@pytest.mark.parametrize("path", GRADER_SIDE, ids=lambda p: str(p.relative_to(ROOT)))
def test_grader_side_code_changes_no_process_wide_torch_setting(path: Path) -> None:
    calls = [f"line {node.lineno}: {node.func.attr}" for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in PROCESS_WIDE]
    assert not calls, f"{path.relative_to(ROOT)} changes torch's process-wide state: {calls}"

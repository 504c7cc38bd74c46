"""Fixture files: visible cases with their expected outputs and the outputs of known mistakes.

<name>.json holds the part's metadata and cases; <name>.safetensors holds every tensor, keyed
"<case>.<input name>", "<case>.expected.<i>" and "<case>.variant.<key>.<i>".
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file


@dataclass
class CaseData:
    spec: dict[str, Any]
    tensors: dict[str, torch.Tensor]
    expected: list[torch.Tensor]
    variants: dict[str, list[torch.Tensor]]


def split_case(i: int, flat: dict[str, torch.Tensor], spec: dict[str, Any], n_out: int,
               variant_keys: list[str]) -> CaseData:
    p = f"{i}."
    tensors = {k[len(p):]: v for k, v in flat.items() if k.startswith(p) and ".expected." not in k
               and ".variant." not in k}
    expected = [flat[f"{i}.expected.{j}"] for j in range(n_out)]
    variants = {key: [flat[f"{i}.variant.{key}.{j}"] for j in range(n_out)] for key in variant_keys
                if f"{i}.variant.{key}.0" in flat}
    return CaseData(spec, tensors, expected, variants)


def write_fixture(folder: Path, name: str, meta: dict[str, Any], cases: list[CaseData]) -> None:
    flat: dict[str, torch.Tensor] = {}
    for i, case in enumerate(cases):
        flat.update({f"{i}.{k}": v.contiguous() for k, v in case.tensors.items()})
        flat.update({f"{i}.expected.{j}": v.contiguous() for j, v in enumerate(case.expected)})
        for key, outs in case.variants.items():
            flat.update({f"{i}.variant.{key}.{j}": v.contiguous() for j, v in enumerate(outs)})
    folder.mkdir(parents=True, exist_ok=True)
    save_file(flat, str(folder / f"{name}.safetensors"))
    (folder / f"{name}.json").write_text(json.dumps({**meta, "cases": [c.spec for c in cases]}, indent=1))


def read_fixture(folder: Path, name: str) -> tuple[dict[str, Any], list[CaseData]]:
    meta = json.loads((folder / f"{name}.json").read_text())
    flat = load_file(str(folder / f"{name}.safetensors"))
    keys = list(meta.get("messages", {}))
    cases = [split_case(i, flat, spec, len(meta["outputs"]), keys) for i, spec in enumerate(meta["cases"])]
    return meta, cases

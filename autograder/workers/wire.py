"""Framing on a pipe: a 4-byte length, a JSON header, and optionally a safetensors blob. Never pickle."""
from __future__ import annotations

import json
import os
import struct
from typing import Any

import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

MAX_HEADER = 1 << 20


class WireError(Exception):
    """The other side sent something malformed, too large, or closed the pipe."""


def _read_exact(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise WireError("the pipe closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def send(fd: int, header: dict[str, Any], tensors: dict[str, torch.Tensor] | None = None) -> None:
    blob = save_tensors({k: v.detach().cpu().contiguous() for k, v in tensors.items()}) if tensors else b""
    raw = json.dumps({**header, "blob": len(blob)}).encode()
    data = struct.pack("<I", len(raw)) + raw + blob
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def receive(fd: int, max_blob: int) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    (n,) = struct.unpack("<I", _read_exact(fd, 4))
    if n > MAX_HEADER:
        raise WireError(f"header of {n} bytes is over the limit")
    header = json.loads(_read_exact(fd, n))
    size = int(header.get("blob", 0))
    if size > max_blob:
        raise WireError(f"output of {size} bytes is over the limit of {max_blob}")
    tensors = load_tensors(_read_exact(fd, size)) if size else {}
    return header, {k: v for k, v in tensors.items() if type(v) is torch.Tensor}

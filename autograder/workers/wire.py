"""Framing on a pipe: a 4-byte length, a JSON header, and optionally a safetensors blob. Never pickle.

The grader reads and writes with a deadline (a worker that stalls mid-frame or stops reading cannot block it)
and checks sizes before anything is allocated; the worker side blocks as a plain program would.
"""
from __future__ import annotations

import json
import os
import select
import struct
import time
from typing import Any

import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

MAX_HEADER = 1 << 20


class WireError(Exception):
    """The other side sent something malformed, too large, or closed the pipe."""


class PipeClosed(WireError):
    """The other side closed the pipe (it may have died): the grader asks why before it decides whose fault it was."""


class WireTimeout(WireError):
    """The other side did not finish a frame (reading or writing) before the deadline."""


def wait_ready(fd: int, deadline: float | None, write: bool = False) -> None:
    """Block until `fd` can be read (or written), or raise WireTimeout at the deadline (None: return at once)."""
    if deadline is None:
        return
    left = deadline - time.monotonic()
    ready = select.select([], [fd], [], max(left, 0))[1] if write else select.select([fd], [], [], max(left, 0))[0]
    if not ready:
        raise WireTimeout("timed out")


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks, left = [], n
    while left:
        wait_ready(fd, deadline)
        try:
            chunk = os.read(fd, min(left, 1 << 20))
        except BlockingIOError:
            continue
        if not chunk:
            raise PipeClosed("the pipe closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def send(fd: int, header: dict[str, Any], tensors: dict[str, torch.Tensor] | None = None,
         deadline: float | None = None) -> None:
    """Write one frame; with a deadline, `fd` must be non-blocking (the grader's side)."""
    write_frame(fd, frame(header, tensors), deadline)


def frame(header: dict[str, Any], tensors: dict[str, torch.Tensor] | None = None) -> bytes:
    """One frame's bytes; raises before anything is written when a tensor cannot be saved (sparse, quantized)."""
    blob = save_tensors({k: v.detach().cpu().contiguous() for k, v in tensors.items()}) if tensors else b""
    raw = json.dumps({**header, "blob": len(blob)}).encode()
    return struct.pack("<I", len(raw)) + raw + blob


def write_frame(fd: int, data: bytes, deadline: float | None = None) -> None:
    view = memoryview(data)
    while view:
        wait_ready(fd, deadline, write=True)
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            continue


def receive(fd: int, max_blob: int, deadline: float | None = None) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read one frame: a JSON object header and at most `max_blob` bytes of tensors, checked before reading them."""
    (n,) = struct.unpack("<I", _read_exact(fd, 4, deadline))
    if n > MAX_HEADER:
        raise WireError(f"header of {n} bytes is over the limit")
    try:
        header = json.loads(_read_exact(fd, n, deadline))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):  # nesting a million deep: not a header
        raise WireError("the header is not JSON") from None
    if not isinstance(header, dict):
        raise WireError("the header is not a JSON object")
    size = header.get("blob", 0)
    if type(size) is not int or not 0 <= size <= max_blob:
        raise WireError(f"output of {size!r} bytes is not allowed (limit {max_blob})")
    try:
        tensors = load_tensors(_read_exact(fd, size, deadline)) if size else {}
    except WireError:
        raise
    except Exception:  # safetensors rejects a malformed blob with several kinds of error
        raise WireError("the tensors are not valid safetensors") from None
    return header, {k: v for k, v in tensors.items() if type(v) is torch.Tensor}

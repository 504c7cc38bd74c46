"""Loading YAML into plain data while remembering the line of every value, for error messages."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

Key = tuple[Any, ...]  # a path into the document: ("assignments", 3, "points")

class YamlError(ValueError):
    """A problem in a YAML file, with the file and line it is on."""

    def __init__(self, path: Path, line: int | None, message: str) -> None:
        self.path, self.line, self.message = path, line, message
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {message}")

def load_with_lines(path: Path) -> tuple[Any, dict[Key, int]]:
    """Parse `path`; return (data, {path-in-document: 1-based line}). Duplicate keys are errors."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise YamlError(path, None, f"cannot read the file: {err.strerror}") from None
    except UnicodeDecodeError:
        raise YamlError(path, None, "the file is not UTF-8 text") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        line = err.problem_mark.line + 1 if err.problem_mark else None
        raise YamlError(path, line, f"not valid YAML: {err.problem}") from None
    lines: dict[Key, int] = {}
    if node is None:
        return None, lines
    return _build(path, node, (), lines), lines

def _build(path: Path, node: yaml.Node, key: Key, lines: dict[Key, int]) -> Any:
    lines[key] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for k_node, v_node in node.value:
            k = yaml.SafeLoader(" ").construct_object(k_node) if isinstance(k_node, yaml.ScalarNode) else None
            if not isinstance(k, str):
                raise YamlError(path, k_node.start_mark.line + 1, "mapping keys must be plain strings")
            if k in out:
                first = lines[key + (k,)]
                raise YamlError(path, k_node.start_mark.line + 1, f"{dotted(key + (k,))} is given twice (first on line {first})")
            out[k] = _build(path, v_node, key + (k,), lines)
            lines[key + (k,)] = k_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(path, item, key + (i,), lines) for i, item in enumerate(node.value)]
    return yaml.SafeLoader(" ").construct_object(node)

def dotted(key: Key) -> str:
    out = ""
    for part in key:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "(top level)"

"""Switches that turn protections off, to test (and show) how grading degrades on machines that lack them:

    AUTOGRADER_SANDBOX="landlock=4,bubblewrap=off,cgroups=off,namespaces=off,users=off"   (each item optional)

landlock=N uses at most Landlock ABI N (0: none); the others act as if the machine had no bubblewrap, no
writable control groups, no permission to create namespaces, or a grader that is not root (so workers
cannot get users of their own). They only ever take protections away;
`autograder doctor` lists them, and the fork server and its workers inherit them from the grader.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

ENV = "AUTOGRADER_SANDBOX"


@dataclass(frozen=True)
class Switches:
    landlock_abi: int | None = None  # None: what the kernel offers
    bubblewrap: bool = True
    cgroups: bool = True
    namespaces: bool = True
    users: bool = True

    def describe(self) -> str:
        off = [name for name in ("bubblewrap", "cgroups", "namespaces", "users") if not getattr(self, name)]
        if self.landlock_abi is not None:
            off.insert(0, f"Landlock above ABI {self.landlock_abi}")
        return ", ".join(off)


def current() -> Switches:
    """The switches in this process's environment; a malformed value is an error naming the variable."""
    text = os.environ.get(ENV, "").strip()
    values: dict[str, object] = {}
    for item in filter(None, (i.strip() for i in text.split(","))):
        key, _, value = item.partition("=")
        if key == "landlock" and value.isdigit():
            values["landlock_abi"] = int(value)
        elif key in ("bubblewrap", "cgroups", "namespaces", "users") and value in ("on", "off"):
            values[key] = value == "on"
        else:
            raise ValueError(f"{ENV}: cannot read {item!r} (expected landlock=N, bubblewrap=off, cgroups=off, "
                             "namespaces=off, users=off)")
    return Switches(**values)  # type: ignore[arg-type]

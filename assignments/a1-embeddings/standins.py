"""Trusted stand-ins for this assignment's parts, put in place of the student's own while a later part is
graded, so that one bug costs the points of one part only. Plain torch; never released. The grader sends this
file's source to the worker, which runs it only in the short-lived fork that grades such a part."""
from __future__ import annotations


def merge_pair(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == tuple(pair):
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out

"""Text that came from student code or a submission folder, made safe to show anywhere (feedback, CSV, the
gradebook, a terminal): lone surrogates and control characters escaped, and a bounded length."""
from __future__ import annotations

LIMIT = 2000


def shown(value: object, limit: int = LIMIT) -> str:
    """`value` as printable UTF-8 text of at most about `limit` characters."""
    text = value if isinstance(value, str) else str(value)
    extra = len(text) - limit
    text = text[:limit].encode("utf-8", "backslashreplace").decode("utf-8")
    text = "".join(c if c.isprintable() or c in "\n\t" else repr(c)[1:-1] for c in text)
    return text + (f" ... ({extra} more characters)" if extra > 0 else "")


def is_plain_name(name: str) -> bool:
    """A file or folder name that can be shown and stored as it is: valid UTF-8 (no lone surrogates), printable
    on one line, not too long."""
    return 0 < len(name) <= 200 and name.isprintable()


def spreadsheet_cell(value: object) -> object:
    """A CSV cell a spreadsheet shows as text: one that would start a formula (=, +, -, @, tab, CR) gets a ' first;
    numbers stay numbers."""
    return "'" + value if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r") else value

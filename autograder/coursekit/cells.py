"""The %%uses_answers cell magic, for the notebook's demo, training and plot cells that call the student's parts.

Such a cell runs as usual (its last expression is still displayed), except that while a part it calls is still the
release's stub, it prints one line naming that part instead of a traceback, and Run All goes on. While an earlier
such cell stopped at a part that is still the same stub, a failure of a later one (a model never trained, a result
never computed) is put down to that stop, in one line too. Any other error is the student's and propagates as usual.
Importing coursekit in IPython (Jupyter's kernel, or the grader's shell) registers the magic.
"""
from __future__ import annotations

import ast
from typing import Any

from .protocol import stub_raised

stopped: dict[str, Any] = {}  # function not written yet -> the object that held it when it stopped a cell


def split_last(source: str) -> tuple[ast.Module, ast.Expression | None]:
    """The cell's statements, and its last one apart when it is an expression (whose value IPython displays)."""
    tree = ast.parse(source)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    return tree, ast.Expression(last.value) if last is not None else None


def uses_answers(line: str, cell: str) -> Any:
    """Run the cell in the notebook's namespace; a stub it reaches ends it with one line, not a traceback."""
    __tracebackhide__ = True  # IPython leaves this frame out of a student's traceback
    from IPython import get_ipython

    shell = get_ipython()
    source = shell.transform_cell(cell)
    filename = shell.compile.cache(source, shell.execution_count, raw_code=cell)  # tracebacks show the cell's lines
    body, last = split_last(source)
    try:
        exec(compile(body, filename, "exec", shell.compile.flags, dont_inherit=True), shell.user_ns)
        return eval(compile(last, filename, "eval", shell.compile.flags, dont_inherit=True), shell.user_ns) \
            if last is not None else None
    except NotImplementedError as err:
        where = stub_raised(err)
        if where is None:  # raised by library code: a bug, not a stub
            raise
        holder = where.split(".")[0]
        if holder in shell.user_ns:
            stopped[where] = shell.user_ns[holder]
        print(f"not run yet: this cell uses {where}, which is not written yet (write it, run its check, "
              "then run this cell again)")
    except Exception as err:
        cause = [where for where, holder in stopped.items() if shell.user_ns.get(where.split(".")[0], stopped) is holder]
        if not cause:
            raise
        print(f"not run yet: this cell needs what an earlier cell did not make, because {cause[-1]} is not written "
              f"yet ({type(err).__name__}: {err})")
    return None


def register(shell: Any) -> None:
    """Make %%uses_answers available in `shell` (an IPython InteractiveShell)."""
    shell.register_magic_function(uses_answers, magic_kind="cell", magic_name="uses_answers")

"""coursekit: the student-side helper shipped with every release, and shared with the grader.

It holds the tolerance policy, the calling convention for graded parts and the diagnosis of wrong
answers, so that a self-check in the notebook and the grader say the same thing about the same output.
It contains no reference implementation and no hidden test. Imported in IPython, it adds the %%uses_answers
cell magic (see cells.py).
"""
import sys

from .selfcheck import check, check_choice

__all__ = ["check", "check_choice"]

if "IPython" in sys.modules and (shell := sys.modules["IPython"].get_ipython()) is not None:
    from .cells import register

    register(shell)

"""coursekit: the student-side helper shipped with every release, and shared with the grader.

It holds the tolerance policy, the calling convention for graded parts and the diagnosis of wrong
answers, so that a self-check in the notebook and the grader say the same thing about the same output.
It contains no reference implementation and no hidden test.
"""
from .selfcheck import check, check_choice

__all__ = ["check", "check_choice"]

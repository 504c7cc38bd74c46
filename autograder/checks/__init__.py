"""Grader-side checks: for every graded part, how to draw inputs, the reference answer, and known mistakes."""

"""Grading: the kinds of graded cell (parts), one submission as a pipeline of steps (pipeline), reading a
submission as untrusted data (intake), hidden seeds (seeds) and a whole batch (batch)."""

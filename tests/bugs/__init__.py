"""Typical student mistakes per assignment, as edits of the source notebook's solutions.

Each entry: (name, the part that must lose points, [(old, new) edits], words the grader's message must contain).
"""

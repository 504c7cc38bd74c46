"""Tools for the people who write assignments, not for grading: they never run on students' work."""

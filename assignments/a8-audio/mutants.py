"""Assignment 8: mutants of the solutions that `autograder validate --mutants` cannot kill, and why no student
answer written that way is wrong."""
EQUIVALENT: dict[str, str] = {}

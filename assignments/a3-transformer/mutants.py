"""Assignment 3: mutants of the solutions that `autograder validate --mutants` cannot kill, and why no student
answer written that way is wrong."""
EQUIVALENT = {
    "greedy-solution:5:off-by-one:0 -> -1": "the step function is given one prefix, so its output has one row: row 0 "
    "and row -1 are the same row",
}

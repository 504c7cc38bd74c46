"""Assignment 1: mutants of the solutions that `autograder validate --mutants` cannot kill, and why no student
answer written that way is wrong."""
EQUIVALENT = {
    "codec-solution:12:off-by-one:256 -> 255": "bpe_decode gets ids made by bpe_encode from a str; UTF-8 text never "
    "holds the byte 0xFF, so the byte table's last entry is never looked up",
    "pe-solution:9:drop-call:pe.float() -> pe": "a float64 encoding has the same values; the grader accepts any "
    "floating-point dtype (the tolerance is float32's), as a student who computes in float64 deserves",
}

"""Assignment 7: mutants of the solutions that `autograder validate --mutants` cannot kill, and why no student
answer written that way is wrong."""
EQUIVALENT = {
    "embeddings-solution:9:constant:0.02 -> 0.04": "the initial scale of pos_embed is the student's choice: the "
    "grader loads its own weights into pos_embed, and training works with either",
    "similarity-solution:3:off-by-one:0 -> -1": "pos_embed has one entry on its first axis (shape (1, 1 + N, d)), so "
    "index 0 and index -1 are the same",
    "attention-solution:3:off-by-one:1 -> 0": "1 + N = side² + 1 tokens: the integer square root of side² + 1 is side, "
    "the same as that of side²",
    "attention-solution:3:off-by-one:-1 -> -2": "self-attention weights are square, (1 + N) queries by (1 + N) keys: "
    "the last two axes have the same size",
}

"""Assignment 2: attention: typical mistakes, as edits of the source notebook's solutions.

Each entry of MISTAKES: (name, the part that must lose points, [(old, new) edits], words the grader's message must
contain). The tests grade every one; `autograder demo` gives the first one to its example student with a bug.
MANUAL lists the parts graded by hand. STYLES: correct answers written in other styles, as edits of the solutions;
each must earn full marks.
"""
MISTAKES = [
    ("no scaling", "scaled-dot-product-attention",
     [("scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))", "scores = q @ k.transpose(-2, -1)")], "not divided by sqrt(d_k)"),
    ("scores divided by d_k", "scaled-dot-product-attention", [("/ math.sqrt(q.size(-1))", "/ q.size(-1)")], "divided by d_k"),
    ("softmax over the wrong axis", "scaled-dot-product-attention",
     [("weights = scores.softmax(dim=-1)", "weights = scores.softmax(dim=-2)")], "wrong axis"),
    ("mask applied after softmax", "scaled-dot-product-attention",
     [("scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)", "pass"),
      ("weights = weights.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)", "weights = weights.masked_fill(~mask, 0.0)")],
     "after the softmax"),
    ("NaN for a query with no allowed key", "scaled-dot-product-attention",
     [("scores.masked_fill(~mask, torch.finfo(scores.dtype).min)", "scores.masked_fill(~mask, float('-inf'))"),
      ("weights = weights.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)", "pass")], "NaN"),
    ("causal mask without the diagonal", "causal-mask",
     [("return torch.ones(n, n, dtype=torch.bool).tril()", "return torch.ones(n, n, dtype=torch.bool).tril(-1)")], "diagonal"),
    ("causal mask upside down", "causal-mask",
     [("return torch.ones(n, n, dtype=torch.bool).tril()", "return torch.ones(n, n, dtype=torch.bool).triu()")], "future"),
    ("padding mask inverted", "padding-mask", [("return (tokens != pad_id)[:, None, None, :]", "return (tokens == pad_id)[:, None, None, :]")],
     "True at padding"),
    ("padding mask over queries", "padding-mask", [("return (tokens != pad_id)[:, None, None, :]", "return (tokens != pad_id)[:, None, :, None]")],
     "padded queries"),
    ("values not projected", "self-attention",
     [("scaled_dot_product_attention(self.w_q(x), self.w_k(x), self.w_v(x), mask)", "scaled_dot_product_attention(self.w_q(x), self.w_k(x), x, mask)")],
     "project them with W_V"),
    ("keys from W_Q", "self-attention",
     [("scaled_dot_product_attention(self.w_q(x), self.w_k(x), self.w_v(x), mask)", "scaled_dot_product_attention(self.w_q(x), self.w_q(x), self.w_v(x), mask)")],
     "use W_K"),
    ("heads split in the wrong order", "multi-head-attention",
     [("return t.view(t.size(0), t.size(1), self.n_heads, self.d_head).transpose(1, 2)",
       "return t.reshape(t.size(0), self.n_heads, t.size(1), self.d_head)"),
      ("self.w_o(out.transpose(1, 2).reshape(b, lq, d))", "self.w_o(out.reshape(b, lq, d))")], "wrong order"),
    ("missing output projection", "multi-head-attention",
     [("return self.w_o(out.transpose(1, 2).reshape(b, lq, d)), weights", "return out.transpose(1, 2).reshape(b, lq, d), weights")],
     "output projection"),
    ("wrong answer: why scale", "why-scale", [('answer_why_scale = "b"', 'answer_why_scale = "a"')], "not the right answer"),
    ("wrong answer: weights of input 2", "weights-of-input-2",
     [('answer_weights_of_input_2 = "a"', 'answer_weights_of_input_2 = "c"')], "not the right answer"),
    ("scores scaled by sqrt(d_v)", "scaled-dot-product-attention",
     [("/ math.sqrt(q.size(-1))", "/ math.sqrt(v.size(-1))")], "values' size d_v"),
    ("a large negative mask without zeroing empty rows", "scaled-dot-product-attention",
     [("scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)", "scores = scores.masked_fill(~mask, -1e9)"),
      ("        weights = weights.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)\n", "        pass\n")],
     "may attend to no key"),
    ("self-attention written inline without scaling", "self-attention",
     [("return scaled_dot_product_attention(self.w_q(x), self.w_k(x), self.w_v(x), mask)",
       "q, k, v = self.w_q(x), self.w_k(x), self.w_v(x)\n        scores = q @ k.transpose(-2, -1)\n"
       "        if mask is not None:\n            scores = scores.masked_fill(~mask, float(\"-inf\"))\n"
       "        weights = scores.softmax(dim=-1)\n        return weights @ v, weights")], "not divided by sqrt(d_k)"),
    ("multi-head attention scaled by sqrt(d_model)", "multi-head-attention",
     [("out, weights = scaled_dot_product_attention(split(self.w_q(x)), split(self.w_k(source)),\n"
       "                                                    split(self.w_v(source)), mask)",
       "q, k, v = split(self.w_q(x)), split(self.w_k(source)), split(self.w_v(source))\n"
       "        scores = q @ k.transpose(-2, -1) / math.sqrt(d)\n        if mask is not None:\n"
       "            scores = scores.masked_fill(~mask, float(\"-inf\"))\n        weights = scores.softmax(dim=-1)\n"
       "        out = weights @ v")], "sqrt(d_head)"),
    ("an integer causal mask", "causal-mask",
     [("return torch.ones(n, n, dtype=torch.bool).tril()", "return torch.ones(n, n, dtype=torch.long).tril()")],
     "expected torch.bool"),
    ("the mask read the wrong way round", "scaled-dot-product-attention",
     [("scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)",
       "scores = scores.masked_fill(mask, torch.finfo(scores.dtype).min)"),
      ("weights = weights.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)",
       "weights = weights.masked_fill(mask.all(dim=-1, keepdim=True), 0.0)")], "wrong way round"),
    ("heads merged without the transpose back", "multi-head-attention",
     [("return self.w_o(out.transpose(1, 2).reshape(b, lq, d)), weights", "return self.w_o(out.reshape(b, lq, d)), weights")],
     "merged in the wrong order"),
]
MANUAL = ["heads-answer"]
STYLES = [
    ("attention with einsum, -inf and nan_to_num", [(
        "    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))\n    if mask is not None:\n"
        "        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)\n    weights = scores.softmax(dim=-1)\n"
        "    if mask is not None:\n        weights = weights.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)\n"
        "    return weights @ v, weights\n",
        "    scores = torch.einsum(\"...qd,...kd->...qk\", q, k) / q.size(-1) ** 0.5\n    if mask is not None:\n"
        "        scores = scores.masked_fill(mask.logical_not(), float(\"-inf\"))\n"
        "    weights = torch.softmax(scores, dim=-1).nan_to_num(0.0)\n"
        "    return torch.einsum(\"...qk,...kd->...qd\", weights, v), weights\n")]),
]

"""Assignment 5: GPT: typical mistakes, as edits of the source notebook's solutions.

Each entry of MISTAKES: (name, the part that must lose points, [(old, new) edits], words the grader's message must
contain). The tests grade every one; `autograder demo` gives the first one to its example student with a bug.
MANUAL lists the parts graded by hand. STYLES: correct answers written in other styles, as edits of the solutions;
each must earn full marks.
"""
SPLIT = "w(x).view(b, t, self.n_heads, self.d_head).transpose(1, 2)"
MERGE = "return self.w_o(out.transpose(1, 2).reshape(b, t, d)), k, v"
APPEND = ("        if past_k is not None:\n"
          "            k, v = torch.cat([past_k, k], dim=2), torch.cat([past_v, v], dim=2)  # (B, h, T_past + T, d_head)\n")
MASK = ("        allowed = torch.ones(t, t_past + t, dtype=torch.bool, device=x.device).tril(diagonal=t_past)\n"
        "        scores = scores.masked_fill(~allowed, float(\"-inf\"))\n")
BLOCK = ("        attended, k, v = self.attn(self.ln1(x), past_k, past_v)\n        x = x + attended\n"
         "        return x + self.mlp(self.ln2(x)), k, v\n")
TOP_K = ("        kth = logits.topk(min(top_k, logits.size(-1)), dim=-1).values[:, -1:]  # (B, 1): the k-th largest\n"
         "        logits = logits.masked_fill(logits < kth, float(\"-inf\"))\n")
LOSS = "return F.cross_entropy(logits[:, :-1].flatten(0, 1), idx[:, 1:].flatten())"

MISTAKES = [
    ("no causal mask", "causal-attention", [("        scores = scores.masked_fill(~allowed, float(\"-inf\"))\n", "")],
     "no causal mask"),
    ("causal mask lets each position see the next one", "causal-attention",
     [(".tril(diagonal=t_past)", ".tril(diagonal=t_past + 1)")], "off by one"),
    ("scores not scaled", "causal-attention",
     [("scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)", "scores = q @ k.transpose(-2, -1)")], "not scaled"),
    ("heads split without the transpose", "causal-attention",
     [(SPLIT, "w(x).view(b, self.n_heads, t, self.d_head)"), (MERGE, "return self.w_o(out.reshape(b, t, d)), k, v")],
     "split wrongly"),
    ("new keys not appended to the cache", "causal-attention", [(APPEND, "")], "not appended"),
    ("cached step masked as if it started at 0", "causal-attention", [(".tril(diagonal=t_past)", ".tril()")],
     "ignores the cached positions"),
    ("post-norm block", "gpt-block",
     [(BLOCK, "        attended, k, v = self.attn(x, past_k, past_v)\n        x = self.ln1(x + attended)\n"
              "        return self.ln2(x + self.mlp(x)), k, v\n")], "post-norm"),
    ("residual from the normalized input", "gpt-block",
     [(BLOCK, "        h = self.ln1(x)\n        attended, k, v = self.attn(h, past_k, past_v)\n        x = h + attended\n"
              "        h = self.ln2(x)\n        return h + self.mlp(h), k, v\n")], "residual is taken from the normalized input"),
    ("ReLU instead of GELU", "gpt-block", [("F.gelu(self.fc(x))", "F.relu(self.fc(x))")], "ReLU"),
    ("positions restart at 0 with a cache", "gpt-model",
     [("torch.arange(t_past, t_past + idx.size(1), device=idx.device)", "torch.arange(idx.size(1), device=idx.device)")],
     "restart at 0"),
    ("no final LayerNorm", "gpt-model", [("logits = self.ln_f(x) @ self.tok_emb.weight.T", "logits = x @ self.tok_emb.weight.T")],
     "ln_f is missing"),
    ("every layer gets the first layer's cache", "gpt-model", [("else past_k[i]", "else past_k[0]"), ("else past_v[i]", "else past_v[0]")],
     "first layer's cache"),
    ("loss without the shift", "next-token-loss", [(LOSS, "return F.cross_entropy(logits.flatten(0, 1), idx.flatten())")],
     "their own positions"),
    ("loss shifted the wrong way", "next-token-loss",
     [(LOSS, "return F.cross_entropy(logits[:, 1:].flatten(0, 1), idx[:, :-1].flatten())")], "wrong way"),
    ("loss summed instead of averaged", "next-token-loss",
     [(LOSS, "return F.cross_entropy(logits[:, :-1].flatten(0, 1), idx[:, 1:].flatten(), reduction=\"sum\")")],
     "losses are summed"),
    ("temperature multiplied", "next-token-probs", [("logits = logits / temperature", "logits = logits * temperature")],
     "multiplied"),
    ("temperature applied after filtering", "next-token-probs",
     [("    logits = logits / temperature\n", ""),
      ("    return logits.softmax(dim=-1)\n", "    return (logits / temperature).softmax(dim=-1)\n")], "after filtering"),
    ("top-p drops the token that crosses p", "next-token-probs",
     [("above = probs.cumsum(dim=-1) - probs", "above = probs.cumsum(dim=-1)")], "cross p"),
    ("top-k keeps k + 1 tokens", "next-token-probs", [("min(top_k, logits.size(-1))", "min(top_k + 1, logits.size(-1))")],
     "k + 1"),
    ("top-k breaks ties", "next-token-probs",
     [(TOP_K, "        keep = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, logits.topk(top_k, dim=-1).indices, True)\n"
              "        logits = logits.masked_fill(~keep, float(\"-inf\"))\n")], "tied"),
    ("filtered after the softmax without renormalizing", "next-token-probs",
     [("    logits = logits / temperature\n", "    scaled = logits = logits / temperature\n"),
      ("    return logits.softmax(dim=-1)\n", "    return scaled.softmax(dim=-1).masked_fill(logits == float(\"-inf\"), 0.0)\n")],
     "not renormalized"),
    ("position embedding not counted", "gpt-parameter-count",
     [("embeddings = (vocab_size + block_size) * d_model", "embeddings = vocab_size * d_model")], "position embedding"),
    ("tied output layer counted twice", "gpt-parameter-count",
     [("embeddings = (vocab_size + block_size) * d_model", "embeddings = (2 * vocab_size + block_size) * d_model")],
     "count it once"),
    ("biases not counted", "gpt-parameter-count",
     [("attention = 4 * (d_model * d_model + d_model)", "attention = 4 * d_model * d_model"),
      ("mlp = (d_model * 4 * d_model + 4 * d_model) + (4 * d_model * d_model + d_model)", "mlp = 8 * d_model * d_model")],
     "biases"),
    ("LayerNorms not counted", "gpt-parameter-count",
     [("layer_norms = 2 * (2 * d_model)", "layer_norms = 0"),
      ("return embeddings + n_layers * (attention + mlp + layer_norms) + 2 * d_model",
       "return embeddings + n_layers * (attention + mlp + layer_norms)")], "LayerNorms"),
    ("wrong answer: the original GPT's size", "gpt-size", [('answer_gpt_size = "b"', 'answer_gpt_size = "c"')],
     "not the right answer"),
]
MANUAL = ["kv-answer"]
STYLES = [
    ("the causal mask as the future (triu) hidden with a large negative number", [(MASK, (
        "        future = torch.triu(torch.ones(t, t_past + t, dtype=torch.bool, device=x.device), diagonal=t_past + 1)\n"
        "        scores = scores.masked_fill(future, -1e9)\n"))]),
    ("the loss from log_softmax and gather", [(LOSS, "return -logits[:, :-1].log_softmax(dim=-1).gather(-1, idx[:, 1:, None]).mean()")]),
    ("the parameter count as 12 d^2 per layer plus the small terms",
     [("    embeddings = (vocab_size + block_size) * d_model\n", "    d = d_model\n"
       "    return (vocab_size + block_size) * d + n_layers * (12 * d * d + 13 * d) + 2 * d\n"
       "    embeddings = (vocab_size + block_size) * d_model\n")]),
]

"""Assignment 3: the Transformer: typical mistakes, as edits of the source notebook's solutions.

Each entry of MISTAKES: (name, the part that must lose points, [(old, new) edits], words the grader's message must
contain). The tests grade every one; `autograder demo` gives the first one to its example student with a bug.
MANUAL lists the parts graded by hand. STYLES: correct answers written in other styles, as edits of the solutions;
each must earn full marks.
"""
ENC_POST = ("        x = self.norm1(x + self.self_attn(x, mask=mask)[0])\n        return self.norm2(x + self.ff(x))")
MISTAKES = [
    ("no ReLU in the feed-forward network", "feed-forward",
     [("return self.linear2(F.relu(self.linear1(x)))", "return self.linear2(self.linear1(x))")], "no ReLU"),
    ("ReLU on the output too", "feed-forward",
     [("return self.linear2(F.relu(self.linear1(x)))", "return F.relu(self.linear2(F.relu(self.linear1(x))))")], "after the second"),
    ("LayerNorm over the wrong axis", "layer-norm",
     [("mean = x.mean(dim=-1, keepdim=True)", "mean = x.mean(dim=0, keepdim=True)"),
      ("var = x.var(dim=-1, keepdim=True, unbiased=False)", "var = x.var(dim=0, keepdim=True, unbiased=False)")], "wrong axis"),
    ("unbiased variance", "layer-norm", [("unbiased=False", "unbiased=True")], "unbiased"),
    ("missing residual", "add-and-norm", [("F.layer_norm(x + sublayer_output,", "F.layer_norm(sublayer_output,")],
     "residual connection is missing"),
    ("norm before the add", "add-and-norm",
     [("return F.layer_norm(x + sublayer_output, (x.size(-1),), weight, bias)",
       "return x + F.layer_norm(sublayer_output, (x.size(-1),), weight, bias)")], "normalized before"),
    ("encoder ignores norm_first", "encoder-layer",
     [("        if self.norm_first:\n            h = self.norm1(x)\n            x = x + self.self_attn(h, mask=mask)[0]\n            return x + self.ff(self.norm2(x))\n" + ENC_POST,
       ENC_POST)], "norm order"),
    ("encoder without the attention residual", "encoder-layer",
     [("x = x + self.self_attn(h, mask=mask)[0]\n            return x + self.ff(self.norm2(x))",
       "x = self.self_attn(h, mask=mask)[0]\n            return x + self.ff(self.norm2(x))"),
      ("x = self.norm1(x + self.self_attn(x, mask=mask)[0])\n        return self.norm2(x + self.ff(x))",
       "x = self.norm1(self.self_attn(x, mask=mask)[0])\n        return self.norm2(x + self.ff(x))")], "residual connection around self-attention"),
    ("encoder drops the padding mask", "encoder-layer",
     [("x = x + self.self_attn(h, mask=mask)[0]\n            return x + self.ff(self.norm2(x))",
       "x = x + self.self_attn(h)[0]\n            return x + self.ff(self.norm2(x))"),
      ("x = self.norm1(x + self.self_attn(x, mask=mask)[0])\n        return self.norm2(x + self.ff(x))",
       "x = self.norm1(x + self.self_attn(x)[0])\n        return self.norm2(x + self.ff(x))")], "padding mask"),
    ("cross-attention keys from the decoder", "decoder-layer",
     [("x = x + self.cross_attn(self.norm2(x), memory, mask=memory_mask)[0]", "x = x + self.cross_attn(self.norm2(x))[0]"),
      ("x = self.norm2(x + self.cross_attn(x, memory, mask=memory_mask)[0])", "x = self.norm2(x + self.cross_attn(x)[0])")],
     "keys and values from the decoder"),
    ("decoder without the causal mask", "decoder-layer",
     [("x = x + self.self_attn(h, mask=self_mask)[0]", "x = x + self.self_attn(h)[0]"),
      ("x = self.norm1(x + self.self_attn(x, mask=self_mask)[0])", "x = self.norm1(x + self.self_attn(x)[0])")], "sees the future"),
    ("decoder always post-norm", "decoder-layer", [("        if self.norm_first:\n            h = self.norm1(x)\n            x = x + self.self_attn(h, mask=self_mask)[0]",
                                                    "        if False:\n            h = self.norm1(x)\n            x = x + self.self_attn(h, mask=self_mask)[0]")],
     "norm order"),
    ("targets rolled", "shift-right",
     [("return torch.cat([torch.full_like(tgt[:, :1], bos_id), tgt[:, :-1]], dim=1)", "return tgt.roll(1, dims=1)")], "rolled"),
    ("last token kept", "shift-right",
     [("return torch.cat([torch.full_like(tgt[:, :1], bos_id), tgt[:, :-1]], dim=1)",
       "return torch.cat([torch.full_like(tgt[:, :1], bos_id), tgt], dim=1)")], "target's length"),
    ("greedy keeps BOS", "greedy-decode", [("        if seq[-1] == eos_id:\n            break\n    return seq[1:]",
                                            "        if seq[-1] == eos_id:\n            break\n    return seq")], "starts with BOS"),
    ("greedy ignores EOS", "greedy-decode", [("        if seq[-1] == eos_id:\n            break\n    return seq[1:]",
                                              "    return seq[1:]")], "goes on after EOS"),
    ("beam without length normalization", "beam-search",
     [("best = max(finished or beams, key=lambda c: c[1] / (len(c[0]) - 1))", "best = max(finished or beams, key=lambda c: c[1])")],
     "divide by their length"),
    ("beam ranks by the last token", "beam-search",
     [("totals = torch.tensor([score for _, score in beams])[:, None] + logp", "totals = logp")], "running"),
    ("wrong answer: cross-attention sources", "cross-attention-sources",
     [('answer_cross_attention = "a"', 'answer_cross_attention = "b"')], "not the right answer"),
    ("GELU instead of ReLU", "feed-forward", [("F.relu(self.linear1(x))", "F.gelu(self.linear1(x))")], "GELU"),
    ("pre-norm residual from the normalized input", "encoder-layer",
     [("            h = self.norm1(x)\n            x = x + self.self_attn(h, mask=mask)[0]\n            return x + self.ff(self.norm2(x))",
       "            h = self.norm1(x)\n            x = h + self.self_attn(h, mask=mask)[0]\n            h = self.norm2(x)\n"
       "            return h + self.ff(h)")], "residual is taken from the normalized input"),
    ("cross-attention without the memory mask", "decoder-layer",
     [("x = x + self.cross_attn(self.norm2(x), memory, mask=memory_mask)[0]", "x = x + self.cross_attn(self.norm2(x), memory)[0]"),
      ("x = self.norm2(x + self.cross_attn(x, memory, mask=memory_mask)[0])", "x = self.norm2(x + self.cross_attn(x, memory)[0])")],
     "ignores memory_mask"),
    ("greedy stops one token early", "greedy-decode",
     [("    for _ in range(max_len):\n        seq.append(int(step(torch.tensor([seq]))[0].argmax()))",
       "    while len(seq) < max_len:\n        seq.append(int(step(torch.tensor([seq]))[0].argmax()))")], "one token before max_len"),
    ("greedy drops EOS", "greedy-decode", [("        if seq[-1] == eos_id:\n            break\n    return seq[1:]",
                                            "        if seq[-1] == eos_id:\n            return seq[1:-1]\n    return seq[1:]")],
     "leaves it out"),
    ("beam counts BOS in the length", "beam-search",
     [("key=lambda c: c[1] / (len(c[0]) - 1))", "key=lambda c: c[1] / len(c[0]))")], "counts BOS"),
    ("beam goes on past EOS", "beam-search",
     [("            (finished if token == eos_id else beams).append((seqs[b] + [token], score))",
       "            beams.append((seqs[b] + [token], score))")], "go on after EOS"),
]
MANUAL = ["norm-answer"]
STYLES = [
    ("greedy decoding with a while loop over the generated tokens", [(
        "    seq = [bos_id]\n    for _ in range(max_len):\n        seq.append(int(step(torch.tensor([seq]))[0].argmax()))\n"
        "        if seq[-1] == eos_id:\n            break\n    return seq[1:]\n",
        "    out: list[int] = []\n    while len(out) < max_len:\n"
        "        nxt = int(step(torch.tensor([[bos_id] + out])).argmax(dim=-1)[0])\n        out.append(nxt)\n"
        "        if nxt == eos_id:\n            break\n    return out\n")]),
]

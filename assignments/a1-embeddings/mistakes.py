"""Assignment 1: tokens, embeddings and positions: typical mistakes, as edits of the source notebook's solutions.

Each entry of MISTAKES: (name, the part that must lose points, [(old, new) edits], words the grader's message must
contain). The tests grade every one; `autograder demo` gives the first one to its example student with a bug.
MANUAL lists the parts graded by hand. STYLES: correct answers written in other styles, as edits of the solutions;
each must earn full marks.
"""
MISTAKES = [
    ("character ids without the special tokens", "char-encode",
     [("stoi = {ch: len(SPECIALS) + i for i, ch in enumerate(sorted(set(alphabet)))}",
       "stoi = {ch: i for i, ch in enumerate(sorted(set(alphabet)))}")], "special tokens"),
    ("characters numbered as they appear", "char-encode",
     [("stoi = {ch: len(SPECIALS) + i for i, ch in enumerate(sorted(set(alphabet)))}",
       "stoi = {ch: len(SPECIALS) + i for i, ch in enumerate(dict.fromkeys(alphabet))}")], "sort them"),
    ("code points as ids", "char-encode", [("    return [stoi[ch] for ch in text]\n", "    return [ord(ch) for ch in text]\n")],
     "code points"),
    ("merge moves on by one", "merge-pair", [("            i += 2\n", "            i += 1\n")], "skip both ids"),
    ("merge only the first occurrence", "merge-pair",
     [("        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:\n            out.append(new_id)\n            i += 2",
       "        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1] and new_id not in out:\n            out.append(new_id)\n            i += 2")],
     "only the first occurrence"),
    ("pairs counted at even positions", "learn-merges",
     [("counts = Counter(zip(ids, ids[1:]))", "counts = Counter(zip(ids[::2], ids[1::2]))")], "even positions"),
    ("all merges chosen at once", "learn-merges",
     [("""    for new_id in range(256, 256 + n_merges):
        counts = Counter(zip(ids, ids[1:]))
        if not counts:
            break
        best = max(counts, key=counts.__getitem__)
        merges.append(best)
        ids = merge_pair(ids, best, new_id)
    return merges""", """    counts = Counter(zip(ids, ids[1:]))
    return sorted(counts, key=counts.__getitem__, reverse=True)[:n_merges]""")], "iterative"),
    ("characters instead of bytes", "bpe-encode",
     [("    ids = list(text.encode(\"utf-8\"))\n    for i, pair in enumerate(merges):",
       "    ids = [ord(ch) for ch in text]\n    for i, pair in enumerate(merges):")], "UTF-8 bytes"),
    ("merges applied in reverse", "bpe-encode",
     [("    for i, pair in enumerate(merges):\n        ids = merge_pair(ids, tuple(pair), 256 + i)",
       "    for i, pair in reversed(list(enumerate(merges))):\n        ids = merge_pair(ids, tuple(pair), 256 + i)")], "reverse order"),
    ("each token decoded on its own", "bpe-decode",
     [('return b"".join(vocab[i] for i in ids).decode("utf-8", errors="replace")',
       'return "".join(vocab[i].decode("utf-8", errors="replace") for i in ids)')], "decoded on its own"),
    ("bytes decoded as Latin-1", "bpe-decode",
     [('return b"".join(vocab[i] for i in ids).decode("utf-8", errors="replace")',
       'return b"".join(vocab[i] for i in ids).decode("latin-1")')], "Latin-1"),
    ("embedding not scaled", "token-embedding", [("return self.table(tokens) * math.sqrt(self.d_model)", "return self.table(tokens)")],
     "not multiplied by sqrt(d_model)"),
    ("embedding times d_model", "token-embedding",
     [("return self.table(tokens) * math.sqrt(self.d_model)", "return self.table(tokens) * self.d_model")], "multiplied by d_model"),
    ("sin and cos swapped", "positional-encoding",
     [("pe[:, 0::2] = torch.sin(angle)\n    pe[:, 1::2] = torch.cos(angle)", "pe[:, 0::2] = torch.cos(angle)\n    pe[:, 1::2] = torch.sin(angle)")],
     "sin and cos are swapped"),
    ("exponent i/d", "positional-encoding", [("angle = pos / 10000 ** (two_i / d_model)", "angle = pos / 10000 ** (two_i / 2 / d_model)")],
     "2i/d_model"),
    ("RoPE rotates halves", "rope",
     [("even, odd = x[..., 0::2], x[..., 1::2]\n    return torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1).flatten(-2)",
       "even, odd = x[..., :d // 2], x[..., d // 2:]\n    return torch.cat([even * cos - odd * sin, even * sin + odd * cos], dim=-1)")], "neighbouring pairs"),
    ("RoPE rotates the wrong way", "rope",
     [("[even * cos - odd * sin, even * sin + odd * cos]", "[even * cos + odd * sin, -even * sin + odd * cos]")], "wrong way"),
    ("wrong multiple-choice answer", "rope-where", [('answer_rope_where = "b"', 'answer_rope_where = "a"')], "not the right answer"),
    ("sin and cos concatenated", "positional-encoding",
     [("    pe[:, 0::2] = torch.sin(angle)\n    pe[:, 1::2] = torch.cos(angle)\n",
       "    pe = torch.cat([torch.sin(angle), torch.cos(angle)], dim=1)\n")], "they interleave"),
]
MANUAL = ["vocab-answer"]
STYLES = [
    ("BPE encoding by merge rank, as GPT-2's tokenizer does", [(
        "    ids = list(text.encode(\"utf-8\"))\n    for i, pair in enumerate(merges):\n"
        "        ids = merge_pair(ids, tuple(pair), 256 + i)\n    return ids\n",
        "    ranks = {pair: rank for rank, pair in enumerate(merges)}\n    ids = list(text.encode(\"utf-8\"))\n"
        "    while len(ids) > 1:\n        best = min(zip(ids, ids[1:]), key=lambda p: ranks.get(p, len(ranks)))\n"
        "        if best not in ranks:\n            break\n        ids = merge_pair(ids, best, 256 + ranks[best])\n    return ids\n")]),
]

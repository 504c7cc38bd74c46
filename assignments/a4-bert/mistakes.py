"""Assignment 4: BERT: typical mistakes, as edits of the source notebook's solutions.

Each entry of MISTAKES: (name, the part that must lose points, [(old, new) edits], words the grader's message must
contain). The tests grade every one; `autograder demo` gives the first one to its example student with a bug.
MANUAL lists the parts graded by hand. STYLES: correct answers written in other styles, as edits of the solutions;
each must earn full marks.
"""
EMB = "return self.norm(self.tokens(tokens) + self.segments(segments) + self.positions(positions))"
CHOSEN = "chosen = (chosen_draw < prob) & ~special"
LABELS = "labels = torch.where(chosen, tokens, torch.full_like(tokens, -100))"
TO_MASK = "inputs = torch.where(chosen & (action_draw < 0.8), torch.full_like(tokens, mask_id), tokens)"
TO_RANDOM = "inputs = torch.where(chosen & (action_draw >= 0.8) & (action_draw < 0.9), random_tokens, inputs)"
HEAD = "return self.norm(F.gelu(self.transform(h))) @ table.T + self.bias"
MLM_LOSS = "mlm = F.cross_entropy(mlm_logits.flatten(0, 1), labels.flatten(), ignore_index=-100)"
TOTAL = "return mlm + F.cross_entropy(nsp_logits, is_next)"
SPAN_MASK = 'scores = scores.masked_fill((length < 1) | (length > max_answer_len), float("-inf"))'

MISTAKES = [
    ("segment embeddings left out", "bert-embeddings",
     [(EMB, "return self.norm(self.tokens(tokens) + self.positions(positions))")], "segment embeddings are left out"),
    ("positions counted from 1", "bert-embeddings",
     [("positions = torch.arange(tokens.size(1), device=tokens.device)",
       "positions = torch.arange(1, tokens.size(1) + 1, device=tokens.device)")], "counted from 1"),
    ("no LayerNorm on the sum", "bert-embeddings",
     [(EMB, "return self.tokens(tokens) + self.segments(segments) + self.positions(positions)")], "LayerNorm"),
    ("special tokens chosen", "mask-tokens", [(CHOSEN, "chosen = chosen_draw < prob")], "special tokens"),
    ("special ids hard-coded", "mask-tokens",
     [("special = torch.isin(tokens, torch.tensor(special_ids,", "special = torch.isin(tokens, torch.tensor([0, 2, 3],")], "hard-coded"),
    ("special ids taken to be the smallest", "mask-tokens",
     [(CHOSEN, "chosen = (chosen_draw < prob) & (tokens > max(special_ids))")], "largest special id"),
    ("labels everywhere", "mask-tokens", [(LABELS, "labels = tokens.clone()")], "-100 at every position"),
    ("every chosen token becomes [MASK]", "mask-tokens",
     [(TO_MASK, "inputs = torch.where(chosen, torch.full_like(tokens, mask_id), tokens)"), (TO_RANDOM, "")],
     "every chosen token becomes [MASK]"),
    ("random and unchanged swapped", "mask-tokens",
     [(TO_RANDOM, "inputs = torch.where(chosen & (action_draw >= 0.9), random_tokens, inputs)")], "swapped"),
    ("unchanged chosen tokens unlabelled", "mask-tokens",
     [(LABELS, "labels = torch.where(chosen & (action_draw < 0.9), tokens, torch.full_like(tokens, -100))")],
     "changed or not"),
    ("labels are the corrupted inputs", "mask-tokens",
     [("    return inputs, labels", "    return inputs, torch.where(chosen, inputs, labels)")], "corrupted inputs"),
    ("no GELU in the head", "mlm-head", [(HEAD, "return self.norm(self.transform(h)) @ table.T + self.bias")], "no GELU"),
    ("ReLU in the head", "mlm-head", [(HEAD, "return self.norm(F.relu(self.transform(h))) @ table.T + self.bias")],
     "ReLU"),
    ("tanh approximation of GELU", "mlm-head",
     [(HEAD, 'return self.norm(F.gelu(self.transform(h), approximate="tanh")) @ table.T + self.bias')],
     "tanh approximation"),
    ("no output bias", "mlm-head", [(HEAD, "return self.norm(F.gelu(self.transform(h))) @ table.T")], "output bias"),
    ("table not transposed", "mlm-head", [(HEAD, "return self.norm(F.gelu(self.transform(h))) @ table + self.bias")],
     "not transposed"),
    ("masked-LM loss over all positions", "pretraining-loss",
     [(MLM_LOSS, "mlm = F.cross_entropy(mlm_logits.flatten(0, 1), labels.flatten(), ignore_index=-100, "
                 "reduction=\"sum\") / labels.numel()")], "chosen ones only"),
    ("NSP left out", "pretraining-loss", [(TOTAL, "return mlm")], "next-sentence loss is left out"),
    ("the two losses averaged", "pretraining-loss", [(TOTAL, "return (mlm + F.cross_entropy(nsp_logits, is_next)) / 2")],
     "their sum"),
    ("independent argmaxes", "best-span",
     [("    n = start_logits.size(0)\n", "    return int(start_logits.argmax()), int(end_logits.argmax())\n    n = start_logits.size(0)\n")],
     "two separate argmaxes"),
    ("no length limit", "best-span", [(SPAN_MASK, 'scores = scores.masked_fill(length < 1, float("-inf"))')],
     "longer than max_answer_len"),
    ("length limit off by one", "best-span", [("length = i[None, :] - i[:, None] + 1", "length = i[None, :] - i[:, None]")],
     "max_answer_len + 1"),
    ("invalid spans filled with 0", "best-span",
     [(SPAN_MASK, "scores = scores.masked_fill((length < 1) | (length > max_answer_len), 0.0)")], "instead of -inf"),
    ("wrong answer: why not always [MASK]", "why-not-always-mask",
     [('answer_why_not_always_mask = "b"', 'answer_why_not_always_mask = "a"')], "not the right answer"),
    ("wrong answer: why 15%", "why-fifteen-percent", [('answer_why_fifteen = "c"', 'answer_why_fifteen = "a"')],
     "not the right answer"),
    ("wrong answer: fine-tuning", "fine-tuning", [('answer_fine_tuning = "d"', 'answer_fine_tuning = "a"')],
     "not the right answer"),
]
MANUAL = ["transfer-answer"]
STYLES = [
    ("embeddings with positions from expand", [(
        "        positions = torch.arange(tokens.size(1), device=tokens.device)  # (L,), broadcast over the batch\n"
        "        return self.norm(self.tokens(tokens) + self.segments(segments) + self.positions(positions))\n",
        "        b, length = tokens.shape\n"
        "        positions = torch.arange(length, device=tokens.device).unsqueeze(0).expand(b, length)\n"
        "        x = self.tokens(tokens) + self.segments(segments)\n"
        "        x = x + self.positions(positions)\n"
        "        return self.norm(x)\n")]),
    ("masking by in-place assignment on a clone", [(
        "    special = torch.isin(tokens, torch.tensor(special_ids, device=tokens.device))\n"
        "    chosen = (chosen_draw < prob) & ~special\n"
        "    labels = torch.where(chosen, tokens, torch.full_like(tokens, -100))\n"
        "    inputs = torch.where(chosen & (action_draw < 0.8), torch.full_like(tokens, mask_id), tokens)\n"
        "    inputs = torch.where(chosen & (action_draw >= 0.8) & (action_draw < 0.9), random_tokens, inputs)\n"
        "    return inputs, labels\n",
        "    chosen = chosen_draw < prob\n"
        "    for s in special_ids:\n"
        "        chosen &= tokens != s\n"
        "    inputs, labels = tokens.clone(), tokens.clone()\n"
        "    labels[~chosen] = -100\n"
        "    inputs[chosen & (action_draw < 0.8)] = mask_id\n"
        "    use_random = chosen & (action_draw >= 0.8) & (action_draw < 0.9)\n"
        "    inputs[use_random] = random_tokens[use_random]\n"
        "    return inputs, labels\n")]),
    ("pretraining loss by selecting the chosen positions", [(
        MLM_LOSS,
        "chosen = labels != -100\n    mlm = F.cross_entropy(mlm_logits[chosen], labels[chosen])")]),
    ("best span with two loops", [(
        "    n = start_logits.size(0)\n"
        "    scores = start_logits[:, None] + end_logits[None, :]  # (start, end)\n"
        "    i = torch.arange(n, device=scores.device)\n"
        "    length = i[None, :] - i[:, None] + 1\n"
        "    " + SPAN_MASK + "\n"
        "    best = int(scores.flatten().argmax())\n"
        "    return best // n, best % n\n",
        "    best, best_score = (0, 0), float(\"-inf\")\n"
        "    for s in range(len(start_logits)):\n"
        "        for e in range(s, min(len(end_logits), s + max_answer_len)):\n"
        "            score = float(start_logits[s] + end_logits[e])\n"
        "            if score > best_score:\n"
        "                best, best_score = (s, e), score\n"
        "    return best\n")]),
]

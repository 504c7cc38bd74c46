"""Assignment 9: multimodal models: typical mistakes, as edits of the source notebook's solutions.

Each entry of MISTAKES: (name, the part that must lose points, [(old, new) edits], words the grader's message must
contain). The tests grade every one; `autograder demo` gives the first one to its example student with a bug.
MANUAL lists the parts graded by hand. STYLES: correct answers written in other styles, as edits of the solutions;
each must earn full marks.
"""
PROJECT = "return self.fc2(F.gelu(self.fc1(features)))"
LOSS_LOGITS = "text_logits = logits[:, n_visual:-1]"
LOSS_TARGETS = "targets = captions[:, 1:]"
MISTAKES = [
    ("projector without an activation", "projector", [(PROJECT, "return self.fc2(self.fc1(features))")], "no GELU"),
    ("projector with GELU on its output", "projector",
     [(PROJECT, "return F.gelu(self.fc2(F.gelu(self.fc1(features))))")], "after fc2"),
    ("projector with ReLU", "projector", [(PROJECT, "return self.fc2(F.relu(self.fc1(features)))")], "ReLU"),
    ("projector with the tanh-approximate GELU", "projector",
     [(PROJECT, 'return self.fc2(F.gelu(self.fc1(features), approximate="tanh"))')], "tanh approximation"),
    ("text before the image", "lm-input",
     [("return torch.cat([visual, embed(text)], dim=1)", "return torch.cat([embed(text), visual], dim=1)")],
     "text comes before the visual tokens"),
    ("visual tokens not projected", "lm-input", [("visual = projector(features)", "visual = features")], "not projected"),
    ("wrong answer: a text-first LM still trains the image encoder", "visual-first", [('answer_visual_first = "d"', 'answer_visual_first = "b"')],
     "not the right answer"),
    ("targets not shifted", "caption-loss",
     [(LOSS_LOGITS, "text_logits = logits[:, n_visual:]"), (LOSS_TARGETS, "targets = captions")], "not shifted"),
    ("loss on the visual positions", "caption-loss",
     [(LOSS_LOGITS, "text_logits = logits[:, :captions.size(1) - 1]")], "visual positions"),
    ("the last visual token predicts <bos>", "caption-loss",
     [(LOSS_LOGITS, "text_logits = logits[:, n_visual - 1:-1]"), (LOSS_TARGETS, "targets = captions")],
     "never a target"),
    ("padding counted in the loss", "caption-loss", [(", ignore_index=pad_id)", ")")], "ignore_index"),
    ("argmax not fed back", "greedy-caption",
     [("model.lm(torch.cat([visual, model.embed(text)], dim=1))", "model.lm(torch.cat([visual, model.embed(text[:, :1])], dim=1))")],
     "feed it back"),
    ("greedy reads the first position", "greedy-caption",
     [("next_token = logits[:, -1].argmax(dim=-1, keepdim=True)", "next_token = logits[:, 0].argmax(dim=-1, keepdim=True)")],
     "first position"),
    ("captions keep <bos>", "greedy-caption", [("    return text[:, 1:]\n", "    return text\n")], "start with BOS"),
    ("one query set for all tasks", "task-decoder",
     [("queries = self.queries[task].expand(b, -1, -1)", "queries = self.queries[0].expand(b, -1, -1)")], "first task's queries"),
    ("head on the last query", "task-decoder",
     [("return self.heads[task](h[:, 0])", "return self.heads[task](h[:, -1])")], "reads the last query"),
    ("one head for all tasks", "task-decoder",
     [("return self.heads[task](h[:, 0])", "return self.heads[0](h[:, 0])")], "first task's head"),
    ("text padding attended to", "task-decoder",
     [("h = self.decoder(queries, memory, memory_key_padding_mask=hidden)", "h = self.decoder(queries, memory)")],
     "memory_key_padding_mask"),
    ("queries attend to the image only", "task-decoder",
     [("memory = torch.cat([image_memory, text_memory], dim=1)", "memory = image_memory"),
      ("h = self.decoder(queries, memory, memory_key_padding_mask=hidden)", "h = self.decoder(queries, memory)")],
     "image only"),
    ("memory mask inverted (True where attended)", "task-decoder",
     [("hidden = torch.cat([torch.zeros(b, n, dtype=torch.bool, device=text_padding.device), text_padding], dim=1)",
       "hidden = torch.cat([torch.ones(b, n, dtype=torch.bool, device=text_padding.device), ~text_padding], dim=1)")],
     "memory mask is inverted"),
    ("text padding negated", "task-decoder",
     [("hidden = torch.cat([torch.zeros(b, n, dtype=torch.bool, device=text_padding.device), text_padding], dim=1)",
       "hidden = torch.cat([torch.zeros(b, n, dtype=torch.bool, device=text_padding.device), ~text_padding], dim=1)")],
     "text's padding mask is inverted"),
    ("causal mask on the queries", "task-decoder",
     [("h = self.decoder(queries, memory, memory_key_padding_mask=hidden)",
       "causal = nn.Transformer.generate_square_subsequent_mask(queries.size(1), device=queries.device)\n"
       "        h = self.decoder(queries, memory, tgt_mask=causal, tgt_is_causal=True, memory_key_padding_mask=hidden)")],
     "causal mask"),
    ("wrong answer: a new task adds only its head", "unit-sharing", [('answer_unit_sharing = "c"', 'answer_unit_sharing = "b"')],
     "not the right answer"),
]
MANUAL = ["stages-answer"]
STYLES = [
    ("projector with an nn.GELU module (no parameters, so the same state)", [
        ("        self.fc2 = nn.Linear(d_model, d_model)\n",
         "        self.fc2 = nn.Linear(d_model, d_model)\n        self.act = nn.GELU()\n"),
        (PROJECT, "return self.fc2(self.act(self.fc1(features)))")]),
    ("greedy captioning that collects the tokens in a list", [(
        "    for _ in range(max_len):\n        logits = model.lm(torch.cat([visual, model.embed(text)], dim=1))  # (B, N + t, V)\n"
        "        next_token = logits[:, -1].argmax(dim=-1, keepdim=True)  # (B, 1)\n        text = torch.cat([text, next_token], dim=1)\n"
        "    return text[:, 1:]\n",
        "    generated: list[torch.Tensor] = []\n    for _ in range(max_len):\n"
        "        prefix = torch.cat([text, *generated], dim=1)\n"
        "        generated.append(model.lm(torch.cat([visual, model.embed(prefix)], dim=1))[:, -1:].argmax(-1))\n"
        "    return torch.cat(generated, dim=1)\n")]),
    ("caption loss with the reshape written out and the targets' padding as ignore_index", [(
        "    return F.cross_entropy(text_logits.flatten(0, 1), targets.flatten(), ignore_index=pad_id)\n",
        "    b, t, v = text_logits.shape\n"
        "    return F.cross_entropy(text_logits.reshape(b * t, v), targets.reshape(-1), ignore_index=pad_id)\n")]),
]

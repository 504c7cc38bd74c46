"""Assignment 7: the Vision Transformer: typical mistakes, as edits of the source notebook's solutions.

Each entry of MISTAKES: (name, the part that must lose points, [(old, new) edits], words the grader's message must
contain). The tests grade every one; `autograder demo` gives the first one to its example student with a bug.
MANUAL lists the parts graded by hand. STYLES: correct answers written in other styles, as edits of the solutions;
each must earn full marks.
"""
PERMUTE = "grid = grid.permute(0, 2, 4, 1, 3, 5)  # (B, H/p, W/p, C, p, p)"
PATCHIFY = ("    grid = images.reshape(b, c, h // patch, patch, w // patch, patch)  # (B, C, H/p, p, W/p, p)\n"
            f"    {PERMUTE}\n    return grid.reshape(b, (h // patch) * (w // patch), c * patch * patch)\n")
EMB = "return torch.cat([cls, x], dim=1) + self.pos_embed  # (B, 1 + N, d_model)"
HEAD = "return self.head(self.norm(x)[:, 0])  # (B, n_classes)"
SIM = "pos = F.normalize(pos_embed[0, 1:], dim=-1)  # (N, d), each row of length 1"
ATT = "return weights.mean(dim=1)[:, 0, 1:].reshape(-1, side, side)  # (B, side, side)"

MISTAKES = [
    ("patches flattened as (p, p, C)", "patchify", [(PERMUTE, "grid = grid.permute(0, 2, 4, 3, 5, 1)")], "(p, p, C)"),
    ("a plain reshape without permute", "patchify", [(PERMUTE, "")], "plain reshape"),
    ("patches in column-major order", "patchify", [(PERMUTE, "grid = grid.permute(0, 4, 2, 1, 3, 5)")], "column-major"),
    ("pixels within each patch flattened as (C, p_w, p_h)", "patchify",
     [(PERMUTE, "grid = grid.permute(0, 2, 4, 1, 5, 3)")], "(C, p_w, p_h)"),
    ("[CLS] gets no position embedding", "vit-embeddings",
     [(EMB, "return torch.cat([cls, x + self.pos_embed[:, 1:]], dim=1)")], "no position embedding"),
    ("positions added before [CLS] is prepended", "vit-embeddings",
     [(EMB, "return torch.cat([cls, x + self.pos_embed[:, :-1]], dim=1)")], "before [CLS] is prepended"),
    ("[CLS] appended last", "vit-embeddings", [(EMB, "return torch.cat([x, cls], dim=1) + self.pos_embed")],
     "appended after the patches"),
    ("position embeddings for the patches only", "vit-embeddings",
     [("self.pos_embed = nn.Parameter(0.02 * torch.randn(1, 1 + n_patches, d_model))",
       "self.pos_embed = nn.Parameter(0.02 * torch.randn(1, n_patches, d_model))"),
      (EMB, "return torch.cat([cls, x + self.pos_embed], dim=1)")], "size mismatch for pos_embed"),
    ("classifier on the mean of the tokens", "vit-classifier", [(HEAD, "return self.head(self.norm(x).mean(dim=1))")],
     "mean of all tokens"),
    ("classifier on the last token", "vit-classifier", [(HEAD, "return self.head(self.norm(x)[:, -1])")], "last token"),
    ("no final LayerNorm", "vit-classifier", [(HEAD, "return self.head(x[:, 0])")], "final LayerNorm"),
    ("classifier on the mean of the patches", "vit-classifier",
     [(HEAD, "return self.head(self.norm(x)[:, 1:].mean(dim=1))")], "mean of the patch tokens"),
    ("dot products instead of cosine similarity", "position-similarity",
     [(SIM, "pos = pos_embed[0, 1:]")], "dot products"),
    ("[CLS] included in the similarity", "position-similarity",
     [(SIM, "pos = F.normalize(pos_embed[0], dim=-1)")], "[CLS] position is included"),
    ("normalized over the positions", "position-similarity",
     [(SIM, "pos = F.normalize(pos_embed[0, 1:], dim=0)")], "normalized over the positions"),
    ("the last position dropped instead of the first", "position-similarity",
     [(SIM, "pos = F.normalize(pos_embed[0, :-1], dim=-1)")], "last position is dropped"),
    ("attention to [CLS] instead of from it", "cls-attention",
     [(ATT, "return weights.mean(dim=1)[:, 1:, 0].reshape(-1, side, side)")], "attends to [CLS]"),
    ("heads summed", "cls-attention", [(ATT, "return weights.sum(dim=1)[:, 0, 1:].reshape(-1, side, side)")],
     "heads are summed"),
    ("first head only", "cls-attention", [(ATT, "return weights[:, 0, 0, 1:].reshape(-1, side, side)")], "first head"),
    ("the N weights renormalized after dropping [CLS]", "cls-attention",
     [(ATT, "cls = weights.mean(dim=1)[:, 0, 1:]\n    return (cls / cls.sum(-1, keepdim=True)).reshape(-1, side, side)")],
     "renormalized"),
    ("the N weights renormalized per head", "cls-attention",
     [(ATT, "cls = weights[:, :, 0, 1:]\n    return (cls / cls.sum(-1, keepdim=True)).mean(dim=1).reshape(-1, side, side)")],
     "renormalized"),
    ("the last key dropped instead of the first", "cls-attention",
     [(ATT, "return weights.mean(dim=1)[:, 0, :-1].reshape(-1, side, side)")], "last key is dropped"),
    ("the grid transposed", "cls-attention",
     [(ATT, "return weights.mean(dim=1)[:, 0, 1:].reshape(-1, side, side).transpose(1, 2)")], "transposed"),
    ("wrong answer: sequence length", "sequence-length",
     [('answer_sequence_length = "b"', 'answer_sequence_length = "a"')], "not the right answer"),
    ("wrong answer: why positions", "why-positions",
     [('answer_why_positions = "a"', 'answer_why_positions = "d"')], "not the right answer"),
]
MANUAL = ["inductive-bias-answer"]
STYLES = [
    ("patchify with F.unfold", [(PATCHIFY, "    return F.unfold(images, kernel_size=patch, stride=patch).transpose(1, 2)\n")]),
    ("patchify with Tensor.unfold on both spatial axes", [(PATCHIFY,
        "    tiles = images.unfold(2, patch, patch).unfold(3, patch, patch)  # (B, C, H/p, W/p, p, p)\n"
        "    return tiles.permute(0, 2, 3, 1, 4, 5).flatten(3).flatten(1, 2)\n")]),
    ("embeddings with torch.cat over a repeated [CLS] and a sliced addition", [(EMB,
        "tokens = torch.cat([self.cls_token.repeat(images.size(0), 1, 1), x], dim=1)\n"
        "        return tokens + self.pos_embed[:, : tokens.size(1)]")]),
    ("the classifier with nn.TransformerEncoder-style loop and explicit slicing", [(HEAD,
        "cls = self.norm(x[:, :1]).squeeze(1)  # the final norm is per token: normalizing [CLS] alone is the same\n"
        "        return self.head(cls)")]),
    ("cosine similarity with F.cosine_similarity", [(
        "    pos = F.normalize(pos_embed[0, 1:], dim=-1)  # (N, d), each row of length 1\n    return pos @ pos.T  # (N, N)\n",
        "    p = pos_embed.squeeze(0)[1:]\n    return F.cosine_similarity(p[:, None, :], p[None, :, :], dim=-1)\n")]),
]

"""Assignment 6: parameter-efficient fine-tuning: typical mistakes, as edits of the source notebook's solutions.

Each entry of MISTAKES: (name, the part that must lose points, [(old, new) edits], words the grader's message must
contain). The tests grade every one; `autograder demo` gives the first one to its example student with a bug.
MANUAL lists the parts graded by hand. STYLES: correct answers written in other styles, as edits of the solutions;
each must earn full marks.
"""
LORA_UPDATE = "        return out + (x @ self.lora_A.T @ self.lora_B.T) * self.scaling\n"
RANDOM_A = ("self.lora_A = nn.Parameter(torch.randn(r, base.in_features, device=w.device, dtype=w.dtype) / "
            "math.sqrt(base.in_features))")
ZERO_B = "self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, device=w.device, dtype=w.dtype))"
MERGE = "        self.base.weight += self.lora_B @ self.lora_A * self.scaling\n"
UNMERGE = "        self.base.weight -= self.lora_B @ self.lora_A * self.scaling\n"
KEEP_ALPHA_R = ("self.scaling = alpha / r", "self.scaling = alpha / r\n        self.alpha, self.r = alpha, r")
WRAP = "setattr(owner, child, LoRALinear(getattr(owner, child), r, alpha))"
MATCH = 'any(name == t or name.endswith("." + t) for t in targets)'
BITFIT = '        p.requires_grad_(name.rsplit(".", 1)[-1] == "bias")\n'
COUNT = "return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)"

MISTAKES = [
    ("LoRA scaled by r / alpha", "lora-linear", [("self.scaling = alpha / r", "self.scaling = r / alpha")], "r / alpha"),
    ("LoRA update not scaled", "lora-linear", [(LORA_UPDATE, "        return out + x @ self.lora_A.T @ self.lora_B.T\n")],
     "not scaled"),
    ("forward recomputes alpha / r", "lora-linear",
     [KEEP_ALPHA_R, (LORA_UPDATE, "        return out + (x @ self.lora_A.T @ self.lora_B.T) * (self.alpha / self.r)\n")],
     "not by self.scaling"),
    ("A zero, B random", "lora-linear",
     [(RANDOM_A, "self.lora_A = nn.Parameter(torch.zeros(r, base.in_features, device=w.device, dtype=w.dtype))"),
      (ZERO_B, "self.lora_B = nn.Parameter(torch.randn(base.out_features, r, device=w.device, dtype=w.dtype))")],
     "A starts at zero and B at random"),
    ("A and B both random", "lora-linear",
     [(ZERO_B, "self.lora_B = nn.Parameter(torch.randn(base.out_features, r, device=w.device, dtype=w.dtype) / 4)")],
     "a new layer computes what its base layer computes"),
    ("A and B both zero", "lora-linear",
     [(RANDOM_A, "self.lora_A = nn.Parameter(torch.zeros(r, base.in_features, device=w.device, dtype=w.dtype))")],
     "both start at zero"),
    ("base layer not frozen", "lora-linear", [("        self.base.requires_grad_(False)\n", "")], "still trainable"),
    ("merge without the scaling", "lora-merge",
     [(MERGE, "        self.base.weight += self.lora_B @ self.lora_A\n"),
      (UNMERGE, "        self.base.weight -= self.lora_B @ self.lora_A\n")], "without the scaling"),
    ("unmerge only clears the flag", "lora-merge", [(UNMERGE, "        pass\n")], "does not restore"),
    ("forward adds the update after merging", "lora-merge",
     [("        if self.merged:\n            return out\n", "")], "counted twice"),
    ("merge adds out of place", "lora-merge",
     [(MERGE, "        self.base.weight + self.lora_B @ self.lora_A * self.scaling\n")], "leaves base.weight unchanged"),
    ("merge recomputes alpha / r", "lora-merge",
     [KEEP_ALPHA_R, (MERGE, "        self.base.weight += self.lora_B @ self.lora_A * (self.alpha / self.r)\n"),
      (UNMERGE, "        self.base.weight -= self.lora_B @ self.lora_A * (self.alpha / self.r)\n")], "computed again"),
    ("a second merge adds the update again", "lora-merge",
     [("    if self.merged:  # already inside the weight\n        return\n", "")], "second merge()"),
    ("merge does not set the flag", "lora-merge", [("    self.merged = True\n", "")], "must set self.merged = True"),
    ("merge makes a new Parameter", "lora-merge",
     [(MERGE, "        self.base.weight = nn.Parameter(self.base.weight + self.lora_B @ self.lora_A * self.scaling)\n")],
     "new nn.Parameter"),
    ("targets matched as substrings", "apply-lora", [(MATCH, "any(t in name for t in targets)")], "anywhere in its name"),
    ("only the last part of the name compared", "apply-lora",
     [(MATCH, 'name.rsplit(".", 1)[-1] in targets')], "last part"),
    ("rest of the model not frozen", "apply-lora", [("    model.requires_grad_(False)\n", "")], "still trainable"),
    ("a new Linear wrapped instead of the pretrained one", "apply-lora",
     [(WRAP, "setattr(owner, child, LoRALinear(nn.Linear(owner.get_submodule(child).in_features, "
             "owner.get_submodule(child).out_features), r, alpha))")], "base.weight differs"),
    ("LayerNorms wrapped too", "apply-lora", [("if isinstance(module, nn.Linear) and any(", "if any(")],
     "wraps nn.Linear layers only"),
    ("every 1-D parameter as a bias", "bitfit", [(BITFIT, "        p.requires_grad_(p.dim() == 1)\n")], "LayerNorm weights"),
    ("bias found anywhere in the name", "bitfit", [(BITFIT, '        p.requires_grad_("bias" in name)\n')],
     "anywhere in its name"),
    ("BitFit freezes nothing", "bitfit",
     [(BITFIT, '        if name.endswith("bias"):\n            p.requires_grad_(True)\n')], "everything else"),
    ("frozen parameters counted", "count-parameters",
     [(COUNT, "return sum(p.numel() for p in model.parameters())")], "frozen parameters are counted"),
    ("tied matrix counted twice", "count-parameters",
     [(COUNT, "return sum(p.numel() for _, p in model.named_parameters(remove_duplicate=False) "
              "if p.requires_grad or not trainable_only)")], "counted twice"),
    ("wrong answer: LoRA size", "lora-size", [('answer_lora_size = "a"', 'answer_lora_size = "b"')], "not the right answer"),
    ("wrong answer: why B starts at zero", "why-b-zero",
     [('answer_why_b_zero = "a"', 'answer_why_b_zero = "d"')], "not the right answer"),
]
MANUAL = ["merge-answer"]
STYLES = [
    ("LoRA update with F.linear", [(LORA_UPDATE, "        return out + F.linear(F.linear(x, self.lora_A), self.lora_B) * self.scaling\n")]),
    ("apply_lora walking the children recursively", [(
        '    model.requires_grad_(False)\n    chosen = [name for name, module in model.named_modules()\n'
        '              if isinstance(module, nn.Linear) and any(name == t or name.endswith("." + t) for t in targets)]\n'
        '    for name in chosen:\n        parent, _, child = name.rpartition(".")\n        owner = model.get_submodule(parent)\n'
        '        setattr(owner, child, LoRALinear(getattr(owner, child), r, alpha))\n    return model\n',
        '    for p in model.parameters():\n        p.requires_grad = False\n\n'
        '    def visit(module: nn.Module, prefix: str) -> None:\n'
        '        for child_name, child in list(module.named_children()):\n'
        '            full = prefix + child_name\n'
        '            if isinstance(child, nn.Linear) and any(full == t or full.endswith("." + t) for t in targets):\n'
        '                setattr(module, child_name, LoRALinear(child, r=r, alpha=alpha))\n'
        '            else:\n                visit(child, full + ".")\n\n'
        '    visit(model, "")\n    return model\n')]),
    ("count_parameters over unique parameter objects", [(
        COUNT, "seen = {id(p): p for p in model.parameters()}\n"
               "    return sum(p.numel() for p in seen.values() if p.requires_grad or not trainable_only)")]),
]

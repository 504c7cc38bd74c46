"""Similarity: students' own code compared, the template and given cells left out, the cheap disguises (renaming,
reformatting, reordering) seen through, hostile files skipped with a note, and the page escaped. The notebooks are
the a2-attention source with edits, put straight where grading leaves its copies (autograded/); nothing is graded."""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from hypothesis import given, settings, strategies as st

from autograder.cli import main
from autograder.commands.release import answer_variable
from autograder.content import load_module
from autograder.course import Course, copy_course, load_course
from autograder.grading.intake import MAX_BYTES
from autograder.notebook import nbgrader_meta, read_notebook
from autograder.similarity import similarity, write_similarity
from autograder.similarity.compare import read_class, read_sources
from autograder.similarity.fingerprints import fingerprints
from autograder.similarity.regions import REGION, Line, released_template
from generated_class import generate_class

ROOT = Path(__file__).resolve().parents[1]
AID = "a2-attention"
SOURCE = ROOT / "assignments" / AID / "attention.ipynb"

SDPA = ("    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))\n    if mask is not None:\n"
        "        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)\n    weights = scores.softmax(dim=-1)\n"
        "    if mask is not None:\n        weights = weights.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)\n"
        "    return weights @ v, weights\n")
CAUSAL = "    return torch.ones(n, n, dtype=torch.bool).tril()\n"
PADDING = "    return (tokens != pad_id)[:, None, None, :]\n"
MHA = ("        source = x if context is None else context\n        b, lq, d = x.shape\n\n        def split(t):\n"
       "            return t.view(t.size(0), t.size(1), self.n_heads, self.d_head).transpose(1, 2)\n\n"
       "        out, weights = scaled_dot_product_attention(split(self.w_q(x)), split(self.w_k(source)),\n"
       "                                                    split(self.w_v(source)), mask)\n"
       "        return self.w_o(out.transpose(1, 2).reshape(b, lq, d)), weights\n")
MASKS = ("def make_causal_mask(n: int) -> torch.Tensor:\n    ### BEGIN SOLUTION\n" + CAUSAL + "    ### END SOLUTION\n\n\n"
         "def make_padding_mask(tokens: torch.Tensor, pad_id: int) -> torch.Tensor:\n    ### BEGIN SOLUTION\n" + PADDING
         + "    ### END SOLUTION")
SELF_INIT = ("    def __init__(self, d_model: int):\n        super().__init__()\n"
             "        self.w_q = nn.Linear(d_model, d_model, bias=False)\n        self.w_k = nn.Linear(d_model, d_model, bias=False)\n"
             "        self.w_v = nn.Linear(d_model, d_model, bias=False)\n")
SELF_FORWARD = ("    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:\n"
                "        ### BEGIN SOLUTION\n"
                "        return scaled_dot_product_attention(self.w_q(x), self.w_k(x), self.w_v(x), mask)\n"
                "        ### END SOLUTION")

RENAMED = {"scores": "logits", "weights": "probs", "source": "kv_input", "split": "to_heads", "out": "ctx",
           "b": "batch", "lq": "q_len", "d": "width", "t": "tensor"}
REFORMATTED = [
    (SDPA, "    # the scores, scaled so that the softmax does not saturate\n"
           "    scores = q@k.transpose(-2,\n                          -1)/math.sqrt(q.size( -1 ))\n"
           "    if mask is not None:   # hide the keys a query may not see\n"
           "        scores = scores.masked_fill(\n            ~mask,\n            torch.finfo(scores.dtype).min,\n        )\n"
           "    weights = scores.softmax(dim = -1)\n\n    if mask is not None:\n"
           "        weights = weights.masked_fill(~mask.any(dim=-1,\n                                                keepdim=True),\n"
           "                                      0.0)\n    return weights@v, weights  # both, as asked\n"),
    (MHA, "        source = x if context is None else context  # self- or cross-attention\n"
          "        b,lq,d = x.shape\n        def split(t):\n            \"\"\"(batch, length, d_model) -> (batch, heads, length, d_head)\"\"\"\n"
          "            return t.view(t.size(0), t.size(1),\n                          self.n_heads, self.d_head).transpose(1, 2)\n"
          "        out, weights = scaled_dot_product_attention(\n            split(self.w_q(x)),\n"
          "            split(self.w_k(source)),\n            split(self.w_v(source)),\n            mask,\n        )\n"
          "        # merge the heads back\n        return self.w_o(out.transpose(1, 2).reshape(b, lq, d)), weights\n"),
]
REORDERED = [
    (MASKS, MASKS.split("\n\n\n")[1] + "\n\n\n" + MASKS.split("\n\n\n")[0]),
    (SELF_INIT + "\n" + SELF_FORWARD, SELF_FORWARD + "\n\n" + SELF_INIT),
    (MHA, MHA.split("\n\n")[1] + "\n\n" + MHA.split("\n\n")[0] + "\n\n" + MHA.split("\n\n")[2]),
]
# An honest solution written differently throughout: the einsum style of mistakes.py's STYLES for attention, and
# the other parts in other words.
DIFFERENT = [
    (SDPA, "    scores = torch.einsum(\"...qd,...kd->...qk\", q, k) / q.size(-1) ** 0.5\n    if mask is not None:\n"
           "        scores = scores.masked_fill(mask.logical_not(), float(\"-inf\"))\n"
           "    weights = torch.softmax(scores, dim=-1).nan_to_num(0.0)\n"
           "    return torch.einsum(\"...qk,...kd->...qd\", weights, v), weights\n"),
    (CAUSAL, "    return torch.tril(torch.ones((n, n), dtype=torch.bool))\n"),
    (PADDING, "    keep = tokens.ne(pad_id)\n    return keep.unsqueeze(1).unsqueeze(1)\n"),
    ("        return scaled_dot_product_attention(self.w_q(x), self.w_k(x), self.w_v(x), mask)\n",
     "        q, k, v = (layer(x) for layer in (self.w_q, self.w_k, self.w_v))\n"
     "        return scaled_dot_product_attention(q, k, v, mask=mask)\n"),
    (MHA, "        kv = context if context is not None else x\n        batch, n_q, _ = x.size()\n"
          "        heads = lambda y: y.reshape(y.shape[0], -1, self.n_heads, self.d_head).permute(0, 2, 1, 3)\n"
          "        attended, attn = scaled_dot_product_attention(heads(self.w_q(x)), heads(self.w_k(kv)), heads(self.w_v(kv)), mask)\n"
          "        return self.w_o(attended.permute(0, 2, 1, 3).reshape(batch, n_q, -1)), attn\n"),
]


@pytest.fixture
def course(tmp_path: Path) -> Course:
    return load_course(copy_course(ROOT, tmp_path))


def edited(edits: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """The source notebook with each (old, new) edit made in the one cell holding old."""
    nb = read_notebook(SOURCE)
    for old, new in edits:
        hits = [c for c in nb.cells if old in c.source]
        assert len(hits) == 1, f"edit target not found exactly once: {old[:60]!r}"
        hits[0].source = hits[0].source.replace(old, new)
    return nb


def renamed(names: dict[str, str]) -> nbformat.NotebookNode:
    """The source notebook with each name the student chose renamed, in the solution regions only."""
    nb = read_notebook(SOURCE)
    pattern = re.compile(r"\b(" + "|".join(names) + r")\b")
    for cell in nb.cells:
        cell.source = REGION.sub(lambda m: pattern.sub(lambda n: names[n.group()], m.group()), cell.source)
    return nb


def released() -> nbformat.NotebookNode:
    """The source as students get it: every region replaced by nbgrader's stub, answers left as None."""
    nb = read_notebook(SOURCE)
    for cell in nb.cells:
        name = answer_variable(cell.source)
        cell.source = f'{name} = None  # your answer: one of "a", "b", "c"' if name else released_template(cell.source)
    return nb


def place(course: Course, student: str, nb: nbformat.NotebookNode | bytes) -> Path:
    """autograded/<student>/a2-attention/attention.ipynb, as grading leaves a graded copy."""
    path = course.root / "autograded" / student / AID / SOURCE.name
    path.parent.mkdir(parents=True)
    path.write_bytes(nb if isinstance(nb, bytes) else nbformat.writes(nb).encode())
    return path


def scores(course: Course) -> dict[frozenset[str], float]:
    result = similarity(course, course.assignment(AID), top=100)
    return {frozenset((p.a, p.b)): p.score for p in result.pairs}


@pytest.mark.parametrize("disguise", ["renamed", "reformatted", "reordered"])
def test_a_disguised_copy_scores_near_the_original_and_above_an_honest_different_solution(course: Course, disguise: str) -> None:
    copy = {"renamed": lambda: renamed(RENAMED), "reformatted": lambda: edited(REFORMATTED),
            "reordered": lambda: edited(REORDERED)}[disguise]()
    place(course, "ada", edited([]))
    place(course, "bob", copy)
    place(course, "cy", edited(DIFFERENT))
    place(course, "dee", edited(DIFFERENT[:1]))  # only attention in the einsum style: the rest is the original's
    found = scores(course)
    copied = found[frozenset(("ada", "bob"))]
    assert copied >= 0.8, found
    assert copied > max(s for pair, s in found.items() if pair != {"ada", "bob"}), found


def test_the_released_template_and_the_given_cells_count_for_nothing(course: Course) -> None:
    # two students who left every solution cell as released and every given cell as it was; a third who put code
    # of their own into a given cell and into a cell they added: that code is theirs, wherever it is
    extra = "\n\ndef leaked(x):\n    return torch.einsum('ij,jk->ik', x, x.transpose(0, 1)).relu().sum(dim=-1)\n"
    for student in ("eve", "fay"):
        place(course, student, released())
    nb = released()
    setup = next(c for c in nb.cells if nbgrader_meta(c).get("grade_id") == "setup")
    setup.source += extra
    nb.cells.append(nbformat.v4.new_code_cell("def also_mine(q):\n    return q.flip(0).cumsum(dim=1)"))
    place(course, "gil", nb)
    place(course, "ada", edited([]))
    place(course, "cy", edited(DIFFERENT))
    code, notes = read_class(course, course.assignment(AID), read_sources(course, course.assignment(AID)))
    assert code["eve"] == code["fay"] == [] and notes == []
    assert {l.cell for l in code["ada"]} == {"sdpa-solution", "masks-solution", "self-attention-solution",
                                             "mha-solution", "why-scale-answer", "weights-of-input-2-answer"}
    assert not any("leaked" in l.text for l in code["ada"] + code["cy"])
    gil = [l.text.strip() for l in code["gil"]]
    assert gil == [line.strip() for line in extra.strip().splitlines()] + ["def also_mine(q):", "return q.flip(0).cumsum(dim=1)"]
    assert all(l.cell.startswith("cell ") for l in code["gil"]), "named by their place, as they have no grade_id"
    result = similarity(course, course.assignment(AID))
    assert sorted(result.students) == ["ada", "cy", "eve", "fay", "gil"]
    assert not any({"eve", "fay"} & {p.a, p.b} for p in result.pairs), result.pairs


def test_only_the_lines_the_student_wrote_are_kept_with_their_cell_and_line(course: Course) -> None:
    nb = edited(REORDERED[1:2])  # forward moved above __init__: the template's lines moved, not written
    place(course, "ada", nb)
    code, _ = read_class(course, course.assignment(AID), read_sources(course, course.assignment(AID)))
    own = [l for l in code["ada"] if l.cell == "self-attention-solution"]
    cell = next(c for c in nb.cells if nbgrader_meta(c).get("grade_id") == "self-attention-solution")
    assert [(l.number, l.text) for l in own] == [
        (n, line) for n, line in enumerate(cell.source.split("\n"), 1) if "return scaled_dot_product_attention" in line]


def test_bad_files_are_skipped_with_a_note_naming_them(course: Course) -> None:
    place(course, "ada", edited([]))
    place(course, "bob", renamed(RENAMED))
    place(course, "broken", b'{"cells": [')
    place(course, "huge", b" " * (MAX_BYTES + 1))
    place(course, "cells", json.dumps({"cells": [{"metadata": {"nbgrader": {"grade_id": "sdpa-solution"}},
                                                  "cell_type": "code", "source": 7}, "text", None]}).encode())
    place(course, "padded", edited([(SDPA, SDPA + "    unused = 1\n" * 30000)]))
    linked = course.root / "autograded" / "linked" / AID
    linked.mkdir(parents=True)
    (linked / SOURCE.name).symlink_to(SOURCE)
    result = similarity(course, course.assignment(AID))
    notes = "\n".join(result.notes)
    assert sorted(result.students) == ["ada", "bob", "cells", "padded"], notes  # a cell of the wrong shape is passed over
    for student, words in [("broken", "not a JSON notebook.*; skipped"), ("huge", "over the.*; skipped"),
                           ("linked", "symbolic link.*; skipped"), ("padded", "holds over 256 KB of code .*only the first 256 KB")]:
        assert re.search(rf"^{student}/attention\.ipynb: .*{words}", notes, re.M), notes
    assert [(p.a, p.b) for p in result.pairs] == [("ada", "bob")]


def test_names_and_code_are_escaped_in_the_page(course: Course) -> None:
    name = "<img src=x onerror=alert(1)>"
    place(course, "ada", edited([]))
    place(course, name, edited([(SDPA, SDPA.replace("    return", "    note = '</pre><script>alert(2)</script>'\n    return"))]))
    place(course, "cy", edited(DIFFERENT))
    result = similarity(course, course.assignment(AID))
    assert {result.pairs[0].a, result.pairs[0].b} == {name, "ada"}
    html, table, data = write_similarity(course, result)
    page = html.read_text()
    assert "<script>" not in page and "<img" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "&lt;/pre&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert "<mark>" in page  # the shared lines are marked
    assert table.read_text().splitlines()[1].startswith("1,")
    assert json.loads(data.read_text())["pairs"][0]["score"] == round(result.pairs[0].score, 4)


def test_a_name_a_spreadsheet_would_run_as_a_formula_is_written_as_text(course: Course) -> None:
    name = "=HYPERLINK(1)"
    place(course, "ada", edited([]))
    place(course, name, edited([]))
    result = similarity(course, course.assignment(AID))
    _, table, _ = write_similarity(course, result)
    row = table.read_text().splitlines()[1].split(",")
    assert "'" + name in row and name not in row


def test_the_command_prints_the_pairs_and_refuses_what_it_cannot_compare(course: Course, capsys: pytest.CaptureFixture) -> None:
    yml = str(course.root / "course.yml")
    assert main(["--course", yml, "similarity", AID]) == 2
    assert f"no graded submissions of {AID}" in capsys.readouterr().err
    assert main(["--course", yml, "similarity", "a0-nothing"]) == 2
    assert "no assignment 'a0-nothing'" in capsys.readouterr().err
    place(course, "ada", edited([]))
    place(course, "bob", renamed(RENAMED))
    place(course, "cy", edited(DIFFERENT))
    assert main(["--course", yml, "similarity", AID, "--top", "1"]) == 0
    out = capsys.readouterr().out
    # every line but the answers and the call to attention, which cy wrote alike: 16 of each one's 19 lines
    assert re.search(r"^ *1\.00 +ada +bob +16 and 16 in sdpa-solution, masks-solution, self-attention-solution, "
                     r"mha-solution$", out, re.M), out
    for ext in ("html", "csv", "json"):
        path = course.root / "reports" / AID / f"similarity.{ext}"
        assert f"wrote {path}" in out and path.stat().st_size > 0


@pytest.mark.parametrize("seed", [0, 1])
def test_the_planted_copies_of_a_generated_class_rank_above_every_honest_pair(course: Course, seed: int) -> None:
    assignment = course.assignment(AID)
    mistakes = load_module(course.root / "assignments" / AID, "mistakes").MISTAKES
    made = generate_class(course.root / "autograded", assignment, 8, {name: 1 for name, *_ in mistakes}, seed=seed)
    result = similarity(course, assignment, top=len(made.students) ** 2)
    assert sorted(result.students) == made.students and result.notes == []
    planted = {frozenset((original, copy)) for original, copy, _ in made.copies}
    found = {frozenset((p.a, p.b)): p.score for p in result.pairs}
    assert planted <= found.keys(), made.copies
    others = [s for pair, s in found.items() if pair not in planted]
    assert min(found[p] for p in planted) > max(others), (made.copies, result.pairs[:5])


PIECES = list("ab_1 \t\\'\"#()[]{}.,:=@") + ["def ", "class ", "return", "'''", '"""', "\n"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from(PIECES), max_size=40).map("".join), max_size=12))
def test_fragments_give_fingerprints_never_an_exception(texts: list[str]) -> None:
    lines = [Line("cell", n, text.replace("\n", " "), n % 3) for n, text in enumerate(texts, 1)]
    for f in fingerprints(lines, frozenset({"torch"}), k=3, window=2):
        assert 1 <= f.first <= f.last <= len(lines) and f.cell == "cell"

"""Assignment 5 grades gpt_parameter_count on configurations as large as GPT-2's, whose expected counts come from a
closed form in its checks.py (building such models in every grading would take seconds and gigabytes). Here that
closed form is checked against real models of several small sizes: Hugging Face's GPT2LMHeadModel built from a
GPT2Config (no download), reference_impl's GPT, and the GPT of the assignment's own source notebook."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autograder.content import folder_of, load_module
from autograder.course import load_course
from autograder.notebook import read_notebook
from reference_impl.gpt import GPT, GPTConfig
from reference_impl.parameters import count_parameters

ROOT = Path(__file__).resolve().parents[1]
COURSE = load_course(ROOT / "course.yml")
ASSIGNMENT = COURSE.assignment("a5-gpt")
CHECKS = load_module(folder_of(COURSE, ASSIGNMENT), "checks")

# (vocab_size, block_size, d_model, n_layers, n_heads)
SIZES = [(11, 8, 4, 1, 1), (65, 32, 16, 2, 2), (257, 64, 48, 3, 4), (1000, 128, 64, 4, 8), (50257, 16, 32, 2, 4)]


@pytest.mark.parametrize("size", SIZES, ids=[str(s) for s in SIZES])
def test_closed_form_counts_hugging_face_gpt2(size: tuple[int, int, int, int, int]) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    vocab, context, d, layers, heads = size
    model = GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_positions=context, n_embd=d, n_layer=layers, n_head=heads))
    assert model.lm_head.weight is model.transformer.wte.weight  # tied: counted once below
    assert CHECKS.parameter_count(vocab, context, d, layers) == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("size", SIZES, ids=[str(s) for s in SIZES])
def test_closed_form_counts_the_reference_gpt(size: tuple[int, int, int, int, int]) -> None:
    vocab, context, d, layers, heads = size
    model = GPT(GPTConfig(vocab_size=vocab, d_model=d, n_heads=heads, n_layers=layers, max_len=context))
    assert CHECKS.parameter_count(vocab, context, d, layers) == count_parameters(model)


def test_closed_form_counts_the_notebook_s_gpt() -> None:
    """The model the students build (its classes taken from the source notebook's cells) has that many parameters."""
    wanted = ("attention-solution", "block-solution", "model-solution")
    cells = [c.source for c in read_notebook(ROOT / ASSIGNMENT.notebooks[0]).cells
             if c.metadata.get("nbgrader", {}).get("grade_id") in wanted]
    assert len(cells) == len(wanted)
    space = {"math": math, "torch": torch, "nn": nn, "F": F}
    exec("\n\n".join(cells), space)
    for vocab, context, d, layers, heads in SIZES[:4]:
        model = space["GPT"](vocab, context, d, layers, heads)
        assert CHECKS.parameter_count(vocab, context, d, layers) == sum(p.numel() for p in model.parameters())


def test_the_original_gpt_had_about_117_million_parameters() -> None:
    """The poll's key: 40,478 tokens, 512 positions, 12 blocks of 768 (GPT-1 had no final LayerNorm: 1,536 fewer)."""
    assert round(CHECKS.parameter_count(40478, 512, 768, 12) / 1e6) == 117

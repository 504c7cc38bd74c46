"""LoRA against Hugging Face peft on the same base model; BitFit and parameter counting."""
from __future__ import annotations

import copy

import peft
import pytest
import torch
from torch import nn

from conftest import SEEDS, TOL
from reference_impl.bitfit import apply_bitfit
from reference_impl.gpt import GPT, GPTConfig
from reference_impl.lora import LoRALinear, apply_lora, merge_lora, unmerge_lora
from reference_impl.parameters import count_parameters, trainable_fraction

TARGETS = ["w_q", "w_v"]


def small_gpt(seed: int) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=40, d_model=32, n_heads=4, n_layers=2, max_len=16)).eval()


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("r,alpha", [(1, 1.0), (4, 8.0), (8, 32.0)])
def test_lora_matches_peft(seed: int, r: int, alpha: float) -> None:
    base = small_gpt(seed)
    theirs = peft.get_peft_model(copy.deepcopy(base), peft.LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0,
                                                                       target_modules=TARGETS))
    mine = apply_lora(copy.deepcopy(base), TARGETS, r=r, alpha=alpha)
    # give B non-zero values (both start at zero) and copy peft's A and B into ours
    with torch.no_grad():
        for name, module in theirs.named_modules():
            if isinstance(module, peft.tuners.lora.Linear):
                module.lora_B["default"].weight.normal_(0, 0.5)
                ours = mine.get_submodule(name.removeprefix("base_model.model."))
                ours.lora_A.copy_(module.lora_A["default"].weight)
                ours.lora_B.copy_(module.lora_B["default"].weight)
    idx = torch.randint(0, 40, (2, 12))
    expected = theirs(idx)
    torch.testing.assert_close(mine(idx), expected, **TOL[torch.float32])
    assert not torch.allclose(base(idx), expected, atol=1e-3), "the LoRA update should change the output"
    # the same parameters are trainable in both
    assert count_parameters(mine, trainable_only=True) == sum(p.numel() for p in theirs.parameters() if p.requires_grad)


def test_lora_at_init_equals_base_and_merge_round_trips() -> None:
    base = small_gpt(0)
    model = apply_lora(copy.deepcopy(base), TARGETS, r=4, alpha=8)
    idx = torch.randint(0, 40, (3, 10))
    torch.testing.assert_close(model(idx), base(idx), atol=0, rtol=0)  # B = 0 at init
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, LoRALinear):
                m.lora_B.normal_()
    adapted = model(idx)
    merge_lora(model)
    torch.testing.assert_close(model(idx), adapted, **TOL[torch.float32])
    unmerge_lora(model)
    torch.testing.assert_close(model(idx), adapted, **TOL[torch.float32])
    merged_weight = model.blocks[0].attn.w_q.base.weight.clone()
    torch.testing.assert_close(merged_weight, base.blocks[0].attn.w_q.weight, **TOL[torch.float32])


def test_lora_trains_only_adapters() -> None:
    model = apply_lora(small_gpt(1), TARGETS, r=2, alpha=4)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.endswith(("lora_A", "lora_B")) for n in trainable)
    assert len(trainable) == 2 * 2 * len(TARGETS)  # 2 layers x 2 targets x (A, B)
    with pytest.raises(ValueError, match="no nn.Linear"):
        apply_lora(small_gpt(1), ["does_not_exist"])


def test_bitfit_trains_only_biases_and_named_head() -> None:
    model = apply_bitfit(small_gpt(2), also_train=["lm_head"])
    for name, p in model.named_parameters():
        assert p.requires_grad == (name.endswith(".bias") or name.startswith("lm_head.")), name
    assert 0 < trainable_fraction(apply_bitfit(small_gpt(2))) < 0.05


def test_count_parameters_counts_tied_weights_once() -> None:
    model = small_gpt(0)
    by_hand = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    assert count_parameters(model) == by_hand
    assert model.lm_head.weight is model.tokens.weight
    lin = nn.Linear(10, 5)
    assert count_parameters(lin) == 55

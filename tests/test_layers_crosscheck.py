"""LayerNorm, encoder and decoder layers against torch.nn, in both norm orders, with copied weights."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from conftest import SEEDS, TOL
from reference_impl.decoder import DecoderLayer
from reference_impl.encoder import EncoderLayer
from reference_impl.masks import causal_mask
from reference_impl.norm import LayerNorm
from weight_copy import copy_norm, copy_torch_decoder_layer, copy_torch_encoder_layer, redraw


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", [(1, 1, 4), (2, 5, 16), (3, 7, 64)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_layernorm_matches_torch(seed: int, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> None:
    torch.manual_seed(seed)
    theirs = nn.LayerNorm(shape[-1]).to(device)
    with torch.no_grad():
        theirs.weight.normal_(), theirs.bias.normal_()
    mine = LayerNorm(shape[-1]).to(device)
    copy_norm(mine, theirs)
    x = (torch.randn(shape, device=device) * 3 + 1).requires_grad_()
    torch.testing.assert_close(mine.to(dtype)(x.to(dtype)).float(), theirs(x), **TOL[dtype])
    if dtype == torch.float32:
        g1 = torch.autograd.grad(mine(x).sin().sum(), x)[0]
        g2 = torch.autograd.grad(theirs(x).sin().sum(), x)[0]
        torch.testing.assert_close(g1, g2, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("length", [1, 6])
def test_encoder_layer_matches_torch(seed: int, norm_first: bool, length: int, device: torch.device) -> None:
    torch.manual_seed(seed)
    d, h, ff = 32, 4, 64
    theirs = redraw(nn.TransformerEncoderLayer(d, h, ff, dropout=0.0, batch_first=True, norm_first=norm_first)).to(device)
    mine = EncoderLayer(d, h, ff, norm_first=norm_first).to(device)
    copy_torch_encoder_layer(mine, theirs)
    x = torch.randn(3, length, d, device=device)
    pad = torch.zeros(3, length, dtype=torch.bool, device=device)
    pad[1, length // 2 + 1:] = True
    theirs.train()  # the same maths without the inference fast path, which zeroes padded positions
    expected = theirs(x, src_key_padding_mask=pad)
    torch.testing.assert_close(mine(x, ~pad[:, None, None, :]), expected, **TOL[torch.float32])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_matches_torch(seed: int, norm_first: bool, device: torch.device) -> None:
    torch.manual_seed(seed)
    d, h, ff, t, s = 32, 4, 64, 5, 7
    theirs = redraw(nn.TransformerDecoderLayer(d, h, ff, dropout=0.0, batch_first=True, norm_first=norm_first)).to(device)
    mine = DecoderLayer(d, h, ff, norm_first=norm_first).to(device)
    copy_torch_decoder_layer(mine, theirs)
    x, memory = torch.randn(2, t, d, device=device), torch.randn(2, s, d, device=device)
    mem_pad = torch.zeros(2, s, dtype=torch.bool, device=device)
    mem_pad[0, 4:] = True
    causal = causal_mask(t, device=device)
    expected = theirs(x, memory, tgt_mask=~causal, memory_key_padding_mask=mem_pad)
    out, weights = mine(x, memory, causal, ~mem_pad[:, None, None, :], need_weights=True)
    torch.testing.assert_close(out, expected, **TOL[torch.float32])
    assert weights.shape == (2, h, t, s)
    assert (weights[0, :, :, 4:] == 0).all(), "cross-attention must ignore padded encoder positions"

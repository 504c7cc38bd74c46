"""Attention against PyTorch's own implementations, with copied weights, over seeds and shapes."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import SEEDS, TOL
from reference_impl.attention import KVCache, MultiHeadAttention, scaled_dot_product_attention
from reference_impl.masks import causal_mask, padding_mask
from weight_copy import copy_torch_mha, redraw

SHAPES = [(1, 1, 1, 8), (2, 3, 5, 16), (4, 2, 17, 32)]  # (batch, heads, length, d_k)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("masking", ["none", "causal", "random"])
def test_sdpa_matches_torch(seed: int, shape: tuple[int, ...], masking: str, device: torch.device) -> None:
    g = torch.Generator().manual_seed(seed)
    b, h, l, d = shape
    q, k, v = (torch.randn(b, h, l, d, generator=g).to(device).requires_grad_() for _ in range(3))
    mask = {"none": None, "causal": causal_mask(l, device=device),
            "random": (torch.rand(b, 1, l, l, generator=g) > 0.3).to(device)}[masking]
    if mask is not None:
        mask = mask | torch.eye(l, dtype=torch.bool, device=device)  # every row sees something: torch gives NaN otherwise
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(out, expected, **TOL[torch.float32])
    torch.testing.assert_close(weights.sum(-1), torch.ones(b, h, l, device=device), **TOL[torch.float32])
    grads = torch.autograd.grad(out.square().sum(), (q, k, v))
    expected_grads = torch.autograd.grad(expected.square().sum(), (q, k, v))
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_sdpa_non_contiguous_and_cross_lengths(device: torch.device) -> None:
    g = torch.Generator().manual_seed(3)
    q = torch.randn(2, 7, 4, 16, generator=g).to(device).transpose(1, 2)  # (2, 4, 7, 16), not contiguous
    k = torch.randn(2, 4, 16, 11, generator=g).to(device).transpose(-1, -2)  # Lk = 11 != Lq
    v = torch.randn(2, 4, 11, 8, generator=g).to(device)
    out, weights = scaled_dot_product_attention(q, k, v)
    assert out.shape == (2, 4, 7, 8) and weights.shape == (2, 4, 7, 11)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v), **TOL[torch.float32])


def test_fully_masked_rows_give_zeros_not_nan(device: torch.device) -> None:
    q = k = v = torch.randn(1, 2, 4, 8, device=device)
    mask = torch.ones(1, 1, 4, 4, dtype=torch.bool, device=device)
    mask[..., 2, :] = False  # query 2 may attend to nothing
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    assert torch.isfinite(out).all() and torch.isfinite(weights).all()
    assert (out[..., 2, :] == 0).all() and (weights[..., 2, :] == 0).all()
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    rows = [0, 1, 3]
    torch.testing.assert_close(out[..., rows, :], expected[..., rows, :], **TOL[torch.float32])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_sdpa_dtypes(dtype: torch.dtype, device: torch.device) -> None:
    q, k, v = (torch.randn(2, 2, 6, 16, device=device) for _ in range(3))
    mask = causal_mask(6, device=device)
    out, _ = scaled_dot_product_attention(q.to(dtype), k.to(dtype), v.to(dtype), mask)
    assert out.dtype == dtype
    torch.testing.assert_close(out.float(), F.scaled_dot_product_attention(q, k, v, attn_mask=mask), **TOL[dtype])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("d_model,n_heads,lq,lk", [(8, 1, 1, 1), (16, 4, 5, 5), (32, 8, 6, 9)])
def test_mha_matches_torch_multihead_attention(seed: int, d_model: int, n_heads: int, lq: int, lk: int,
                                               device: torch.device) -> None:
    torch.manual_seed(seed)
    theirs = redraw(nn.MultiheadAttention(d_model, n_heads, batch_first=True)).to(device)
    mine = MultiHeadAttention(d_model, n_heads).to(device)
    copy_torch_mha(mine, theirs)
    x, ctx = torch.randn(3, lq, d_model, device=device), torch.randn(3, lk, d_model, device=device)
    pad = torch.zeros(3, lk, dtype=torch.bool, device=device)
    pad[0, lk // 2 + 1:] = True  # nn.MultiheadAttention: True = ignore this key
    # cross-attention with padding: queries from x, keys and values from ctx
    out, w = mine(x, ctx, mask=~pad[:, None, None, :])
    exp, exp_w = theirs(x, ctx, ctx, key_padding_mask=pad, average_attn_weights=False)
    torch.testing.assert_close(out, exp, **TOL[torch.float32])
    torch.testing.assert_close(w, exp_w, **TOL[torch.float32])
    # causal self-attention, fused path (no weights) included
    causal = causal_mask(lq, device=device)
    exp, _ = theirs(x, x, x, attn_mask=~causal)
    torch.testing.assert_close(mine(x, mask=causal)[0], exp, **TOL[torch.float32])
    torch.testing.assert_close(mine(x, mask=causal, need_weights=False)[0], exp, **TOL[torch.float32])


def test_kv_cache_matches_full_causal_pass(device: torch.device) -> None:
    torch.manual_seed(0)
    mha = MultiHeadAttention(32, 4).to(device)
    x = torch.randn(2, 9, 32, device=device)
    full, _ = mha(x, mask=causal_mask(9, device=device))
    cache = KVCache()
    prefix, _ = mha(x[:, :5], mask=causal_mask(5, device=device), cache=cache)  # prefill 5 tokens
    steps = [mha(x[:, t : t + 1], cache=cache)[0] for t in range(5, 9)]  # then one at a time
    torch.testing.assert_close(torch.cat([prefix] + steps, dim=1), full, **TOL[torch.float32])
    assert cache.length == 9


def test_padding_mask_hides_pad_keys() -> None:
    tokens = torch.tensor([[5, 6, 0, 0], [7, 0, 0, 0]])
    m = padding_mask(tokens, pad_id=0)
    assert m.shape == (2, 1, 1, 4)
    assert m[0, 0, 0].tolist() == [True, True, False, False]


def test_causal_attention_ignores_the_future(device: torch.device) -> None:
    torch.manual_seed(1)
    mha = MultiHeadAttention(16, 2).to(device)
    x = torch.randn(1, 8, 16, device=device)
    changed = x.clone()
    changed[:, 5:] = torch.randn(1, 3, 16, device=device)  # rewrite the future of position 4
    mask = causal_mask(8, device=device)
    a, _ = mha(x, mask=mask)
    b, _ = mha(changed, mask=mask)
    torch.testing.assert_close(a[:, :5], b[:, :5], atol=0, rtol=0)
    assert not torch.allclose(a[:, 5:], b[:, 5:])

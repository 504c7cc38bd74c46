"""Copying weights from PyTorch's and Hugging Face's modules into the reference ones, for cross-checks."""
from __future__ import annotations

import torch
from torch import nn

from reference_impl.attention import MultiHeadAttention
from reference_impl.norm import LayerNorm


@torch.no_grad()
def redraw(module: nn.Module, std: float = 0.5) -> nn.Module:
    """Replace every parameter with N(0, std^2) draws: the libraries' small default inits keep activations
    near zero, where bugs such as the wrong GELU variant or a missing scale hide inside the tolerance."""
    for p in module.parameters():
        p.normal_(0.0, std)
    return module


@torch.no_grad()
def copy_linear(dst: nn.Linear, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
    dst.weight.copy_(weight)
    if bias is not None:
        dst.bias.copy_(bias)


@torch.no_grad()
def copy_norm(dst: LayerNorm, src: nn.Module) -> None:
    dst.weight.copy_(src.weight)
    dst.bias.copy_(src.bias)


@torch.no_grad()
def copy_torch_mha(dst: MultiHeadAttention, src: nn.MultiheadAttention) -> None:
    """nn.MultiheadAttention packs W_Q, W_K, W_V into one (3d, d) in_proj_weight."""
    wq, wk, wv = src.in_proj_weight.chunk(3)
    bq, bk, bv = src.in_proj_bias.chunk(3)
    copy_linear(dst.w_q, wq, bq)
    copy_linear(dst.w_k, wk, bk)
    copy_linear(dst.w_v, wv, bv)
    copy_linear(dst.w_o, src.out_proj.weight, src.out_proj.bias)


def copy_torch_encoder_layer(dst, src: nn.TransformerEncoderLayer) -> None:
    copy_torch_mha(dst.self_attn, src.self_attn)
    copy_linear(dst.ff.linear1, src.linear1.weight, src.linear1.bias)
    copy_linear(dst.ff.linear2, src.linear2.weight, src.linear2.bias)
    copy_norm(dst.attn_block.norm, src.norm1)
    copy_norm(dst.ff_block.norm, src.norm2)


def copy_torch_decoder_layer(dst, src: nn.TransformerDecoderLayer) -> None:
    copy_torch_mha(dst.self_attn, src.self_attn)
    copy_torch_mha(dst.cross_attn, src.multihead_attn)
    copy_linear(dst.ff.linear1, src.linear1.weight, src.linear1.bias)
    copy_linear(dst.ff.linear2, src.linear2.weight, src.linear2.bias)
    copy_norm(dst.self_block.norm, src.norm1)
    copy_norm(dst.cross_block.norm, src.norm2)
    copy_norm(dst.ff_block.norm, src.norm3)


@torch.no_grad()
def copy_hf_bert(dst, src) -> None:
    """Hugging Face BertModel -> reference_impl.bert.Bert."""
    e = src.embeddings
    dst.embeddings.tokens.weight.copy_(e.word_embeddings.weight)
    dst.embeddings.positions.weight.copy_(e.position_embeddings.weight)
    dst.embeddings.segments.weight.copy_(e.token_type_embeddings.weight)
    copy_norm(dst.embeddings.norm, e.LayerNorm)
    for mine, theirs in zip(dst.encoder.layers, src.encoder.layer):
        a = theirs.attention
        copy_linear(mine.self_attn.w_q, a.self.query.weight, a.self.query.bias)
        copy_linear(mine.self_attn.w_k, a.self.key.weight, a.self.key.bias)
        copy_linear(mine.self_attn.w_v, a.self.value.weight, a.self.value.bias)
        copy_linear(mine.self_attn.w_o, a.output.dense.weight, a.output.dense.bias)
        copy_norm(mine.attn_block.norm, a.output.LayerNorm)
        copy_linear(mine.ff.linear1, theirs.intermediate.dense.weight, theirs.intermediate.dense.bias)
        copy_linear(mine.ff.linear2, theirs.output.dense.weight, theirs.output.dense.bias)
        copy_norm(mine.ff_block.norm, theirs.output.LayerNorm)
    copy_linear(dst.pooler, src.pooler.dense.weight, src.pooler.dense.bias)


@torch.no_grad()
def copy_hf_gpt2(dst, src) -> None:
    """Hugging Face GPT2LMHeadModel -> reference_impl.gpt.GPT. GPT-2's Conv1D stores W transposed."""
    t = src.transformer
    dst.tokens.weight.copy_(t.wte.weight)
    dst.positions.table.weight.copy_(t.wpe.weight)
    for mine, theirs in zip(dst.blocks, t.h):
        copy_norm(mine.ln1, theirs.ln_1)
        wq, wk, wv = theirs.attn.c_attn.weight.T.chunk(3)
        bq, bk, bv = theirs.attn.c_attn.bias.chunk(3)
        copy_linear(mine.attn.w_q, wq, bq)
        copy_linear(mine.attn.w_k, wk, bk)
        copy_linear(mine.attn.w_v, wv, bv)
        copy_linear(mine.attn.w_o, theirs.attn.c_proj.weight.T, theirs.attn.c_proj.bias)
        copy_norm(mine.ln2, theirs.ln_2)
        copy_linear(mine.mlp.linear1, theirs.mlp.c_fc.weight.T, theirs.mlp.c_fc.bias)
        copy_linear(mine.mlp.linear2, theirs.mlp.c_proj.weight.T, theirs.mlp.c_proj.bias)
    copy_norm(dst.ln_f, t.ln_f)


@torch.no_grad()
def copy_hf_vit(dst, src) -> None:
    """Hugging Face ViTModel (no pooler) -> reference_impl.vit.ViTEncoder. The patch Conv2d becomes a Linear
    over patches flattened as (C, p, p), which is exactly a conv with stride = kernel = p."""
    e = src.embeddings
    conv = e.patch_embeddings.projection
    copy_linear(dst.patch_embed, conv.weight.flatten(1), conv.bias)
    dst.cls.copy_(e.cls_token)
    dst.pos.copy_(e.position_embeddings)
    layers = src.layers if hasattr(src, "layers") else src.encoder.layer
    for mine, theirs in zip(dst.encoder.layers, layers):
        a = theirs.attention
        copy_linear(mine.self_attn.w_q, a.q_proj.weight, a.q_proj.bias)
        copy_linear(mine.self_attn.w_k, a.k_proj.weight, a.k_proj.bias)
        copy_linear(mine.self_attn.w_v, a.v_proj.weight, a.v_proj.bias)
        copy_linear(mine.self_attn.w_o, a.o_proj.weight, a.o_proj.bias)
        copy_norm(mine.attn_block.norm, theirs.layernorm_before)
        copy_norm(mine.ff_block.norm, theirs.layernorm_after)
        copy_linear(mine.ff.linear1, theirs.mlp.fc1.weight, theirs.mlp.fc1.bias)
        copy_linear(mine.ff.linear2, theirs.mlp.fc2.weight, theirs.mlp.fc2.bias)
    copy_norm(dst.encoder.final_norm, src.layernorm)

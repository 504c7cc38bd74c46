"""BERT, GPT and ViT against Hugging Face models built from small configs (no download), weights copied."""
from __future__ import annotations

import pytest
import torch
import transformers

from conftest import MODEL_TOL, SEEDS
from reference_impl.bert import Bert, BertConfig
from reference_impl.gpt import GPT, GPTConfig
from reference_impl.vit import ViTConfig, ViTEncoder
from weight_copy import copy_hf_bert, copy_hf_gpt2, copy_hf_vit, redraw

transformers.logging.set_verbosity_error()


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("batch,length", [(1, 1), (2, 9), (3, 16)])
def test_bert_matches_hf(seed: int, batch: int, length: int) -> None:
    torch.manual_seed(seed)
    hf_cfg = transformers.BertConfig(vocab_size=60, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=64, max_position_embeddings=32, type_vocab_size=2,
                                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, pad_token_id=0)
    theirs = redraw(transformers.BertModel(hf_cfg)).eval()
    mine = Bert(BertConfig(vocab_size=60, d_model=32, n_heads=4, d_ff=64, n_layers=2, max_len=32)).eval()
    copy_hf_bert(mine, theirs)
    tokens = torch.randint(1, 60, (batch, length))
    tokens[0, length // 2 + 1:] = 0  # padding in the first sequence
    segments = (torch.arange(length) >= length // 2).long().expand(batch, -1)
    out = theirs(input_ids=tokens, token_type_ids=segments, attention_mask=(tokens != 0).long())
    seq, pooled = mine(tokens, segments)
    torch.testing.assert_close(seq, out.last_hidden_state, **MODEL_TOL)
    torch.testing.assert_close(pooled, out.pooler_output, **MODEL_TOL)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("batch,length", [(1, 1), (2, 10), (3, 24)])
def test_gpt_matches_hf_gpt2(seed: int, batch: int, length: int) -> None:
    torch.manual_seed(seed)
    hf_cfg = transformers.GPT2Config(vocab_size=70, n_positions=32, n_embd=48, n_layer=2, n_head=4, resid_pdrop=0.0,
                                     embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0)
    theirs = redraw(transformers.GPT2LMHeadModel(hf_cfg)).eval()
    mine = GPT(GPTConfig(vocab_size=70, d_model=48, n_heads=4, n_layers=2, max_len=32)).eval()
    copy_hf_gpt2(mine, theirs)
    idx = torch.randint(0, 70, (batch, length))
    torch.testing.assert_close(mine(idx), theirs(idx).logits, **MODEL_TOL)


def test_gpt_greedy_generation_matches_hf_token_for_token() -> None:
    torch.manual_seed(5)
    hf_cfg = transformers.GPT2Config(vocab_size=50, n_positions=40, n_embd=32, n_layer=2, n_head=4, resid_pdrop=0.0,
                                     embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0)
    theirs = transformers.GPT2LMHeadModel(hf_cfg).eval()
    mine = GPT(GPTConfig(vocab_size=50, d_model=32, n_heads=4, n_layers=2, max_len=40)).eval()
    copy_hf_gpt2(mine, theirs)
    prompt = torch.randint(0, 50, (2, 6))
    ours = mine.generate(prompt, 20, temperature=0)
    # Hugging Face's own greedy loop, written out so that no generation-config defaults interfere
    idx = prompt
    with torch.no_grad():
        for _ in range(20):
            idx = torch.cat([idx, theirs(idx).logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(ours, idx)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("image_size,patch,channels,batch", [(8, 2, 1, 1), (8, 4, 1, 3), (12, 4, 3, 2)])
def test_vit_matches_hf(seed: int, image_size: int, patch: int, channels: int, batch: int) -> None:
    torch.manual_seed(seed)
    hf_cfg = transformers.ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                                    image_size=image_size, patch_size=patch, num_channels=channels,
                                    hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, layer_norm_eps=1e-6)
    theirs = redraw(transformers.ViTModel(hf_cfg, add_pooling_layer=False)).eval()
    mine = ViTEncoder(ViTConfig(image_size=image_size, patch_size=patch, channels=channels, d_model=32, n_heads=4,
                                d_ff=64, n_layers=2, eps=1e-6)).eval()
    copy_hf_vit(mine, theirs)
    images = torch.randn(batch, channels, image_size, image_size)
    torch.testing.assert_close(mine(images), theirs(pixel_values=images).last_hidden_state, **MODEL_TOL)

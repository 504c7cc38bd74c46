"""Pre-training paid off: each committed checkpoint beats a random initialisation of the same model on held-out
text it never saw. And the checkpoints are the ones `python -m pretraining.pretrain` makes: those two runs of
800 steps each take minutes, so they are marked `reproduce`, left out of `make test` and run by .ci/run."""
from __future__ import annotations

import pytest
import torch

from pretraining import pretrain
from pretraining.models import TinyBert, TinyGPT, init_weights

# Float16 storage rounds each weight to 11 significant bits (relative error <= 2^-11, about 5e-4); another
# CPU may sum in another order, and 800 steps of AdamW carry such differences forward a little.
WEIGHT_TOL = dict(atol=2e-3, rtol=2e-2)
LOSS_TOL = 0.02  # nats


def committed(name: str) -> tuple[dict[str, torch.Tensor], pretrain.Config, list[str]]:
    return pretrain.load(pretrain.CHECKPOINTS / name)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the script runs
    yield
    torch.set_num_threads(threads)


def close_states(made: torch.nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    """Names of the tensors that differ beyond tolerance, after the same float16 rounding."""
    mine = {k: v.detach().half().float() for k, v in made.state_dict().items()}
    assert mine.keys() == state.keys()
    return [k for k in state if not torch.allclose(mine[k], state[k], **WEIGHT_TOL)]


def test_the_bert_checkpoint_beats_random_init_on_held_out_text() -> None:
    state, cfg, vocab = committed(pretrain.BERT_FILE)
    assert vocab == pretrain.bert_vocab(pretrain.corpus()[0]) and cfg.vocab_size == len(vocab)
    loaded = TinyBert(cfg)
    loaded.load_state_dict(state)
    mlm, nsp = pretrain.held_out_bert(loaded.eval())
    torch.manual_seed(0)
    scratch = TinyBert(cfg)
    init_weights(scratch)
    scratch_mlm, scratch_nsp = pretrain.held_out_bert(scratch.eval())
    print(f"\n[checkpoint] BERT held-out masked-LM loss {mlm:.3f} (random init {scratch_mlm:.3f}), "
          f"next-sentence accuracy {nsp:.1%} (random init {scratch_nsp:.1%})")
    assert mlm < scratch_mlm - 1.0
    assert nsp > 0.55  # 512 held-out pairs: chance (50%) reaches 55% with probability about 1%


def test_the_gpt_checkpoint_beats_random_init_on_held_out_text() -> None:
    state, cfg, vocab = committed(pretrain.GPT_FILE)
    assert vocab == pretrain.corpus()[0] and cfg.vocab_size == len(vocab)
    loaded = TinyGPT(cfg)
    loaded.load_state_dict(state)
    loss = pretrain.held_out_gpt(loaded.eval())
    torch.manual_seed(0)
    scratch = TinyGPT(cfg)
    init_weights(scratch)
    scratch_loss = pretrain.held_out_gpt(scratch.eval())
    print(f"\n[checkpoint] GPT held-out loss {loss:.3f} nats per character (random init {scratch_loss:.3f})")
    assert loss < scratch_loss - 1.5


@pytest.mark.reproduce
def test_the_bert_checkpoint_is_the_one_the_script_makes() -> None:
    state, cfg, _ = committed(pretrain.BERT_FILE)
    made = pretrain.pretrain_bert()
    assert close_states(made, state) == []
    loaded = TinyBert(cfg)
    loaded.load_state_dict(state)
    loaded.eval()
    assert abs(pretrain.held_out_bert(loaded)[0] - pretrain.held_out_bert(made)[0]) < LOSS_TOL


@pytest.mark.reproduce
def test_the_gpt_checkpoint_is_the_one_the_script_makes() -> None:
    state, cfg, _ = committed(pretrain.GPT_FILE)
    made = pretrain.pretrain_gpt()
    assert close_states(made, state) == []
    loaded = TinyGPT(cfg)
    loaded.load_state_dict(state)
    assert abs(pretrain.held_out_gpt(loaded.eval()) - pretrain.held_out_gpt(made)) < LOSS_TOL


def test_a_checkpoint_is_small_and_carries_its_config_and_vocabulary() -> None:
    for name in (pretrain.BERT_FILE, pretrain.GPT_FILE):
        path = pretrain.CHECKPOINTS / name
        assert path.stat().st_size < 2_000_000, f"{path} should stay a small file"
        state, cfg, vocab = committed(name)
        assert state and all(v.dtype == torch.float32 for v in state.values())
        assert cfg.vocab_size == len(vocab) == len(set(vocab))

"""Property tests for the parts with no library peer: positions, tokenizers, CTC, masking, sampling."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SEEDS, TOL
from reference_impl.bert import best_span, mask_tokens
from reference_impl.ctc import ctc_greedy_decode, ctc_loss
from reference_impl.data.text import pydoc_text
from reference_impl.embeddings import TokenEmbedding
from reference_impl.gpt import GPT, GPTConfig
from reference_impl.positions import RotaryEmbedding, sinusoidal_encoding
from reference_impl.sampling import top_k_filter, top_p_filter
from reference_impl.spectrogram import log_mel_spectrogram, mel_filterbank
from reference_impl.tokenization import BPETokenizer, CharTokenizer
from reference_impl.vit import patchify


# ---- positions ---------------------------------------------------------------------------------------

def test_sinusoidal_encoding_is_the_formula() -> None:
    pe = sinusoidal_encoding(50, 16)
    for pos in (0, 1, 7, 49):
        for i in range(8):
            angle = pos / 10000 ** (2 * i / 16)
            assert pe[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert pe[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)
    assert pe.abs().max() <= 1.0
    assert len({tuple(row) for row in pe.tolist()}) == 50, "every position gets its own vector"


def test_sinusoidal_offsets_are_linear_maps() -> None:
    """P(t + k) = M_k P(t) with M_k a rotation of each (sin, cos) pair, the same for every t."""
    d, k = 8, 3
    pe = sinusoidal_encoding(40, d)
    m = torch.zeros(d, d)
    for i in range(d // 2):
        w = k / 10000 ** (2 * i / d)
        c, s = math.cos(w), math.sin(w)
        # row vector convention: [sin, cos] @ [[c, -s], [s, c]] = [sin(a + w), cos(a + w)]
        m[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = torch.tensor([[c, -s], [s, c]])
    torch.testing.assert_close(pe[: 40 - k] @ m, pe[k:], atol=1e-5, rtol=0)


@pytest.mark.parametrize("seed", SEEDS)
def test_rope_preserves_norms_and_scores_depend_on_offset_only(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    rope = RotaryEmbedding(16)
    q, k = torch.randn(16, generator=g), torch.randn(16, generator=g)
    rotated = rope(q.expand(20, 16)[None])[0]  # q placed at positions 0..19
    torch.testing.assert_close(rotated.norm(dim=-1), q.norm().expand(20), **TOL[torch.float32])

    def score(m: int, n: int) -> float:
        qm = rope(q[None, None], offset=m)[0, 0]
        kn = rope(k[None, None], offset=n)[0, 0]
        return float(qm @ kn)

    for offset in (0, 2, 7):
        scores = [score(m + offset, m) for m in (0, 5, 13, 40)]
        assert max(scores) - min(scores) < 1e-4, f"scores at offset {offset} vary with absolute position: {scores}"
    assert abs(score(3, 0) - score(0, 3)) > 1e-3 or abs(score(5, 0) - score(0, 0)) > 1e-3


def test_token_embedding_is_scaled_by_sqrt_d_model() -> None:
    emb = TokenEmbedding(10, 64)
    ids = torch.tensor([[1, 2, 3]])
    torch.testing.assert_close(emb(ids), emb.table(ids) * 8.0)


# ---- tokenizers -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bpe() -> BPETokenizer:
    return BPETokenizer.train(pydoc_text()[:100_000], 256 + 200, specials=["<|endoftext|>", "<pad>"])


@settings(max_examples=300, deadline=None)
@given(text=st.text())
def test_bpe_round_trips_any_unicode(bpe: BPETokenizer, text: str) -> None:
    assert bpe.decode(bpe.encode(text)) == text


@settings(max_examples=100, deadline=None)
@given(parts=st.lists(st.text(max_size=20) | st.sampled_from(["<|endoftext|>", "<pad>"]), max_size=6))
def test_bpe_keeps_special_tokens_whole(bpe: BPETokenizer, parts: list[str]) -> None:
    text = "".join(parts)
    ids = bpe.encode(text + "<|endoftext|>")
    assert ids[-1] == bpe.specials["<|endoftext|>"]
    assert ids.count(bpe.specials["<pad>"]) == text.count("<pad>")
    assert bpe.decode(ids) == text + "<|endoftext|>"


def test_bpe_compresses_and_is_deterministic(bpe: BPETokenizer) -> None:
    text = pydoc_text()[100_000:120_000]
    ids = bpe.encode(text)
    assert len(ids) < 0.6 * len(text.encode()), "200 merges should compress English text well"
    again = BPETokenizer.train(pydoc_text()[:100_000], 256 + 200, specials=["<|endoftext|>", "<pad>"])
    assert again.merges == bpe.merges
    assert all(i < bpe.vocab_size for i in ids)
    first = bpe.vocab[256]
    assert len(first) == 2, "each merge joins two existing tokens"


def test_char_tokenizer_round_trip_and_errors() -> None:
    tok = CharTokenizer.from_text("hello world", specials=["<pad>"])
    assert tok.decode(tok.encode("lower world")) == "lower world"
    assert tok.stoi["<pad>"] == 0
    with pytest.raises(ValueError, match="'z'"):
        tok.encode("z")


# ---- CTC ---------------------------------------------------------------------------------------------------

@settings(max_examples=50, deadline=None)
@given(labels=st.lists(st.integers(1, 5), min_size=1, max_size=8), repeats=st.data())
def test_ctc_greedy_decode_of_a_perfect_alignment_returns_the_label(labels: list[int], repeats: st.DataObject) -> None:
    frames = []
    for i, lab in enumerate(labels):
        if i and labels[i - 1] == lab:
            frames.append(0)  # a blank must separate repeated labels
        frames += [lab] * repeats.draw(st.integers(1, 3))
        frames += [0] * repeats.draw(st.integers(0, 2))
    log_probs = F.one_hot(torch.tensor(frames), 6).float().add(1e-3).log()[None]
    assert ctc_greedy_decode(log_probs) == [labels]


@pytest.mark.parametrize("seed", SEEDS)
def test_ctc_loss_matches_torch(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    t, b, c, s = 30, 4, 7, 8
    logits = torch.randn(t, b, c, generator=g, requires_grad=True)
    targets = torch.randint(1, c, (b, s), generator=g)
    targets[0, :3] = torch.tensor([2, 2, 2])  # repeated labels need blanks between them
    input_lengths = torch.tensor([30, 25, 18, 30])
    target_lengths = torch.tensor([8, 5, 1, 6])
    lp = logits.log_softmax(-1)
    mine = ctc_loss(lp, targets, input_lengths, target_lengths)
    theirs = F.ctc_loss(lp, targets, input_lengths, target_lengths, reduction="mean")
    torch.testing.assert_close(mine, theirs, atol=1e-5, rtol=1e-5)
    g1 = torch.autograd.grad(mine, logits, retain_graph=True)[0]
    g2 = torch.autograd.grad(theirs, logits)[0]
    torch.testing.assert_close(g1, g2, atol=1e-5, rtol=1e-4)


# ---- BERT masking and spans --------------------------------------------------------------------------------

def test_mask_tokens_follows_the_80_10_10_rule() -> None:
    vocab, mask_id, specials = 1000, 3, [0, 1, 2, 3]
    tokens = torch.randint(4, vocab, (400, 256), generator=torch.Generator().manual_seed(0))
    tokens[:, 0] = 1  # [CLS] is never chosen
    inputs, labels = mask_tokens(tokens, vocab, mask_id, specials, generator=torch.Generator().manual_seed(1))
    chosen = labels != -100
    assert not chosen[:, 0].any()
    assert chosen.float().mean().item() == pytest.approx(0.15 * 255 / 256, abs=0.005)
    assert (labels[chosen] == tokens[chosen]).all() and (inputs[~chosen] == tokens[~chosen]).all()
    masked = (inputs[chosen] == mask_id).float().mean().item()
    kept = (inputs[chosen] == tokens[chosen]).float().mean().item()
    assert masked == pytest.approx(0.8, abs=0.01)
    assert kept == pytest.approx(0.1 + 0.1 / vocab, abs=0.01)  # a random token equals the original 1/vocab of the time
    assert 1 - masked - kept == pytest.approx(0.1, abs=0.01)


def test_best_span_respects_order_and_length() -> None:
    start = torch.tensor([0.0, 6.0, 0.0, 0.0])
    end = torch.tensor([7.0, 0.0, 3.0, 0.0])
    assert best_span(start, end) == (1, 2)  # (1, 0) would score 13, but an answer cannot end before it starts
    assert best_span(start, end, max_answer_len=1) == (0, 0)  # (1, 2) is two tokens long


# ---- sampling ------------------------------------------------------------------------------------------------

def test_top_k_and_top_p_filters() -> None:
    logits = torch.log(torch.tensor([[0.5, 0.2, 0.15, 0.1, 0.05]]))
    assert torch.isfinite(top_k_filter(logits, 2)).sum() == 2
    kept = torch.isfinite(top_p_filter(logits, 0.8))[0].tolist()
    assert kept == [True, True, True, False, False]  # 0.5 + 0.2 < 0.8 <= 0.5 + 0.2 + 0.15
    assert torch.isfinite(top_p_filter(logits, 0.01)).sum() == 1  # the top token always survives
    shuffled = logits[:, [3, 0, 4, 1, 2]]
    assert torch.isfinite(top_p_filter(shuffled, 0.8))[0].tolist() == [False, True, False, True, True]


def test_generation_with_and_without_cache_agree() -> None:
    torch.manual_seed(0)
    for positions in ("learned", "rope"):
        model = GPT(GPTConfig(vocab_size=30, d_model=32, n_heads=4, n_layers=2, max_len=64, positions=positions)).eval()
        prompt = torch.randint(0, 30, (2, 5))
        cached = model.generate(prompt, 12, temperature=0, use_cache=True)
        plain = model.generate(prompt, 12, temperature=0, use_cache=False)
        assert torch.equal(cached, plain), positions
        g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
        s1 = model.generate(prompt, 8, temperature=0.8, top_k=10, top_p=0.9, generator=g1)
        s2 = model.generate(prompt, 8, temperature=0.8, top_k=10, top_p=0.9, generator=g2, use_cache=False)
        assert torch.equal(s1, s2)


def test_gpt_causal_logits_ignore_the_future() -> None:
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=30, d_model=32, n_heads=4, n_layers=2, max_len=32)).eval()
    idx = torch.randint(0, 30, (1, 12))
    changed = idx.clone()
    changed[0, 8:] = (changed[0, 8:] + 1) % 30
    torch.testing.assert_close(model(idx)[:, :8], model(changed)[:, :8], atol=0, rtol=0)


# ---- vision and audio front ends -------------------------------------------------------------------------

def test_patchify_order_matches_a_strided_convolution() -> None:
    images = torch.randn(2, 3, 8, 12)
    weight = torch.randn(5, 3, 4, 4)
    conv = F.conv2d(images, weight, stride=4).flatten(2).transpose(1, 2)  # (B, N, 5)
    torch.testing.assert_close(patchify(images, 4) @ weight.flatten(1).T, conv, **TOL[torch.float32])
    with pytest.raises(ValueError, match="not divisible"):
        patchify(images, 5)


def test_mel_spectrogram_puts_a_tone_in_the_right_band() -> None:
    sr, n_fft, n_mels = 8000, 256, 40
    bank = mel_filterbank(n_mels, n_fft, sr)
    assert bank.shape == (n_mels, n_fft // 2 + 1) and (bank >= 0).all() and bank.max() <= 1.0
    freqs = torch.linspace(0, sr / 2, n_fft // 2 + 1)
    centers = freqs[bank.argmax(dim=1)]
    assert (centers[1:] > centers[:-1]).all(), "filters are ordered by frequency"
    for hz in (300.0, 1209.0, 3000.0):
        t = torch.arange(sr) / sr
        spec = log_mel_spectrogram(torch.sin(2 * math.pi * hz * t), sr, n_fft=n_fft, n_mels=n_mels)
        assert spec.shape == (1 + sr // 80, n_mels)
        loudest = int(spec.mean(0).argmax())
        assert abs(centers[loudest].item() - hz) < 0.15 * hz + 60, (hz, centers[loudest].item())


def test_data_sets_are_deterministic_under_a_seed() -> None:
    from reference_impl.data.captions import digit_caption_split
    from reference_impl.data.dates import date_pairs
    from reference_impl.data.digits import load_digits_split
    from reference_impl.data.dtmf import dtmf_dataset

    assert date_pairs(50, seed=3) == date_pairs(50, seed=3) != date_pairs(50, seed=4)
    for iso in (t for _, t in date_pairs(200, seed=1)):
        assert len(iso) == 10 and iso[4] == iso[7] == "-"
    a, b = dtmf_dataset(4, seed=2), dtmf_dataset(4, seed=2)
    assert all(torch.equal(x, y) and k == l for (x, k), (y, l) in zip(a, b))
    x1, y1, x2, y2 = load_digits_split(seed=0)
    assert len(y1) + len(y2) == 1797 and x1.max() <= 1.0
    assert torch.equal(load_digits_split(seed=0)[1], y1) and not torch.equal(load_digits_split(seed=1)[1], y1)
    _, caps, _, _ = digit_caption_split()
    assert caps.shape[1] == 7 and (caps[:, 0] == 1).all() and (caps[:, -1] == 2).all()


def naive_merges(text: str, n_merges: int) -> list[tuple[int, int]]:
    """The teaching BPE's rules (most frequent adjacent pair, ties to the one that occurs first) written out by
    hand: counting by scanning positions, no Counter and no shared merge helper."""
    ids, merges = list(text.encode("utf-8")), []
    for new_id in range(256, 256 + n_merges):
        counts: dict[tuple[int, int], int] = {}
        first: dict[tuple[int, int], int] = {}
        for i in range(len(ids) - 1):
            pair = (ids[i], ids[i + 1])
            counts[pair] = counts.get(pair, 0) + 1
            first.setdefault(pair, i)
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], first[p]))
        merges.append(best)
        out, i = [], 0
        while i < len(ids):
            if i + 1 < len(ids) and ids[i] == best[0] and ids[i + 1] == best[1]:
                out.append(new_id)
                i += 2
            else:
                out.append(ids[i])
                i += 1
        ids = out
    return merges


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="abcäö ", min_size=0, max_size=60), st.integers(0, 12))
def test_teaching_bpe_matches_a_naive_implementation(text: str, n_merges: int) -> None:
    from reference_impl.tokenization import learn_merges

    assert learn_merges(text, n_merges) == naive_merges(text, n_merges)


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=0, max_size=80), st.text(alphabet="the cat sat on a mat äü", min_size=0, max_size=80))
def test_teaching_bpe_round_trips_any_text(text: str, training: str) -> None:
    from reference_impl.tokenization import apply_merges, expand_ids, learn_merges

    merges = learn_merges(training, 20)
    assert expand_ids(apply_merges(text, merges), merges) == text

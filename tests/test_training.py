"""Every model family learns: a short seeded run drives its loss well below where it started.

Each test prints its numbers (run pytest with -s to see them); they are quoted in the closing notes.
"""
from __future__ import annotations

import time

import pytest
import torch

from reference_impl.training import fit


def report(name: str, losses: list[float], seconds: float, extra: str = "") -> tuple[float, float]:
    start, end = sum(losses[:5]) / 5, sum(losses[-10:]) / 10
    print(f"\n[learns] {name}: loss {start:.3f} -> {end:.3f} in {len(losses)} steps, {seconds:.1f} s {extra}")
    return start, end


@pytest.fixture(autouse=True)
def seeded() -> None:
    torch.manual_seed(0)


def test_encoder_decoder_learns_date_translation() -> None:
    from reference_impl.data.dates import date_pairs, date_tokenizers, encode_pairs
    from reference_impl.decoding import greedy_decode
    from reference_impl.transformer import Transformer, TransformerConfig, seq2seq_loss

    src_tok, tgt_tok = date_tokenizers()
    src, tgt = encode_pairs(date_pairs(4000, seed=0), src_tok, tgt_tok)
    model = Transformer(TransformerConfig(src_tok.vocab_size, tgt_tok.vocab_size, d_model=64, n_heads=4, d_ff=128))
    g = torch.Generator().manual_seed(0)

    def step(_: int) -> torch.Tensor:
        i = torch.randint(len(src), (64,), generator=g)
        return seq2seq_loss(model, src[i], tgt[i], bos_id=1)

    t0 = time.time()
    losses = fit(step, model.parameters(), steps=300, lr=3e-3, warmup=20)
    test_src, test_tgt = encode_pairs(date_pairs(200, seed=99), src_tok, tgt_tok)
    model.eval()
    out = greedy_decode(model, test_src, bos_id=1, eos_id=2, max_len=11)
    exact = (out == test_tgt).all(1).float().mean().item()
    start, end = report("encoder-decoder (dates)", losses, time.time() - t0, f"exact match {exact:.0%}")
    assert end < 0.1 * start
    assert exact > 0.4, "a few hundred steps already translate a good share of held-out dates exactly"


def test_bert_learns_masked_language_modelling() -> None:
    """Guessing masked characters from their frequencies alone costs the unigram entropy; BERT must beat it."""
    import math
    from collections import Counter

    from reference_impl.bert import BertConfig, BertForPretraining, mask_tokens
    from reference_impl.data.text import lm_batch, pydoc_text
    from reference_impl.tokenization import CharTokenizer

    text = pydoc_text()[:200_000]
    tok = CharTokenizer.from_text(text, specials=["[PAD]", "[CLS]", "[SEP]", "[MASK]"])
    ids = torch.tensor(tok.encode(text))
    unigram_entropy = -sum(c / len(text) * math.log(c / len(text)) for c in Counter(text).values())
    model = BertForPretraining(BertConfig(tok.vocab_size, d_model=64, n_heads=4, d_ff=128, n_layers=2, max_len=64))
    g = torch.Generator().manual_seed(0)

    def step(_: int) -> torch.Tensor:
        x, _ = lm_batch(ids, 48, 32, g)
        x = torch.cat([torch.full((32, 1), 1), x], dim=1)
        inputs, labels = mask_tokens(x, tok.vocab_size, mask_id=3, special_ids=[0, 1, 2, 3], generator=g)
        mlm_logits, _ = model(inputs)
        return torch.nn.functional.cross_entropy(mlm_logits.flatten(0, 1), labels.flatten(), ignore_index=-100)

    t0 = time.time()
    losses = fit(step, model.parameters(), steps=400, lr=3e-3, warmup=20)
    start, end = report("BERT masked LM (characters)", losses, time.time() - t0, f"unigram entropy {unigram_entropy:.3f}")
    assert end < 0.7 * start and end < unigram_entropy - 0.2


def test_bert_heads_learn_classification_and_spans() -> None:
    """[CLS] classification: does the sequence contain token 5? QA: where is the run of 7s?"""
    from reference_impl.bert import BertConfig, BertForClassification, BertForQuestionAnswering

    cfg = BertConfig(vocab_size=12, d_model=32, n_heads=4, d_ff=64, n_layers=2, max_len=24)
    clf, qa = BertForClassification(cfg, 2), BertForQuestionAnswering(cfg)
    g = torch.Generator().manual_seed(0)

    def clf_step(_: int) -> torch.Tensor:
        x = torch.randint(6, 12, (32, 16), generator=g)
        y = torch.randint(0, 2, (32,), generator=g)
        x[y == 1, torch.randint(1, 16, (int(y.sum()),), generator=g)] = 5
        x[:, 0] = 1
        return torch.nn.functional.cross_entropy(clf(x), y)

    def span_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = torch.randint(2, 6, (32, 20), generator=g)
        s = torch.randint(1, 16, (32,), generator=g)
        n = torch.randint(1, 4, (32,), generator=g)
        for b in range(32):
            x[b, s[b] : s[b] + n[b]] = 7
        return x, s, s + n - 1

    def qa_step(_: int) -> torch.Tensor:
        x, s, e = span_batch()
        start, end = qa(x)
        return (torch.nn.functional.cross_entropy(start, s) + torch.nn.functional.cross_entropy(end, e)) / 2

    t0 = time.time()
    c0, c1 = report("BERT [CLS] classifier", fit(clf_step, clf.parameters(), steps=150, lr=3e-3), time.time() - t0)
    t0 = time.time()
    q0, q1 = report("BERT QA span head", fit(qa_step, qa.parameters(), steps=150, lr=3e-3), time.time() - t0)
    assert c1 < 0.3 * c0 and q1 < 0.3 * q0


def test_bert_learns_next_sentence_prediction() -> None:
    """Sentences come from two topics (token ranges 4-8 and 9-13); B "follows" A when their topics match,
    which the [CLS] vector can only tell by attending across both segments."""
    from reference_impl.bert import BertConfig, BertForPretraining

    model = BertForPretraining(BertConfig(vocab_size=14, d_model=32, n_heads=4, d_ff=64, n_layers=2, max_len=24))
    g = torch.Generator().manual_seed(0)

    def step(_: int) -> torch.Tensor:
        topic_a = torch.randint(0, 2, (64, 1), generator=g)
        is_next = torch.randint(0, 2, (64,), generator=g)
        topic_b = torch.where(is_next[:, None].bool(), topic_a, 1 - topic_a)
        a = 4 + 5 * topic_a + torch.randint(0, 5, (64, 8), generator=g)
        b = 4 + 5 * topic_b + torch.randint(0, 5, (64, 8), generator=g)
        tokens = torch.cat([torch.full((64, 1), 1), a, torch.full((64, 1), 2), b], dim=1)  # [CLS] A [SEP] B
        segments = torch.cat([torch.zeros(64, 10, dtype=torch.long), torch.ones(64, 8, dtype=torch.long)], dim=1)
        _, nsp_logits = model(tokens, segments)
        return torch.nn.functional.cross_entropy(nsp_logits, is_next)

    t0 = time.time()
    start, end = report("BERT next-sentence prediction", fit(step, model.parameters(), steps=150, lr=3e-3), time.time() - t0)
    assert end < 0.1 * start


def test_gpt_learns_python_documentation() -> None:
    from reference_impl.data.text import lm_batch, pydoc_text
    from reference_impl.gpt import GPT, GPTConfig
    from reference_impl.tokenization import CharTokenizer

    text = pydoc_text()
    tok = CharTokenizer.from_text(text)
    ids = torch.tensor(tok.encode(text))
    model = GPT(GPTConfig(tok.vocab_size, d_model=64, n_heads=4, n_layers=2, max_len=64))
    g = torch.Generator().manual_seed(0)
    t0 = time.time()
    losses = fit(lambda _: model.loss(*lm_batch(ids, 64, 32, g)), model.parameters(), steps=300, lr=3e-3, warmup=20)
    start, end = report("GPT (characters of pydoc)", losses, time.time() - t0)
    assert end < 0.6 * start
    sample = tok.decode(model.generate(torch.tensor([tok.encode("The ")]), 40, temperature=0.8, top_k=20)[0].tolist())
    print(f"[learns] GPT sample: {sample!r}")


def test_vit_learns_digits() -> None:
    from reference_impl.data.digits import load_digits_split
    from reference_impl.vit import ViT, ViTConfig

    x, y, x_test, y_test = load_digits_split(seed=0)
    model = ViT(ViTConfig(image_size=8, patch_size=2, d_model=64, n_heads=4, d_ff=128, n_layers=2))
    g = torch.Generator().manual_seed(0)

    def step(_: int) -> torch.Tensor:
        i = torch.randint(len(y), (64,), generator=g)
        return torch.nn.functional.cross_entropy(model(x[i]), y[i])

    t0 = time.time()
    losses = fit(step, model.parameters(), steps=300, lr=3e-3, warmup=20)
    model.eval()
    with torch.no_grad():
        acc = (model(x_test).argmax(-1) == y_test).float().mean().item()
    start, end = report("ViT (digits)", losses, time.time() - t0, f"test accuracy {acc:.1%}")
    assert end < 0.25 * start and acc > 0.8


def test_conformer_ctc_learns_dtmf_keys() -> None:
    from reference_impl.ctc import ctc_greedy_decode, ctc_loss
    from reference_impl.data.dtmf import dtmf_dataset, key_ids
    from reference_impl.spectrogram import log_mel_spectrogram
    from reference_impl.speech import SpeechConfig, SpeechRecognizer

    def featurize(examples: list) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        feats = [log_mel_spectrogram(w, 8000) for w, _ in examples]
        lengths = torch.tensor([len(f) for f in feats])
        feats = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True, padding_value=float(torch.log(torch.tensor(1e-6))))
        labels = [key_ids(k) for _, k in examples]
        targets = torch.nn.utils.rnn.pad_sequence([torch.tensor(l) for l in labels], batch_first=True)
        return feats, lengths, targets, torch.tensor([len(l) for l in labels])

    train = featurize(dtmf_dataset(384, seed=0, max_keys=4))
    feats, lengths, targets, target_lengths = train
    mean, std = feats.mean(), feats.std()
    model = SpeechRecognizer(SpeechConfig(d_model=48, n_heads=4, n_layers=2))
    g = torch.Generator().manual_seed(0)

    def step(_: int) -> torch.Tensor:
        i = torch.randint(len(lengths), (32,), generator=g)
        log_probs, out_len = model((feats[i] - mean) / std, lengths[i])
        return ctc_loss(log_probs.transpose(0, 1), targets[i], out_len, target_lengths[i])

    t0 = time.time()
    losses = fit(step, model.parameters(), steps=200, lr=3e-3, warmup=20)
    test_feats, test_len, test_tgt, test_tl = featurize(dtmf_dataset(64, seed=1, max_keys=4))
    model.eval()
    with torch.no_grad():
        log_probs, out_len = model((test_feats - mean) / std, test_len)
    decoded = ctc_greedy_decode(log_probs, out_len)
    exact = sum(d == t[:n].tolist() for d, t, n in zip(decoded, test_tgt, test_tl)) / len(decoded)
    start, end = report("Conformer + CTC (DTMF keys)", losses, time.time() - t0, f"exact key strings {exact:.0%}")
    assert end < 0.3 * start and exact > 0.5


def test_llava_style_model_learns_to_caption_digits() -> None:
    from reference_impl.data.captions import digit_caption_split, VOCAB
    from reference_impl.gpt import GPTConfig
    from reference_impl.multimodal import LlavaStyle
    from reference_impl.vit import ViTConfig

    x, caps, x_test, caps_test = digit_caption_split(seed=0)
    model = LlavaStyle(ViTConfig(image_size=8, patch_size=4, d_model=48, n_heads=4, d_ff=96, n_layers=2),
                       GPTConfig(len(VOCAB), d_model=48, n_heads=4, n_layers=2, max_len=32))
    g = torch.Generator().manual_seed(0)

    def step(_: int) -> torch.Tensor:
        i = torch.randint(len(x), (64,), generator=g)
        return model.loss(x[i], caps[i], pad_id=0)

    t0 = time.time()
    losses = fit(step, model.parameters(), steps=300, lr=3e-3, warmup=20)
    model.eval()
    out = model.caption(x_test, bos_id=1, max_len=6)
    exact = (out == caps_test[:, 1:]).all(1).float().mean().item()
    start, end = report("LLaVA-style captioner (digits)", losses, time.time() - t0, f"exact captions {exact:.0%}")
    assert end < 0.1 * start and exact > 0.6


def test_unit_style_model_learns_two_tasks_with_one_decoder() -> None:
    from reference_impl.data.digits import load_digits_split
    from reference_impl.multimodal import UnitStyle
    from reference_impl.vit import ViTConfig

    x, y, x_test, y_test = load_digits_split(seed=0)
    model = UnitStyle(ViTConfig(image_size=8, patch_size=4, d_model=48, n_heads=4, d_ff=96, n_layers=2),
                      tasks={"digit": 10, "parity": 2})
    g = torch.Generator().manual_seed(0)

    def step(k: int) -> torch.Tensor:
        i = torch.randint(len(y), (64,), generator=g)
        task, target = ("digit", y[i]) if k % 2 == 0 else ("parity", y[i] % 2)
        return torch.nn.functional.cross_entropy(model(x[i], task), target)

    t0 = time.time()
    losses = fit(step, model.parameters(), steps=300, lr=3e-3, warmup=20)
    model.eval()
    with torch.no_grad():
        digit_acc = (model(x_test, "digit").argmax(-1) == y_test).float().mean().item()
        parity_acc = (model(x_test, "parity").argmax(-1) == y_test % 2).float().mean().item()
    start, end = report("UniT-style multi-task", losses, time.time() - t0, f"digit {digit_acc:.1%}, parity {parity_acc:.1%}")
    assert end < 0.2 * start and digit_acc > 0.85 and parity_acc > 0.85


def test_lora_and_bitfit_fine_tune_a_frozen_gpt() -> None:
    """A GPT pretrained on one pattern adapts to a new one while its weights stay frozen."""
    import copy

    from reference_impl.bitfit import apply_bitfit
    from reference_impl.gpt import GPT, GPTConfig
    from reference_impl.lora import apply_lora
    from reference_impl.parameters import count_parameters

    base = GPT(GPTConfig(vocab_size=16, d_model=48, n_heads=4, n_layers=2, max_len=32))
    g = torch.Generator().manual_seed(0)

    def sequences(step_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        start = torch.randint(0, 16, (32, 1), generator=g)
        seq = (start + step_size * torch.arange(25)) % 16  # counting modulo 16 by step_size
        return seq[:, :-1], seq[:, 1:]

    fit(lambda _: base.loss(*sequences(1)), base.parameters(), steps=150, lr=3e-3)
    for name, make in [("LoRA r=4", lambda m: apply_lora(m, ["w_q", "w_v", "linear1"], r=4, alpha=8)),
                       ("BitFit", lambda m: apply_bitfit(m))]:
        model = make(copy.deepcopy(base))
        frozen = {n: p.clone() for n, p in model.named_parameters() if not p.requires_grad}
        t0 = time.time()
        losses = fit(lambda _: model.loss(*sequences(3)), model.parameters(), steps=150, lr=1e-2)
        trainable = count_parameters(model, trainable_only=True) / count_parameters(model)
        start, end = report(f"{name} fine-tuning", losses, time.time() - t0, f"training {trainable:.1%} of the weights")
        assert end < 0.5 * start
        assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if n in frozen)

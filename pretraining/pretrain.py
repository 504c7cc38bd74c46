"""Pre-train the course's small BERT (masked LM + next sentence) and GPT (next character) on Python's own
documentation, seeded, and write them as safetensors checkpoints (float16, with config and vocabulary in the
metadata). `python -m pretraining.pretrain` remakes the committed files in checkpoints/ (a few minutes on 2 cores).

The last 10% of the text is held out: the training never sees it, and `held_out_*` scores a model on it.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from reference_impl.bert import mask_tokens
from reference_impl.data.text import lm_batch, pydoc_text
from reference_impl.training import fit

from .models import BERT_SPECIALS, Config, TinyBert, TinyGPT, init_weights

CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"
BERT_FILE, GPT_FILE = "bert-pydoc.safetensors", "gpt-pydoc.safetensors"
SEGMENT = 30  # characters in each of sentence A and B: [CLS] A [SEP] B [SEP] is 63 tokens
BERT_STEPS, GPT_STEPS, BATCH = 800, 800, 32


def corpus() -> tuple[list[str], str, str]:
    """(characters, training text, held-out text): the alphabet is every character of the whole text."""
    text = pydoc_text()
    split = int(0.9 * len(text))
    return sorted(set(text)), text[:split], text[split:]


def bert_vocab(chars: list[str]) -> list[str]:
    return BERT_SPECIALS + chars


def nsp_batch(ids: torch.Tensor, batch: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """[CLS] A [SEP] B [SEP] with B the text right after A (label 1) or from anywhere else (label 0)."""
    n = len(ids) - 2 * SEGMENT
    starts = torch.randint(n, (batch,), generator=g)
    is_next = torch.randint(2, (batch,), generator=g)
    elsewhere = torch.randint(n, (batch,), generator=g)
    b_starts = torch.where(is_next.bool(), starts + SEGMENT, elsewhere)
    cls, sep = torch.full((batch, 1), BERT_SPECIALS.index("[CLS]")), torch.full((batch, 1), BERT_SPECIALS.index("[SEP]"))
    a = torch.stack([ids[s : s + SEGMENT] for s in starts.tolist()])
    b = torch.stack([ids[s : s + SEGMENT] for s in b_starts.tolist()])
    tokens = torch.cat([cls, a, sep, b, sep], dim=1)  # (batch, 63)
    segments = torch.cat([torch.zeros(batch, SEGMENT + 2, dtype=torch.long), torch.ones(batch, SEGMENT + 1, dtype=torch.long)], 1)
    return tokens, segments, is_next


def bert_losses(model: TinyBert, ids: torch.Tensor, batch: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(masked-LM loss, next-sentence loss) on a fresh batch."""
    tokens, segments, is_next = nsp_batch(ids, batch, g)
    inputs, labels = mask_tokens(tokens, model.cfg.vocab_size, BERT_SPECIALS.index("[MASK]"),
                                 list(range(len(BERT_SPECIALS))), generator=g)
    h, pooled = model(inputs, segments)
    mlm = F.cross_entropy(model.mlm_logits(h).flatten(0, 1), labels.flatten(), ignore_index=-100)
    return mlm, F.cross_entropy(model.nsp(pooled), is_next)


def pretrain_bert(steps: int = BERT_STEPS, seed: int = 0, progress: bool = False) -> TinyBert:
    chars, train, _ = corpus()
    stoi = {c: i for i, c in enumerate(bert_vocab(chars))}
    ids = torch.tensor([stoi[c] for c in train])
    torch.manual_seed(seed)
    model = TinyBert(Config(len(stoi), n_layers=2))
    init_weights(model)
    g = torch.Generator().manual_seed(seed)
    fit(lambda _: sum(bert_losses(model, ids, BATCH, g)), model.parameters(), steps, lr=1e-3, warmup=100,
        weight_decay=0.01, progress=progress)
    return model.eval()


def pretrain_gpt(steps: int = GPT_STEPS, seed: int = 0, progress: bool = False) -> TinyGPT:
    chars, train, _ = corpus()
    stoi = {c: i for i, c in enumerate(chars)}
    ids = torch.tensor([stoi[c] for c in train])
    torch.manual_seed(seed)
    model = TinyGPT(Config(len(chars), n_layers=3))
    init_weights(model)
    g = torch.Generator().manual_seed(seed)

    def loss(_: int) -> torch.Tensor:
        x, y = lm_batch(ids, 64, BATCH, g)
        return F.cross_entropy(model(x).flatten(0, 1), y.flatten())

    fit(loss, model.parameters(), steps, lr=2e-3, warmup=100, weight_decay=0.01, progress=progress)
    return model.eval()


@torch.no_grad()
def held_out_bert(model: TinyBert, batches: int = 8) -> tuple[float, float]:
    """(masked-LM loss, next-sentence accuracy) on held-out text, with fixed draws."""
    chars, _, held = corpus()
    stoi = {c: i for i, c in enumerate(bert_vocab(chars))}
    ids, g = torch.tensor([stoi[c] for c in held]), torch.Generator().manual_seed(1234)
    mlm, right, total = 0.0, 0, 0
    for _ in range(batches):
        tokens, segments, is_next = nsp_batch(ids, 64, g)
        inputs, labels = mask_tokens(tokens, len(stoi), BERT_SPECIALS.index("[MASK]"), list(range(len(BERT_SPECIALS))), generator=g)
        h, pooled = model(inputs, segments)
        mlm += F.cross_entropy(model.mlm_logits(h).flatten(0, 1), labels.flatten(), ignore_index=-100).item() / batches
        right += int((model.nsp(pooled).argmax(-1) == is_next).sum())
        total += len(is_next)
    return mlm, right / total


@torch.no_grad()
def held_out_gpt(model: TinyGPT, batches: int = 8) -> float:
    """Next-character cross-entropy (nats per character) on held-out text, fixed windows."""
    chars, _, held = corpus()
    stoi = {c: i for i, c in enumerate(chars)}
    ids, g = torch.tensor([stoi[c] for c in held]), torch.Generator().manual_seed(1234)
    losses = [F.cross_entropy(model(x).flatten(0, 1), y.flatten()).item() for x, y in (lm_batch(ids, 64, 64, g) for _ in range(batches))]
    return sum(losses) / len(losses)


def save(model: torch.nn.Module, cfg: Config, vocab: list[str], path: Path, steps: int, seed: int) -> None:
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    metadata = {"config": json.dumps(cfg.to_dict()), "vocab": json.dumps(vocab), "steps": str(steps), "seed": str(seed),
                "corpus": "pydoc_data.topics, topics in sorted order joined by newlines; first 90% of the characters"}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata=metadata)


def load(path: Path) -> tuple[dict[str, torch.Tensor], Config, list[str]]:
    """(float32 state dict, config, vocabulary) of a checkpoint written by `save`."""
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    state = {k: v.float() for k, v in load_file(str(path)).items()}
    return state, Config(**json.loads(meta["config"])), json.loads(meta["vocab"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=CHECKPOINTS)
    args = p.parse_args()
    torch.set_num_threads(1)  # one thread: the same sums in the same order on every machine, and no oversubscription
    chars = corpus()[0]
    for name, make, vocab, held_out in [("BERT", pretrain_bert, bert_vocab(chars), held_out_bert),
                                        ("GPT", pretrain_gpt, chars, held_out_gpt)]:
        started = time.perf_counter()
        model = make(progress=True)
        seconds = time.perf_counter() - started
        path = args.out / (BERT_FILE if name == "BERT" else GPT_FILE)
        save(model, model.cfg, vocab, path, BERT_STEPS if name == "BERT" else GPT_STEPS, 0)
        print(f"{name}: {seconds:.0f} s, held-out {held_out(model)}, {path.stat().st_size / 1e6:.2f} MB -> {path}")


if __name__ == "__main__":
    main()

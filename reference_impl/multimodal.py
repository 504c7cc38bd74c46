"""Two ways to join vision and language: a LLaVA-style captioner and a UniT-style multi-task decoder."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .decoder import Decoder
from .gpt import GPT, GPTConfig
from .vit import ViTConfig, ViTEncoder


class LlavaStyle(nn.Module):
    """Image encoder -> MLP projector -> visual tokens placed before the text tokens of a causal LM."""

    def __init__(self, vision: ViTConfig, lm: GPTConfig) -> None:
        super().__init__()
        self.vision = ViTEncoder(vision)
        self.projector = nn.Sequential(nn.Linear(vision.d_model, lm.d_model), nn.GELU(), nn.Linear(lm.d_model, lm.d_model))
        self.lm = GPT(lm)

    def visual_tokens(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, 1 + N, d_lm): one LM input vector for [CLS] and each image patch."""
        return self.projector(self.vision(images))

    def forward(self, images: torch.Tensor, text: torch.Tensor, visual: torch.Tensor | None = None) -> torch.Tensor:
        """Logits for the text positions only, (B, T, vocab). `visual` reuses visual tokens already computed."""
        vis = self.visual_tokens(images) if visual is None else visual
        logits = self.lm.forward_embeddings(torch.cat([vis, self.lm.tokens(text)], dim=1))
        return logits[:, vis.size(1):]

    def loss(self, images: torch.Tensor, text: torch.Tensor, pad_id: int) -> torch.Tensor:
        """Next-token loss on the caption; the image is context, never a target."""
        logits = self(images, text[:, :-1])
        return F.cross_entropy(logits.flatten(0, 1), text[:, 1:].flatten(), ignore_index=pad_id)

    @torch.no_grad()
    def caption(self, images: torch.Tensor, bos_id: int, max_len: int) -> torch.Tensor:
        """Greedy captions (B, max_len) for a batch of images; the image is encoded once."""
        visual = self.visual_tokens(images)
        text = torch.full((images.size(0), 1), bos_id, dtype=torch.long, device=images.device)
        for _ in range(max_len):
            nxt = self(images, text, visual)[:, -1].argmax(-1, keepdim=True)
            text = torch.cat([text, nxt], dim=1)
        return text[:, 1:]


class UnitStyle(nn.Module):
    """One shared decoder for several tasks: each task has its own learned query embeddings that
    attend to the encoded image, and its own output head on the first query."""

    def __init__(self, vision: ViTConfig, tasks: dict[str, int], n_queries: int = 4, n_layers: int = 2) -> None:
        super().__init__()
        d = vision.d_model
        self.encoder = ViTEncoder(vision)
        self.queries = nn.ParameterDict({t: nn.Parameter(torch.randn(n_queries, d) * 0.02) for t in tasks})
        self.decoder = Decoder(n_layers, d, vision.n_heads, vision.d_ff, vision.dropout, norm_first=True, activation="gelu")
        self.heads = nn.ModuleDict({t: nn.Linear(d, n) for t, n in tasks.items()})

    def forward(self, images: torch.Tensor, task: str) -> torch.Tensor:
        memory = self.encoder(images)
        q = self.queries[task].expand(images.size(0), -1, -1)
        h, _ = self.decoder(q, memory)  # no causal mask: the queries see each other and the image
        return self.heads[task](h[:, 0])

"""The graded parts of the multimodal assignment, as small functions and modules of their own: the projector, the
LLaVA-style input sequence, the text-only caption loss, greedy captioning, and UniT's task-query decoder. (The
whole models of multimodal.py use their own ViT and GPT; these parts take PyTorch modules, as the notebook does.)"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Projector(nn.Module):
    """Image features (..., d_vision) -> LM input vectors (..., d_model): Linear, GELU, Linear."""

    def __init__(self, d_vision: int, d_model: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(d_vision, d_model)
        self.fc2 = nn.Linear(d_model, d_model)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(features)))


def lm_input(features: torch.Tensor, text: torch.Tensor, projector: nn.Module, embed: nn.Module) -> torch.Tensor:
    """(B, N, d_vision) image features and (B, T) token ids -> (B, N + T, d_model): visual tokens, then text."""
    return torch.cat([projector(features), embed(text)], dim=1)


def caption_loss(logits: torch.Tensor, captions: torch.Tensor, n_visual: int, pad_id: int) -> torch.Tensor:
    """Next-token cross-entropy on the caption only: position n_visual + t predicts captions[:, t + 1]."""
    text_logits = logits[:, n_visual:-1]
    return F.cross_entropy(text_logits.flatten(0, 1), captions[:, 1:].flatten(), ignore_index=pad_id)


@torch.no_grad()
def greedy_caption(model: nn.Module, images: torch.Tensor, bos_id: int, max_len: int) -> torch.Tensor:
    """(B, max_len) greedy tokens; model has vision, projector, embed and lm; the image is encoded once."""
    visual = model.projector(model.vision(images))
    text = torch.full((images.size(0), 1), bos_id, dtype=torch.long, device=images.device)
    for _ in range(max_len):
        logits = model.lm(torch.cat([visual, model.embed(text)], dim=1))
        text = torch.cat([text, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    return text[:, 1:]


class TaskDecoder(nn.Module):
    """UniT's shared decoder: each task's learned queries attend to the image and text memory; one head per task
    reads the first query."""

    def __init__(self, d_model: int, n_heads: int, n_layers: int, n_queries: int, n_classes: list[int]) -> None:
        super().__init__()
        self.queries = nn.Parameter(torch.randn(len(n_classes), n_queries, d_model) * 0.02)
        layer = nn.TransformerDecoderLayer(d_model, n_heads, 2 * d_model, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.decoder = nn.TransformerDecoder(layer, n_layers, norm=nn.LayerNorm(d_model))
        self.heads = nn.ModuleList([nn.Linear(d_model, n) for n in n_classes])

    def memory(self, image_memory: torch.Tensor, text_memory: torch.Tensor,
               text_padding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The concatenated memory (B, N + T, d) and its padding mask (B, N + T), True where hidden."""
        image_padding = torch.zeros(image_memory.shape[:2], dtype=torch.bool, device=image_memory.device)
        return torch.cat([image_memory, text_memory], dim=1), torch.cat([image_padding, text_padding], dim=1)

    def forward(self, image_memory: torch.Tensor, text_memory: torch.Tensor, text_padding: torch.Tensor,
                task: int) -> torch.Tensor:
        memory, hidden = self.memory(image_memory, text_memory, text_padding)
        queries = self.queries[task].expand(image_memory.size(0), -1, -1)
        h = self.decoder(queries, memory, memory_key_padding_mask=hidden)
        return self.heads[task](h[:, 0])

"""Trusted stand-ins for this assignment's parts, put in place of the student's own while a later part is
graded, so that one bug costs the points of one part only. Plain torch; never released. The grader sends this
file's source to the worker, which runs it only in the short-lived fork that grades such a part."""
from __future__ import annotations

import torch


def patchify(images: torch.Tensor, patch: int) -> torch.Tensor:
    b, c, h, w = images.shape
    grid = images.reshape(b, c, h // patch, patch, w // patch, patch).permute(0, 2, 4, 1, 3, 5)
    return grid.reshape(b, (h // patch) * (w // patch), c * patch * patch)


class ViTEmbeddings(torch.nn.Module):
    def __init__(self, image_size: int, patch_size: int, channels: int, d_model: int):
        super().__init__()
        self.patch_size = patch_size
        n_patches = (image_size // patch_size) ** 2
        self.patch_embed = torch.nn.Linear(channels * patch_size * patch_size, d_model)
        self.cls_token = torch.nn.Parameter(torch.zeros(1, 1, d_model))
        self.pos_embed = torch.nn.Parameter(torch.zeros(1, 1 + n_patches, d_model))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(patchify(images, self.patch_size))
        return torch.cat([self.cls_token.expand(x.size(0), -1, -1), x], dim=1) + self.pos_embed

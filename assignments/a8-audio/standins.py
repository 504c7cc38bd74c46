"""Trusted stand-ins for this assignment's parts, put in place of the student's own while a later part is
graded, so that one bug costs the points of one part only: framing and the mel filterbank (used by the log-mel
spectrogram) and the convolution module (used by the Conformer block). Plain torch; never released. The grader
sends this file's source to the worker, which runs it only in the short-lived fork that grades such a part."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def frames(wave: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """(B, N) -> (B, 1 + N // hop, n_fft): centred frames, the clip reflected by n_fft // 2 at both ends."""
    padded = F.pad(wave[:, None], (n_fft // 2, n_fft // 2), mode="reflect")[:, 0]
    return padded.unfold(-1, n_fft, hop)


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int) -> torch.Tensor:
    """(n_mels, n_fft // 2 + 1) triangles with edges evenly spaced on the HTK mel scale, computed with the same
    float32 operations as the hidden reference, bit for bit: the log-mel's expected values use that filterbank."""
    top = (2595.0 * torch.log10(1.0 + torch.tensor(sample_rate / 2) / 700.0)).item()
    edges = 700.0 * (10 ** (torch.linspace(0.0, top, n_mels + 2) / 2595.0) - 1.0)
    freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    up = (freqs - edges[:-2, None]) / (edges[1:-1, None] - edges[:-2, None])
    down = (edges[2:, None] - freqs) / (edges[2:, None] - edges[1:-1, None])
    return up.minimum(down).clamp(min=0.0)


class ConvModule(torch.nn.Module):
    def __init__(self, d_model: int, kernel_size: int):
        super().__init__()
        self.norm = torch.nn.LayerNorm(d_model)
        self.pointwise_in = torch.nn.Conv1d(d_model, 2 * d_model, 1)
        self.depthwise = torch.nn.Conv1d(d_model, d_model, kernel_size, padding=kernel_size // 2, groups=d_model)
        self.batch_norm = torch.nn.BatchNorm1d(d_model)
        self.pointwise_out = torch.nn.Conv1d(d_model, d_model, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.glu(self.pointwise_in(self.norm(x).transpose(1, 2)), dim=1)
        return self.pointwise_out(F.silu(self.batch_norm(self.depthwise(h)))).transpose(1, 2)

"""From a waveform to a log-mel spectrogram: short-time Fourier transform, mel filterbank, logarithm."""
from __future__ import annotations

import torch


def hz_to_mel(f: torch.Tensor) -> torch.Tensor:
    return 2595.0 * torch.log10(1.0 + f / 700.0)


def mel_to_hz(m: torch.Tensor) -> torch.Tensor:
    return 700.0 * (10 ** (m / 2595.0) - 1.0)


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int, f_min: float = 0.0,
                   f_max: float | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(n_mels, n_fft//2 + 1) triangular filters, evenly spaced on the mel scale (HTK formula)."""
    f_max = sample_rate / 2 if f_max is None else f_max
    low, high = hz_to_mel(torch.tensor([f_min, f_max], dtype=dtype)).tolist()
    edges = mel_to_hz(torch.linspace(low, high, n_mels + 2, dtype=dtype))  # (n_mels + 2,)
    freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=dtype)
    lower, center, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs - lower) / (center - lower)
    falling = (upper - freqs) / (upper - center)
    return rising.minimum(falling).clamp(min=0.0)


def log_mel_spectrogram(wave: torch.Tensor, sample_rate: int, n_fft: int = 256, hop: int = 80,
                        n_mels: int = 40, eps: float = 1e-6) -> torch.Tensor:
    """wave (B, N) or (N,) -> (B, frames, n_mels) or (frames, n_mels), frames = 1 + N // hop."""
    squeeze = wave.dim() == 1
    wave = wave[None] if squeeze else wave
    window = torch.hann_window(n_fft, device=wave.device, dtype=torch.float32)
    spec = torch.stft(wave.float(), n_fft, hop, window=window, return_complex=True)  # (B, F, frames)
    power = spec.abs() ** 2
    mel = mel_filterbank(n_mels, n_fft, sample_rate).to(wave.device) @ power  # (B, n_mels, frames)
    out = torch.log(mel + eps).transpose(1, 2).to(wave.dtype if wave.is_floating_point() else torch.float32)
    return out[0] if squeeze else out


"""Checks of assignment 8: framing, the mel filterbank, the log-mel spectrogram, convolutional subsampling, the
Conformer's convolution module and block, the CTC loss (values and gradients) and greedy CTC decoding. Expected
values come from reference_impl and PyTorch (torch.stft, F.ctc_loss); each check lists the mistakes students
typically make, as variants.

Margins (measured over the visible cases and 50 hidden draws, as the worst |answer - expected| / (atol + rtol *
|expected|), where 1 is the edge of the tolerance): frames 0 (pure indexing: unfold, a loop, as_strided); mel-filterbank
(composite) <= 0.05 for float32 edges from torch or math, torchaudio-style slopes and a float64 computation cast
back; log-mel (composite) <= 0.11 for rfft, torch.stft, real**2 + imag**2 and float64 styles; ctc-loss (composite)
<= 0.014 for the log-space recursion in float32 or float64 and a scaled probability-space recursion."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from reference_impl.conformer import ConformerBlock, ConvModule, ConvSubsampling
from reference_impl.spectrogram import hz_to_mel, mel_filterbank, mel_to_hz

from autograder.grading.parts import Call, Case, ChoiceCheck, Outputs, PartCheck

from . import standins

NOT_APPLICABLE: Outputs = [torch.empty(0)]  # a mistake that cannot be written for this case


def _state(c: Case) -> dict[str, torch.Tensor]:
    return {k.removeprefix("state."): v for k, v in c.tensors.items() if k.startswith("state.")}


def _linear_state(g: torch.Generator, name: str, d_in: int, d_out: int) -> dict[str, torch.Tensor]:
    return {f"state.{name}.weight": torch.randn(d_out, d_in, generator=g) / math.sqrt(d_in),
            f"state.{name}.bias": torch.randn(d_out, generator=g) * 0.3}


def _norm_state(g: torch.Generator, name: str, d: int) -> dict[str, torch.Tensor]:
    return {f"state.{name}.weight": 1 + 0.3 * torch.randn(d, generator=g), f"state.{name}.bias": 0.3 * torch.randn(d, generator=g)}


# ---- framing -----------------------------------------------------------------------------------------------

def _frames_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    def case(label: str, b: int, n: int, n_fft: int, hop: int) -> Case:
        return Case(label, {"wave": torch.randn(b, n, generator=g)}, Call(args=("wave",), options={"n_fft": n_fft, "hop": hop}))

    if not hidden:
        return [case("a batch of clips", 2, 200, 32, 8), case("a hop that does not divide the length", 1, 101, 16, 6),
                case("one clip, half-overlapping frames", 1, 64, 16, 8)]
    return [case("a batch of clips", 3, 300, 64, 16), case("a hop that does not divide the length", 2, 157, 32, 10),
            case("one clip, half-overlapping frames", 1, 96, 32, 16)]


def _frames(c: Case, pad: str | None = "reflect", step: str = "hop") -> Outputs:
    """torch.stft's framing (center=True, reflect padding), or a typical mistake: no padding, zero padding, or
    frames that do not overlap (stepping by n_fft instead of hop)."""
    wave, n_fft, hop = c.tensors["wave"], c.call.options["n_fft"], c.call.options["hop"]
    if pad is not None:
        wave = F.pad(wave[:, None], (n_fft // 2, n_fft // 2), mode=pad)[:, 0]
    return [wave.unfold(-1, n_fft, n_fft if step == "n_fft" else hop).clone()]


FRAMES = PartCheck(
    id="frames", target="frames", kind="function", op="elementwise", outputs=["frames"],
    cases=_frames_cases, reference=_frames,
    variants={
        "no_padding": ("the clip is not padded: centre the frames by reflecting n_fft // 2 samples at both ends "
                       "(torch.stft's center=True), so there are 1 + N // hop frames", lambda c: _frames(c, pad=None)),
        "zero_padding": ("the clip is padded with zeros; pad it by reflection (mode='reflect'), as torch.stft does",
                         lambda c: _frames(c, pad="constant")),
        "step_n_fft": ("consecutive frames start n_fft samples apart; they start hop samples apart and overlap",
                       lambda c: _frames(c, step="n_fft")),
    })


# ---- mel filterbank ----------------------------------------------------------------------------------------

def _mel_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    del g  # the filterbank depends on its sizes only; hidden cases use other sizes

    def case(label: str, n_mels: int, n_fft: int, sample_rate: int) -> Case:
        return Case(label, {}, Call(options={"n_mels": n_mels, "n_fft": n_fft, "sample_rate": sample_rate}))

    if not hidden:
        return [case("speech-like settings", 40, 256, 8000), case("few wide filters", 6, 64, 16000)]
    return [case("speech-like settings", 32, 512, 16000), case("few wide filters", 5, 128, 8000)]


def _mel(c: Case, scale: str = "mel", grid_top: str = "nyquist", area: bool = False) -> Outputs:
    """The reference computed in float64 and rounded to float32 (a float32 filterbank is off by up to ~1e-5 near
    the edges, whichever way it is written), or a typical mistake: edges evenly spaced in Hz, a frequency grid up
    to the sample rate, or Slaney-style filters scaled to unit area."""
    o = c.call.options
    n_mels, n_fft, sr = o["n_mels"], o["n_fft"], o["sample_rate"]
    if scale == "mel" and grid_top == "nyquist" and not area:
        return [mel_filterbank(n_mels, n_fft, sr, dtype=torch.float64).float()]
    edges = (torch.linspace(0, sr / 2, n_mels + 2) if scale == "hz"
             else mel_to_hz(torch.linspace(0.0, hz_to_mel(torch.tensor(sr / 2)).item(), n_mels + 2)))
    freqs = torch.linspace(0, sr if grid_top == "sample_rate" else sr / 2, n_fft // 2 + 1)
    lower, center, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    bank = torch.minimum((freqs - lower) / (center - lower), (upper - freqs) / (upper - center)).clamp(min=0.0)
    return [bank * 2.0 / (upper - lower) if area else bank]


MEL_FILTERBANK = PartCheck(
    id="mel-filterbank", target="mel_filterbank", kind="function", op="composite", outputs=["filterbank"],
    cases=_mel_cases, reference=_mel,
    variants={
        "linear_hz": ("the filters are evenly spaced in Hz; space their edges evenly on the mel scale "
                      "(2595 log10(1 + f / 700)), then convert them back to Hz", lambda c: _mel(c, scale="hz")),
        "grid_to_sample_rate": ("the FFT bins' frequencies run up to the sample rate; the n_fft // 2 + 1 bins of "
                                "rfft run from 0 to sample_rate / 2 (the Nyquist frequency)",
                                lambda c: _mel(c, grid_top="sample_rate")),
        "area_normalized": ("the filters are scaled to unit area; here every triangle peaks at 1 (no normalization)",
                            lambda c: _mel(c, area=True)),
    })


# ---- log-mel spectrogram -----------------------------------------------------------------------------------

def _logmel_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    def case(label: str, b: int, n: int, silence: int, sr: int, n_fft: int, hop: int, n_mels: int) -> Case:
        t = torch.arange(n) / sr
        freqs = torch.rand(b, 2, 1, generator=g) * sr / 2.5 + 100
        wave = (torch.sin(2 * math.pi * freqs * t).sum(1) + 0.1 * torch.randn(b, n, generator=g)) * 0.5
        wave[:, n - silence:] = 0.0  # trailing digital silence: exact zeros, whose log needs eps
        return Case(label, {"wave": wave}, Call(args=("wave",), options={"sample_rate": sr, "n_fft": n_fft, "hop": hop, "n_mels": n_mels},
                                                substitute={"frames": standins.frames, "mel_filterbank": standins.mel_filterbank}))

    if not hidden:
        return [case("two tones, then silence", 2, 800, 300, 8000, 64, 16, 12),
                case("another sample rate, hop and size", 1, 1200, 400, 16000, 128, 40, 20)]
    return [case("two tones, then silence", 3, 1000, 400, 8000, 128, 32, 16),
            case("another sample rate, hop and size", 2, 1500, 500, 16000, 64, 24, 10)]


def _logmel(c: Case, window: str = "hann", power: float = 2.0, eps: float = 1e-6) -> Outputs:
    """torch.stft in float64 with reference_impl's float32 filterbank (bit for bit the stand-in that the student's
    code calls), rounded to float32; or a typical mistake: no window (rectangular), a symmetric Hann window, the
    magnitude instead of the power, or the log without eps. The filterbank must be the student's own: its float32
    rounding near the triangles' edges (~1e-6) times a loud tone's bin (power ~250) moves a quiet band's log by
    up to ~1e-3, far more than the spectrum's rounding, which is all that is left between float32 styles."""
    o, wave, n_fft = c.call.options, c.tensors["wave"].double(), c.call.options["n_fft"]
    f64 = torch.float64
    w = {"none": torch.ones(n_fft, dtype=f64), "symmetric": torch.hann_window(n_fft, periodic=False, dtype=f64),
         "hann": torch.hann_window(n_fft, dtype=f64)}[window]
    spec = torch.stft(wave, n_fft, o["hop"], window=w, return_complex=True).abs() ** power  # (B, F, frames)
    mel = mel_filterbank(o["n_mels"], n_fft, o["sample_rate"]).double() @ spec  # (B, n_mels, frames)
    return [torch.log(mel + eps).transpose(1, 2).float()]


LOG_MEL = PartCheck(
    id="log-mel-spectrogram", target="log_mel_spectrogram", kind="function", op="composite", outputs=["log_mel"],
    cases=_logmel_cases, reference=_logmel,
    variants={
        "no_window": ("the frames are not windowed: multiply each frame by torch.hann_window(n_fft) before the FFT",
                      lambda c: _logmel(c, window="none")),
        "symmetric_window": ("the Hann window is the symmetric one; use the periodic window torch.hann_window(n_fft) "
                             "(its default), as torch.stft does", lambda c: _logmel(c, window="symmetric")),
        "magnitude": ("the filterbank is applied to the magnitude |X|; apply it to the power |X|^2",
                      lambda c: _logmel(c, power=1.0)),
        "no_eps": ("the log is taken without eps: silent frames give -inf; take log(mel + eps)",
                   lambda c: _logmel(c, eps=0.0)),
    })


# ---- convolutional subsampling -----------------------------------------------------------------------------

def _sub_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    def case(label: str, b: int, t: int, n_mels: int, d: int, ch: int, lengths: list[int]) -> Case:
        freq = ((n_mels - 1) // 2 - 1) // 2
        tensors = {"feats": torch.randn(b, t, n_mels, generator=g), "lengths": torch.tensor(lengths),
                   "state.conv1.weight": torch.randn(ch, 1, 3, 3, generator=g) / 3, "state.conv1.bias": 0.3 * torch.randn(ch, generator=g),
                   "state.conv2.weight": torch.randn(ch, ch, 3, 3, generator=g) / (3 * math.sqrt(ch)),
                   "state.conv2.bias": 0.3 * torch.randn(ch, generator=g), **_linear_state(g, "proj", ch * freq, d)}
        return Case(label, tensors, Call(init={"n_mels": n_mels, "d_model": d, "channels": ch}, args=("feats", "lengths")))

    if not hidden:
        return [case("a padded batch", 2, 21, 12, 8, 4, [21, 14]), case("one channel, odd sizes", 1, 15, 9, 4, 1, [15]),
                case("lengths that are multiples of 4", 3, 24, 16, 6, 3, [24, 16, 8])]
    return [case("a padded batch", 3, 30, 16, 12, 4, [30, 17, 10]), case("one channel, odd sizes", 2, 19, 11, 6, 1, [19, 13]),
            case("lengths that are multiples of 4", 2, 32, 20, 8, 2, [32, 20])]


def _sub(c: Case, order: str = "channel_freq", lengths: str = "conv", relu: bool = True) -> Outputs:
    """reference_impl's ConvSubsampling, or a typical mistake: features flattened as (freq, channel), lengths
    divided by 4, or no ReLU after the convolutions."""
    init, state = c.call.init, _state(c)
    m = ConvSubsampling(init["n_mels"], init["d_model"], init["channels"])
    m.load_state_dict({k.replace("conv1", "conv.0").replace("conv2", "conv.2"): v for k, v in state.items()})
    feats, n = c.tensors["feats"], c.tensors["lengths"]
    out_len = ConvSubsampling.output_lengths(n) if lengths == "conv" else n // 4
    with torch.no_grad():
        if order == "channel_freq" and relu:
            return [m(feats), out_len]
        act = F.relu if relu else (lambda x: x)
        x = act(m.conv[2](act(m.conv[0](feats[:, None]))))  # (B, C, T', F')
        x = x.permute(0, 2, 1, 3) if order == "channel_freq" else x.permute(0, 2, 3, 1)
        return [m.proj(x.flatten(2)), out_len]


SUBSAMPLING = PartCheck(
    id="conv-subsampling", target="ConvSubsampling", kind="module", op="composite", outputs=["output", "lengths"],
    cases=_sub_cases, reference=_sub,
    variants={
        "flatten_freq_channel": ("the features are flattened as (frequency, channel); move the time axis next to the "
                                 "batch and flatten (channel, frequency): x.transpose(1, 2).flatten(2)",
                                 lambda c: _sub(c, order="freq_channel")),
        "lengths_quarter": ("the output lengths are lengths // 4; each unpadded 3-wide convolution with stride 2 maps a "
                            "length L to (L - 3) // 2 + 1", lambda c: _sub(c, lengths="quarter")),
        "no_relu": ("there is no ReLU after the convolutions: apply one after each", lambda c: _sub(c, relu=False)),
    })


# ---- the convolution module --------------------------------------------------------------------------------

def _conv_state(g: torch.Generator, d: int, k: int, prefix: str = "state.") -> dict[str, torch.Tensor]:
    t = {**_norm_state(g, "norm", d),
         "state.pointwise_in.weight": torch.randn(2 * d, d, 1, generator=g) / math.sqrt(d),
         "state.pointwise_in.bias": 0.3 * torch.randn(2 * d, generator=g),
         "state.depthwise.weight": torch.randn(d, 1, k, generator=g) / math.sqrt(k),
         "state.depthwise.bias": 0.3 * torch.randn(d, generator=g),
         **_norm_state(g, "batch_norm", d),
         "state.batch_norm.running_mean": 0.3 * torch.randn(d, generator=g),
         "state.batch_norm.running_var": 0.5 + torch.rand(d, generator=g),
         "state.batch_norm.num_batches_tracked": torch.tensor(100),
         "state.pointwise_out.weight": torch.randn(d, d, 1, generator=g) / math.sqrt(d),
         "state.pointwise_out.bias": 0.3 * torch.randn(d, generator=g)}
    return {prefix + k.removeprefix("state."): v for k, v in t.items()}


def _convmod_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    def case(label: str, b: int, t: int, d: int, k: int) -> Case:
        return Case(label, {"x": torch.randn(b, t, d, generator=g), **_conv_state(g, d, k)},
                    Call(init={"d_model": d, "kernel_size": k}, args=("x",)))

    if not hidden:
        return [case("a batch of sequences", 2, 9, 8, 5), case("a kernel wider than the sequence", 1, 4, 4, 7),
                case("kernel size 1", 2, 5, 6, 1)]
    return [case("a batch of sequences", 3, 12, 16, 7), case("a kernel wider than the sequence", 2, 3, 8, 5),
            case("kernel size 1", 1, 6, 4, 1)]


def _convmod(c: Case, act: str = "silu", batch_norm: bool = True, glu: str = "first_gated", norm: bool = True) -> Outputs:
    """reference_impl's ConvModule, or a typical mistake: ReLU instead of Swish, no BatchNorm, the GLU's halves
    swapped (the second half gated by the first), or no LayerNorm in front."""
    m = ConvModule(c.call.init["d_model"], c.call.init["kernel_size"]).eval()
    m.load_state_dict(_state(c))
    x = c.tensors["x"]
    with torch.no_grad():
        if act == "silu" and batch_norm and glu == "first_gated" and norm:
            return [m(x)]
        h = m.pointwise_in((m.norm(x) if norm else x).transpose(1, 2))
        a, b = h.chunk(2, dim=1)
        h = a * torch.sigmoid(b) if glu == "first_gated" else b * torch.sigmoid(a)
        h = m.depthwise(h)
        h = m.batch_norm(h) if batch_norm else h
        h = F.silu(h) if act == "silu" else F.relu(h)
        return [m.pointwise_out(h).transpose(1, 2)]


CONV_MODULE = PartCheck(
    id="conv-module", target="ConvModule", kind="module", op="composite", outputs=["output"],
    cases=_convmod_cases, reference=_convmod,
    variants={
        "relu": ("the activation after BatchNorm is ReLU; the Conformer uses Swish (SiLU): x * sigmoid(x)",
                 lambda c: _convmod(c, act="relu")),
        "no_batch_norm": ("BatchNorm is missing between the depthwise convolution and Swish",
                          lambda c: _convmod(c, batch_norm=False)),
        "glu_swapped": ("the GLU gates the wrong half: GLU(a, b) = a * sigmoid(b), with a the first half of the "
                        "channels (F.glu(h, dim=1))", lambda c: _convmod(c, glu="second_gated")),
        "no_layer_norm": ("the input is not normalized: the module starts with LayerNorm (self.norm)",
                          lambda c: _convmod(c, norm=False)),
    })


# ---- the Conformer block -----------------------------------------------------------------------------------

def _ff_state(g: torch.Generator, name: str, d: int) -> dict[str, torch.Tensor]:
    return {**_norm_state(g, f"{name}.0", d), **_linear_state(g, f"{name}.1", d, 4 * d), **_linear_state(g, f"{name}.3", 4 * d, d)}


def _block_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    def case(label: str, b: int, t: int, d: int, h: int, k: int) -> Case:
        tensors = {"x": torch.randn(b, t, d, generator=g), **_ff_state(g, "ff1", d), **_norm_state(g, "attn_norm", d),
                   "state.attn.in_proj_weight": torch.randn(3 * d, d, generator=g) / math.sqrt(d),
                   "state.attn.in_proj_bias": 0.3 * torch.randn(3 * d, generator=g),
                   **_linear_state(g, "attn.out_proj", d, d), **_conv_state(g, d, k, "state.conv."),
                   **_ff_state(g, "ff2", d), **_norm_state(g, "final_norm", d)}
        return Case(label, tensors, Call(init={"d_model": d, "n_heads": h, "kernel_size": k}, args=("x",),
                                         substitute={"ConvModule": standins.ConvModule}))

    if not hidden:
        return [case("a batch of sequences", 2, 6, 8, 2, 3), case("one head", 1, 5, 4, 1, 5), case("four heads", 2, 4, 16, 4, 3)]
    return [case("a batch of sequences", 3, 8, 16, 4, 5), case("one head", 2, 6, 8, 1, 3), case("four heads", 1, 7, 32, 4, 7)]


def _reference_block(c: Case) -> ConformerBlock:
    """reference_impl's block holding the case's weights, named as the notebook names them."""
    init = c.call.init
    m = ConformerBlock(init["d_model"], init["n_heads"], init["kernel_size"]).eval()
    s, d = _state(c), init["d_model"]
    w_q, w_k, w_v = s.pop("attn.in_proj_weight").split(d)
    b_q, b_k, b_v = s.pop("attn.in_proj_bias").split(d)
    s |= {"attn.w_q.weight": w_q, "attn.w_k.weight": w_k, "attn.w_v.weight": w_v,
          "attn.w_q.bias": b_q, "attn.w_k.bias": b_k, "attn.w_v.bias": b_v,
          "attn.w_o.weight": s.pop("attn.out_proj.weight"), "attn.w_o.bias": s.pop("attn.out_proj.bias")}
    for ff in ("ff1", "ff2"):
        s |= {f"{ff}_norm.{p}": s.pop(f"{ff}.0.{p}") for p in ("weight", "bias")}
        s |= {f"{ff}.linear1.{p}": s.pop(f"{ff}.1.{p}") for p in ("weight", "bias")}
        s |= {f"{ff}.linear2.{p}": s.pop(f"{ff}.3.{p}") for p in ("weight", "bias")}
    m.load_state_dict(s)
    return m


def _block(c: Case, half: float = 0.5, final_norm: bool = True, attn_norm: bool = True, conv_residual: bool = True) -> Outputs:
    """The reference block, or a typical mistake: full-step feed-forward modules, no final LayerNorm, attention
    on the unnormalized input, or the convolution module without its residual connection."""
    m, x = _reference_block(c), c.tensors["x"]
    with torch.no_grad():
        if half == 0.5 and final_norm and attn_norm and conv_residual:
            return [m(x)]
        x = x + half * m.ff1(m.ff1_norm(x))
        x = x + m.attn(m.attn_norm(x) if attn_norm else x, need_weights=False)[0]
        x = x + m.conv(x) if conv_residual else m.conv(x)
        x = x + half * m.ff2(m.ff2_norm(x))
        return [m.final_norm(x) if final_norm else x]


BLOCK = PartCheck(
    id="conformer-block", target="ConformerBlock", kind="module", op="composite", outputs=["output"],
    cases=_block_cases, reference=_block,
    variants={
        "full_step": ("the feed-forward modules add their full output; the Conformer's two feed-forward modules are "
                      "half-step: x + 0.5 * ff(x)", lambda c: _block(c, half=1.0)),
        "no_final_norm": ("the block does not end with LayerNorm: return final_norm(x)", lambda c: _block(c, final_norm=False)),
        "attention_unnormalized": ("self-attention reads x itself; it reads attn_norm(x) (pre-norm), and its output is "
                                   "added to x", lambda c: _block(c, attn_norm=False)),
        "no_conv_residual": ("the convolution module's output replaces x; add it: x + conv(x)",
                             lambda c: _block(c, conv_residual=False)),
    })


# ---- the CTC loss ------------------------------------------------------------------------------------------

def _ctc_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    def case(label: str, t: int, c: int, targets: list[list[int]], input_lengths: list[int]) -> Case:
        s = max(len(y) for y in targets)
        padded = torch.tensor([y + [0] * (s - len(y)) for y in targets])
        log_probs = (2 * torch.randn(t, len(targets), c, generator=g)).log_softmax(-1)
        tensors = {"log_probs": log_probs, "targets": padded, "input_lengths": torch.tensor(input_lengths),
                   "target_lengths": torch.tensor([len(y) for y in targets])}
        return Case(label, tensors, Call(args=("log_probs", "targets", "input_lengths", "target_lengths"), gradients=("log_probs",)))

    if not hidden:
        return [case("repeated labels", 8, 4, [[1, 1, 2], [3, 3, 3]], [8, 8]),
                case("a padded batch", 10, 6, [[2, 5, 1, 4], [3, 3], [5]], [10, 7, 4]),
                case("one label", 5, 3, [[2]], [5])]
    return [case("repeated labels", 12, 5, [[2, 2, 1, 1], [4, 4, 4], [1, 3, 3]], [12, 12, 12]),
            case("a padded batch", 14, 7, [[6, 1, 1, 2, 5], [4, 2], [3]], [14, 9, 5]),
            case("one label", 6, 4, [[3]], [6])]


def _ctc_forward(log_probs: torch.Tensor, targets: torch.Tensor, input_lengths: torch.Tensor,
                 target_lengths: torch.Tensor, skip_equal: bool, end_on_label: bool) -> torch.Tensor:
    """-log p(target | input) per item, by the forward recursion (for the mistakes, which F.ctc_loss cannot make)."""
    t_max, b, _ = log_probs.shape
    ext = torch.zeros(b, 2 * targets.size(1) + 1, dtype=torch.long)
    ext[:, 1::2] = targets
    skip = torch.zeros_like(ext, dtype=torch.bool)
    skip[:, 2:] = (ext[:, 2:] != 0) & ((ext[:, 2:] != ext[:, :-2]) | skip_equal)
    emit = log_probs.gather(2, ext[None].expand(t_max, -1, -1))
    impossible = torch.full_like(emit[0], -1e30)
    alpha = impossible.clone()
    alpha[:, :2] = emit[0, :, :2]
    for t in range(1, t_max):
        one = torch.cat([impossible[:, :1], alpha[:, :-1]], 1)
        two = torch.cat([impossible[:, :2], alpha[:, :-2]], 1).masked_fill(~skip, -1e30)
        alpha = torch.where((t < input_lengths)[:, None], torch.logsumexp(torch.stack([alpha, one, two]), 0) + emit[t], alpha)
    rows, last = torch.arange(b), 2 * target_lengths
    end = torch.logaddexp(alpha[rows, last], alpha[rows, last - 1]) if end_on_label else alpha[rows, last]
    return -end


def _ctc(c: Case, skip_equal: bool = False, end_on_label: bool = True, reduction: str = "mean",
         pytorch_backward: bool = False) -> Outputs:
    """F.ctc_loss (reduction 'mean': the batch mean of loss / target length) and the gradient of it with respect to
    log_probs; or a typical mistake. PyTorch's backward for ctc_loss gives p - gamma (the gradient with respect to
    the logits under a log_softmax, folded in for speed); the gradient with respect to log_probs themselves, which
    autograd finds through a hand-written recursion, is -gamma: p times the reduction's scale less, on the frames
    within each input length. The mistake pytorch_backward is F.ctc_loss called directly: the right loss with
    PyTorch's p - gamma as its gradient."""
    t = c.tensors
    lp = t["log_probs"].detach().requires_grad_(True)
    args = (t["targets"], t["input_lengths"], t["target_lengths"])
    if not skip_equal and end_on_label and reduction == "mean":
        loss = F.ctc_loss(lp, *args, blank=0, reduction="mean")
        (grad,) = torch.autograd.grad(loss, lp)
        if pytorch_backward:
            return [loss.detach(), grad]
        scale = 1.0 / (t["target_lengths"].float() * lp.size(1))  # (B,)
        inside = (torch.arange(lp.size(0))[:, None] < t["input_lengths"][None]).float()  # (T, B)
        return [loss.detach(), grad - lp.detach().exp() * (scale * inside)[..., None]]
    per_item = _ctc_forward(lp, *args, skip_equal=skip_equal, end_on_label=end_on_label)
    loss = {"mean": (per_item / t["target_lengths"]).mean(), "sum": per_item.sum(), "mean_raw": per_item.mean()}[reduction]
    (grad,) = torch.autograd.grad(loss, lp)
    return [loss.detach(), grad]


CTC_LOSS = PartCheck(
    id="ctc-loss", target="ctc_loss", kind="function", op="composite", outputs=["loss", "gradient"],
    cases=_ctc_cases, reference=_ctc,
    variants={
        "skip_between_equal_labels": ("a path may jump from a label straight to the same label again; between two "
                                      "equal labels it must pass through a blank, or 'aa' would read as 'a'",
                                      lambda c: _ctc(c, skip_equal=True)),
        "end_on_blank_only": ("paths may only end on the final blank; they may also end on the last label",
                              lambda c: _ctc(c, end_on_label=False)),
        "sum_reduction": ("the losses are summed over the batch; return the mean over the batch of loss / target length",
                          lambda c: _ctc(c, reduction="sum")),
        "mean_not_per_label": ("the batch mean is not divided by the target lengths; return the mean over the batch "
                               "of loss / target length", lambda c: _ctc(c, reduction="mean_raw")),
        "pytorch_backward": ("the loss matches F.ctc_loss but the gradient is PyTorch's p - gamma, not -gamma: "
                             "F.ctc_loss's backward assumes log_probs come from a log_softmax and returns the "
                             "gradient with respect to the logits. Write the forward recursion out, so that autograd "
                             "differentiates it", lambda c: _ctc(c, pytorch_backward=True)),
    })


# ---- greedy CTC decoding -----------------------------------------------------------------------------------

def _path_log_probs(g: torch.Generator, path: list[int], n_classes: int) -> torch.Tensor:
    """(T, C) log-probabilities whose per-frame argmax is `path`, with some noise."""
    logits = torch.randn(len(path), n_classes, generator=g)
    logits[torch.arange(len(path)), torch.tensor(path)] += 4.0
    return logits.log_softmax(-1)


def _decode_cases(g: torch.Generator, hidden: bool) -> list[Case]:
    def case(label: str, path: list[int], length: int, c: int, blank: int) -> Case:
        tensors = {"log_probs": _path_log_probs(g, path, c), "length": torch.tensor(length)}
        return Case(label, tensors, Call(args=("log_probs", "length"), options={"blank": blank}, as_python={"length": "int"},
                                         returns="ints"))

    # after `length` come padding frames whose argmax is a label: code that ignores the length decodes them too
    if not hidden:
        return [case("a double letter", [0, 3, 3, 0, 3, 2, 2, 0, 4, 4], 8, 5, 0),
                case("another blank id", [4, 1, 1, 4, 1, 4, 2, 2, 0, 3], 8, 5, 4),
                case("only blanks before the padding", [0, 0, 0, 0, 2, 1], 4, 3, 0)]
    return [case("a double letter", [0, 5, 5, 0, 5, 0, 1, 1, 2, 0, 3, 6], 10, 7, 0),
            case("another blank id", [6, 2, 6, 2, 2, 3, 6, 6, 1, 0, 4], 9, 7, 6),
            case("only blanks before the padding", [0, 0, 0, 3, 1], 3, 4, 0)]


def _decode(c: Case, blanks_first: bool = False, use_length: bool = True, merge: bool = True) -> Outputs:
    """The best label per frame, repeats merged, then blanks removed; or a typical mistake."""
    blank, n = c.call.options["blank"], int(c.tensors["length"])
    best = c.tensors["log_probs"].argmax(-1).tolist()[:n if use_length else None]
    if blanks_first:
        best = [tok for tok in best if tok != blank]
    out = [tok for i, tok in enumerate(best) if (i == 0 or tok != best[i - 1] or not merge) and tok != blank]
    return [torch.tensor(out, dtype=torch.long)]


GREEDY = PartCheck(
    id="ctc-greedy-decode", target="ctc_greedy_decode", kind="function", op="elementwise", outputs=["labels"],
    cases=_decode_cases, reference=_decode,
    variants={
        "blanks_first": ("blanks are removed before repeats are merged, which merges a real double letter; merge "
                         "repeats first, then remove blanks", lambda c: _decode(c, blanks_first=True)),
        "ignores_length": ("frames after `length` are decoded too; they are padding: decode log_probs[:length] only",
                           lambda c: _decode(c, use_length=False)),
        "no_merge": ("repeated labels are not merged; a label held over several frames is one label",
                     lambda c: _decode(c, merge=False)),
    })

WHY_BLANK = ChoiceCheck(id="why-blank", target="answer_why_blank", options=["a", "b", "c", "d"])
ATTENTION_COST = ChoiceCheck(id="attention-cost", target="answer_attention_cost", options=["a", "b", "c", "d"])

PARTS = [FRAMES, MEL_FILTERBANK, LOG_MEL, SUBSAMPLING, ATTENTION_COST, CONV_MODULE, BLOCK, WHY_BLANK, CTC_LOSS, GREEDY]

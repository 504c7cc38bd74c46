"""Assignment 8: speech Transformers: typical mistakes, as edits of the source notebook's solutions.

Each entry of MISTAKES: (name, the part that must lose points, [(old, new) edits], words the grader's message must
contain). The tests grade every one; `autograder demo` gives the first one to its example student with a bug.
MANUAL lists the parts graded by hand. STYLES: correct answers written in other styles, as edits of the solutions;
each must earn full marks.
"""
PAD = '    padded = F.pad(wave[:, None], (half, half), mode="reflect")[:, 0]  # (B, N + 2 * half)\n'
EDGES = "    edges = mel_to_hz(torch.linspace(0.0, top, n_mels + 2))  # (n_mels + 2,) in Hz\n"
GRID = "    freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1)  # (F,) the rfft bins\n"
SPECTRUM = "    spectrum = torch.fft.rfft(frames(wave, n_fft, hop) * window)  # (B, T, n_fft // 2 + 1), complex\n"
LOG_MEL = ("    window = torch.hann_window(n_fft, device=wave.device)\n" + SPECTRUM + "    power = spectrum.abs() ** 2\n"
           "    mel = power @ mel_filterbank(n_mels, n_fft, sample_rate).to(wave.device).T  # (B, T, n_mels)\n"
           "    return torch.log(mel + eps)\n")
GLU = "        h = F.glu(self.pointwise_in(h), dim=1)  # (B, 2d, T) -> (B, d, T)\n"
SKIP = "    can_skip[:, 2:] = (ext[:, 2:] != blank) & (ext[:, 2:] != ext[:, :-2])\n"
END = "    log_p = torch.logaddexp(alpha[rows, last], alpha[rows, last - 1])  # end on the final blank or the last label\n"
DECODE = "    return [tok for i, tok in enumerate(best) if tok != blank and (i == 0 or tok != best[i - 1])]\n"

MISTAKES = [
    ("frames without padding", "frames", [(PAD, "    padded = wave\n")], "not padded"),
    ("frames padded with zeros", "frames", [(PAD, PAD.replace('mode="reflect"', 'mode="constant"'))], "padded with zeros"),
    ("frames that do not overlap", "frames", [("return padded.unfold(-1, n_fft, hop)", "return padded.unfold(-1, n_fft, n_fft)")],
     "n_fft samples apart"),
    ("mel filters evenly spaced in Hz", "mel-filterbank",
     [(EDGES, "    edges = torch.linspace(0.0, sample_rate / 2, n_mels + 2)\n")], "evenly spaced in Hz"),
    ("FFT bins up to the sample rate", "mel-filterbank",
     [(GRID, "    freqs = torch.linspace(0, sample_rate, n_fft // 2 + 1)\n")], "Nyquist"),
    ("filters normalized to unit area", "mel-filterbank",
     [("    return torch.minimum(rising, falling).clamp(min=0.0)  # (n_mels, F)",
       "    return torch.minimum(rising, falling).clamp(min=0.0) * 2 / (upper - lower)")], "unit area"),
    ("no window", "log-mel-spectrogram", [(SPECTRUM, "    spectrum = torch.fft.rfft(frames(wave, n_fft, hop))\n")], "not windowed"),
    ("symmetric Hann window", "log-mel-spectrogram",
     [("window = torch.hann_window(n_fft, device=wave.device)", "window = torch.hann_window(n_fft, periodic=False, device=wave.device)")],
     "symmetric"),
    ("magnitude instead of power", "log-mel-spectrogram", [("power = spectrum.abs() ** 2", "power = spectrum.abs()")], "magnitude"),
    ("log without eps", "log-mel-spectrogram", [("return torch.log(mel + eps)", "return torch.log(mel)")], "without eps"),
    ("flattened as (frequency, channel)", "conv-subsampling",
     [("x = self.proj(x.transpose(1, 2).flatten(2))", "x = self.proj(x.permute(0, 2, 3, 1).flatten(2))")], "(frequency, channel)"),
    ("output lengths divided by 4", "conv-subsampling",
     [("return x, ((lengths - 3) // 2 + 1 - 3) // 2 + 1", "return x, lengths // 4")], "lengths // 4"),
    ("no ReLU in the subsampling", "conv-subsampling",
     [("x = F.relu(self.conv2(F.relu(self.conv1(feats[:, None]))))", "x = self.conv2(self.conv1(feats[:, None]))")], "no ReLU"),
    ("ReLU instead of Swish", "conv-module",
     [("h = F.silu(self.batch_norm(self.depthwise(h)))", "h = F.relu(self.batch_norm(self.depthwise(h)))")], "Swish"),
    ("no BatchNorm", "conv-module",
     [("h = F.silu(self.batch_norm(self.depthwise(h)))", "h = F.silu(self.depthwise(h))")], "BatchNorm is missing"),
    ("GLU gates the wrong half", "conv-module",
     [(GLU, "        a, b = self.pointwise_in(h).chunk(2, dim=1)\n        h = b * torch.sigmoid(a)\n")], "wrong half"),
    ("depthwise convolution without groups", "conv-module", [(", groups=d_model)", ")")], "depthwise.weight"),
    ("full-step feed-forward modules", "conformer-block",
     [("x = x + 0.5 * self.ff1(x)", "x = x + self.ff1(x)"), ("x = x + 0.5 * self.ff2(x)", "x = x + self.ff2(x)")], "half-step"),
    ("no final LayerNorm", "conformer-block", [("        return self.final_norm(x)\n", "        return x\n")], "final_norm"),
    ("attention on the unnormalized input", "conformer-block", [("h = self.attn_norm(x)\n", "h = x\n")], "attn_norm"),
    ("no residual around the convolution module", "conformer-block", [("x = x + self.conv(x)", "x = self.conv(x)")], "x + conv(x)"),
    ("skip allowed between equal labels", "ctc-loss", [(SKIP, "    can_skip[:, 2:] = ext[:, 2:] != blank\n")], "must pass through a blank"),
    ("paths end only on the final blank", "ctc-loss", [(END, "    log_p = alpha[rows, last]\n")], "end on the last label"),
    ("losses summed over the batch", "ctc-loss", [("return (-log_p / target_lengths).mean()", "return (-log_p).sum()")], "summed"),
    ("mean not divided by the target lengths", "ctc-loss", [("return (-log_p / target_lengths).mean()", "return (-log_p).mean()")],
     "not divided by the target lengths"),
    ("F.ctc_loss called directly", "ctc-loss",
     [("return (-log_p / target_lengths).mean()", "return F.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=blank)")],
     "p - gamma"),
    ("blanks removed before repeats are merged", "ctc-greedy-decode",
     [(DECODE, "    best = [tok for tok in best if tok != blank]\n    return [tok for i, tok in enumerate(best) if i == 0 or tok != best[i - 1]]\n")],
     "merges a real double letter"),
    ("frames after the length decoded", "ctc-greedy-decode",
     [("best = log_probs[:length].argmax(-1).tolist()", "best = log_probs.argmax(-1).tolist()")], "padding"),
    ("repeats not merged", "ctc-greedy-decode",
     [(DECODE, "    return [tok for tok in best if tok != blank]\n")], "not merged"),
    ("wrong answer: attention cost", "attention-cost", [('answer_attention_cost = "b"', 'answer_attention_cost = "a"')],
     "not the right answer"),
    ("wrong answer: why the blank", "why-blank", [('answer_why_blank = "c"', 'answer_why_blank = "b"')], "not the right answer"),
]
MANUAL = ["conv-attention-answer"]
STYLES = [
    ("framing with a loop over frame starts and zero-copy slicing", [(
        "    return padded.unfold(-1, n_fft, hop)  # (B, 1 + N // hop, n_fft)\n",
        "    starts = range(0, padded.size(-1) - n_fft + 1, hop)\n"
        "    return torch.stack([padded[:, s:s + n_fft] for s in starts], dim=1)\n")]),
    ("mel filterbank computed in float64 with math.log10, rounded to float32", [(
        "    top = hz_to_mel(torch.tensor(sample_rate / 2)).item()\n" + EDGES + GRID,
        "    top = 2595 * math.log10(1 + sample_rate / 2 / 700)\n"
        "    edges = 700 * (10 ** (torch.linspace(0, top, n_mels + 2, dtype=torch.float64) / 2595) - 1)\n"
        "    freqs = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * sample_rate / n_fft\n"),
        ("    return torch.minimum(rising, falling).clamp(min=0.0)  # (n_mels, F)",
         "    return torch.minimum(rising, falling).clamp(min=0.0).float()")]),
    ("log-mel with the window made in the input's dtype and rfft over the last axis", [(
        LOG_MEL,
        "    x = frames(wave, n_fft, hop) * torch.hann_window(n_fft, dtype=wave.dtype)\n"
        "    power = torch.fft.rfft(x, dim=-1).abs() ** 2\n"
        "    bank = mel_filterbank(n_mels, n_fft, sample_rate)\n"
        "    return torch.log(power @ bank.T + eps)\n")]),
    ("log-mel computed in float64 and cast back", [(
        LOG_MEL,
        "    x = frames(wave.double(), n_fft, hop) * torch.hann_window(n_fft, dtype=torch.float64, device=wave.device)\n"
        "    power = torch.fft.rfft(x).abs() ** 2\n"
        "    mel = power @ mel_filterbank(n_mels, n_fft, sample_rate).to(wave.device, torch.float64).T\n"
        "    return torch.log(mel + eps).to(wave.dtype)\n")]),
    ("log-mel with torch.stft", [(
        SPECTRUM + "    power = spectrum.abs() ** 2\n",
        "    spectrum = torch.stft(wave, n_fft, hop, window=window, return_complex=True)  # (B, F, T)\n"
        "    power = spectrum.abs().transpose(1, 2) ** 2\n")]),
    ("the batch mean written as a sum over the batch divided by its size", [(
        "    return (-log_p / target_lengths).mean()\n",
        "    return (-log_p / target_lengths.to(log_p.dtype)).sum() / batch\n")]),
    ("greedy decoding with torch.unique_consecutive", [(
        DECODE,
        "    merged = torch.unique_consecutive(torch.tensor(best, dtype=torch.long))\n"
        "    return merged[merged != blank].tolist()\n")]),
]

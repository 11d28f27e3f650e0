"""What the mini corpus's neural vocoders hear and how they learn: log-mel frames, F0 and an STFT loss.

Every vocoder is conditioned on the same 40-band log-mel spectrogram at a 5 ms hop (the WORLD frame
period, so that one F0 value belongs to each frame) and trained with a multi-resolution STFT loss
(spectral convergence plus log-magnitude distance at three resolutions). No adversarial loss: the
vocoders are meant to be small and quick to train on two cores, and each leaves the traces of its own
architecture, which is what a countermeasure must learn to see.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from ssd.data.mini_la import vocoders

FS = 16000
HOP = 80  # 5 ms: vocoders.FRAME_PERIOD_MS
N_FFT = 512
WIN = 400
N_MELS = 40
LOG_FLOOR = 1e-5
STFT_RESOLUTIONS = ((256, 64, 256), (512, 128, 512), (1024, 256, 1024))  # n_fft, hop, window


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + hz / 700.0)


@functools.lru_cache(maxsize=1)
def mel_filterbank() -> torch.Tensor:
    """Triangular filters equally spaced on the HTK mel scale from 0 Hz to Nyquist, (N_MELS, bins)."""
    bins = np.linspace(0.0, FS / 2, N_FFT // 2 + 1)
    edges = 700.0 * (10 ** (np.linspace(0.0, _hz_to_mel(np.array(FS / 2)), N_MELS + 2) / 2595.0) - 1.0)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins - lower) / (centre - lower)
    falling = (upper - bins) / (upper - centre)
    return torch.from_numpy(np.maximum(0.0, np.minimum(rising, falling))).float()


def frames_of(num_samples: int) -> int:
    """Frames of a waveform (centred STFT, like WORLD's dio): one every HOP samples, plus one."""
    return num_samples // HOP + 1


def log_mel(wave: torch.Tensor) -> torch.Tensor:
    """(batch, samples) -> (batch, N_MELS, frames_of(samples)) natural-log mel magnitudes."""
    spec = torch.stft(wave, N_FFT, HOP, WIN, torch.hann_window(WIN, device=wave.device), center=True,
                      pad_mode="reflect", return_complex=True).abs()
    return torch.log(torch.clamp(mel_filterbank().to(wave.device) @ spec, min=LOG_FLOOR))


def f0_frames(x: np.ndarray) -> np.ndarray:
    """WORLD F0 (Hz, 0 where unvoiced) per 5 ms frame, padded or cut to ``frames_of(len(x))``."""
    f0, _ = vocoders.world_f0(x, FS)
    frames = frames_of(len(x))
    return np.pad(f0, (0, max(0, frames - len(f0))))[:frames].astype(np.float32)


def f0_condition(x: np.ndarray, uses_f0: bool) -> np.ndarray:
    """The F0 frames a vocoder is given: WORLD's when it uses them, else zeros of the same shape."""
    return f0_frames(x) if uses_f0 else np.zeros(frames_of(len(x)), dtype=np.float32)


def stft_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Multi-resolution STFT loss: mean over resolutions of spectral convergence + L1 log magnitude."""
    total = predicted.new_zeros(())
    for n_fft, hop, win in STFT_RESOLUTIONS:
        window = torch.hann_window(win, device=predicted.device)
        p, t = (torch.stft(w, n_fft, hop, win, window, return_complex=True).abs().clamp(min=1e-7)
                for w in (predicted, target))
        convergence = torch.linalg.norm(t - p) / torch.linalg.norm(t).clamp(min=1e-7)
        total = total + convergence + torch.mean(torch.abs(torch.log(t) - torch.log(p)))
    return total / len(STFT_RESOLUTIONS)

"""Fixed mel-spaced sinc band-pass filterbank: the first layer of RawNet2 and AASIST on raw waveform.

Both ASVspoof baselines (Tak et al. 2021, Jung et al. 2022) build it the same way and keep it frozen:
``n`` band edges equally spaced on the mel scale from 0 Hz to Nyquist, each band an ideal band-pass
(difference of two sinc low-passes) shaped by a Hamming window. An even kernel size is made odd
(symmetric, linear-phase filters), as both do. The filters are not trained and not saved: they are a
non-persistent buffer, so the released state dicts (which hold no filters) load strictly.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

MEL_GRID_FFT = 512  # the baselines take the mel range from a 512-point FFT's bin frequencies


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + hz / 700.0)


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_band_edges(n_filters: int, sample_rate: int) -> np.ndarray:
    """``n_filters + 1`` band edges in Hz, equally spaced in mel between 0 Hz and Nyquist."""
    bins = (sample_rate // 2) * np.linspace(0.0, 1.0, MEL_GRID_FFT // 2 + 1)
    mel = hz_to_mel(bins)
    return mel_to_hz(np.linspace(mel.min(), mel.max(), n_filters + 1))


def sinc_bandpass_filters(n_filters: int, kernel_size: int, sample_rate: int = 16000) -> torch.Tensor:
    """(n_filters, 1, K) float32 Hamming-windowed band-pass filters; K is ``kernel_size`` made odd."""
    if n_filters < 1 or kernel_size < 1:
        raise ValueError(f"sinc filterbank needs n_filters >= 1 and kernel_size >= 1, got {n_filters}, "
                         f"{kernel_size}")
    taps = kernel_size | 1
    t = np.arange(taps, dtype=np.float32) - np.float32((taps - 1) / 2)
    edges = mel_band_edges(n_filters, sample_rate)
    low, high = edges[:-1, None], edges[1:, None]

    def lowpass(cut: np.ndarray) -> np.ndarray:
        # the sinc's argument and value in float32, its gain in float64, as the released code computes
        # them; a float64 design differs by ~1e-7 and moves AASIST-L's released logits by ~5e-5
        arg = (2 * cut).astype(np.float32) * t / np.float32(sample_rate)
        return 2 * cut / sample_rate * np.sinc(arg).astype(np.float64)

    bands = torch.from_numpy((lowpass(high) - lowpass(low)).astype(np.float32))
    return (bands * torch.from_numpy(np.hamming(taps).astype(np.float32))).unsqueeze(1)


class SincFilterbank(nn.Module):
    """(B, 1, L) or (B, L) waveform -> (B, n_filters, L - K + 1) band-passed signals (no padding)."""

    def __init__(self, n_filters: int, kernel_size: int, sample_rate: int = 16000) -> None:
        super().__init__()
        self.register_buffer("filters", sinc_bandpass_filters(n_filters, kernel_size, sample_rate),
                             persistent=False)

    @property
    def kernel_size(self) -> int:
        return int(self.filters.shape[-1])

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        if wave.dim() == 2:
            wave = wave.unsqueeze(1)
        if wave.dim() != 3 or wave.shape[1] != 1:
            raise ValueError(f"sinc filterbank expects a waveform (B, samples) or (B, 1, samples), "
                             f"got {tuple(wave.shape)}")
        if wave.shape[-1] < self.kernel_size:
            raise ValueError(f"waveform of {wave.shape[-1]} samples is shorter than the sinc kernel "
                             f"({self.kernel_size} taps)")
        return F.conv1d(wave, self.filters)

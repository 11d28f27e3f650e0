"""A small Vocos-style vocoder: a frame-rate network predicts the STFT, an inverse STFT makes samples.

ConvNeXt blocks at the 5 ms frame rate map log-mel frames to a log magnitude and a phase (as an
angle from two outputs) for every bin of a 320-point STFT with an 80-sample hop, inverted by
overlap-add. Nothing runs at the sample rate, and its traces are those of frame-wise spectral
prediction with learnt phase (Vocos, iSTFTNet), unlike the sample-domain generators.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ssd.data.mini_la.neural.features import HOP, N_MELS

N_FFT = 4 * HOP
MAX_LOG_MAGNITUDE = 5.0


class ConvNeXtBlock(nn.Module):
    """Depthwise convolution over 7 frames, layer norm, a pointwise MLP with GELU, and a residual."""

    def __init__(self, channels: int):
        super().__init__()
        self.depthwise = nn.Conv1d(channels, channels, 7, padding=3, groups=channels)
        self.norm = nn.LayerNorm(channels)
        self.up = nn.Linear(channels, 3 * channels)
        self.down = nn.Linear(3 * channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(self.depthwise(x).transpose(1, 2))
        return x + self.down(F.gelu(self.up(y))).transpose(1, 2)


class ISTFTVocoder(nn.Module):
    """Mel (batch, N_MELS, frames) -> waveform (batch, frames * HOP) through a predicted spectrum."""

    def __init__(self, channels: int = 64, blocks: int = 4):
        super().__init__()
        self.inp = nn.Conv1d(N_MELS, channels, 7, padding=3)
        self.blocks = nn.Sequential(*(ConvNeXtBlock(channels) for _ in range(blocks)))
        self.norm = nn.LayerNorm(channels)
        self.head = nn.Linear(channels, 3 * (N_FFT // 2 + 1))

    def forward(self, mel: torch.Tensor, f0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        h = self.norm(self.blocks(self.inp(mel)).transpose(1, 2))
        log_mag, x, y = self.head(h).transpose(1, 2).chunk(3, dim=1)
        magnitude = torch.exp(torch.clamp(log_mag, max=MAX_LOG_MAGNITUDE))
        spectrum = torch.polar(magnitude, torch.atan2(y, x))
        length = mel.shape[2] * HOP
        return torch.istft(spectrum, N_FFT, HOP, N_FFT, torch.hann_window(N_FFT, device=mel.device),
                           center=True, length=length)

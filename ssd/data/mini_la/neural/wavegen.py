"""A small MelGAN-style waveform generator: transposed convolutions up from the mel frame rate.

Log-mel frames are upsampled 5 x 4 x 4 = 80 times (the hop) by learnt transposed convolutions, each
followed by a residual stack of dilated convolutions, straight to samples. No F0 and no source: the
periodicity must be learnt, and its traces are the checkerboard and phase artefacts of upsampling
generators (HiFi-GAN, MelGAN, Parallel WaveGAN share them).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ssd.data.mini_la.neural.features import HOP, N_MELS


class ResidualStack(nn.Module):
    """Dilated convolutions 1, 3 and 9 apart, each with a leaky ReLU and a residual."""

    def __init__(self, channels: int):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(channels, channels, 3, padding=d, dilation=d) for d in (1, 3, 9))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = x + conv(F.leaky_relu(x, 0.2))
        return x


class WaveGenerator(nn.Module):
    """Mel (batch, N_MELS, frames) -> waveform (batch, frames * HOP)."""

    def __init__(self, channels: int = 96, factors: tuple[int, ...] = (5, 4, 4)):
        super().__init__()
        if math.prod(factors) != HOP:
            raise ValueError(f"upsampling factors {factors} must multiply to the hop {HOP}")
        self.inp = nn.Conv1d(N_MELS, channels, 7, padding=3)
        stages = []
        for factor in factors:
            stages += [nn.LeakyReLU(0.2),
                       nn.ConvTranspose1d(channels, channels // 2, 2 * factor, stride=factor,
                                          padding=factor // 2 + factor % 2, output_padding=factor % 2),
                       ResidualStack(channels // 2)]
            channels //= 2
        self.stages = nn.Sequential(*stages)
        self.outp = nn.Conv1d(channels, 1, 7, padding=3)

    def forward(self, mel: torch.Tensor, f0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.inp(mel))
        return torch.tanh(self.outp(F.leaky_relu(x, 0.2)))[:, 0, : mel.shape[2] * HOP]

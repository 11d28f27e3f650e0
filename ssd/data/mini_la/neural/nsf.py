"""A small neural source-filter vocoder (after Wang & Yamagishi's NSF models).

A sine source built from the F0 track (eight harmonics where voiced, Gaussian noise where not) is
merged into one excitation and shaped by a stack of gated, dilated convolutions conditioned on the
log-mel frames. The periodic structure comes from the explicit source, so even a small filter network
produces clear voicing; its traces are those of a learnt time-domain filter.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ssd.data.mini_la.neural.features import FS, HOP, N_MELS

HARMONICS = 8
SINE_AMPLITUDE = 0.1
NOISE_STD = 0.003


def sine_source(f0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """(batch, frames) F0 and (batch, samples) unit noise -> (batch, HARMONICS + 1, samples) excitation."""
    f0_up = torch.repeat_interleave(f0, HOP, dim=1)[:, : noise.shape[1]]
    voiced = (f0_up > 0).float()
    phase = 2 * math.pi * torch.cumsum(f0_up / FS, dim=1)
    orders = torch.arange(1, HARMONICS + 1, device=f0.device, dtype=f0.dtype)[None, :, None]
    below_nyquist = (orders * f0_up[:, None, :] < FS / 2).float()
    harmonics = SINE_AMPLITUDE * torch.sin(orders * phase[:, None, :]) * below_nyquist * voiced[:, None, :]
    harmonics = harmonics + NOISE_STD * noise[:, None, :] * voiced[:, None, :]
    unvoiced = (1 - voiced) * noise * SINE_AMPLITUDE / 3
    return torch.cat([harmonics, unvoiced[:, None, :]], dim=1)


class GatedLayer(nn.Module):
    """One dilated convolution with a tanh/sigmoid gate, the mel condition added, and a residual."""

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.conv = nn.Conv1d(channels, 2 * channels, 3, padding=dilation, dilation=dilation)
        self.cond = nn.Conv1d(N_MELS, 2 * channels, 1)
        self.out = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor, mel_up: torch.Tensor) -> torch.Tensor:
        a, b = (self.conv(x) + self.cond(mel_up)).chunk(2, dim=1)
        return x + self.out(torch.tanh(a) * torch.sigmoid(b))


class NSF(nn.Module):
    """Source module, then the filter: gated dilated layers 1, 2, ..., 128 samples apart."""

    def __init__(self, channels: int = 16, dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128)):
        super().__init__()
        self.merge = nn.Conv1d(HARMONICS + 1, 1, 1)
        self.inp = nn.Conv1d(1, channels, 1)
        self.layers = nn.ModuleList(GatedLayer(channels, d) for d in dilations)
        self.outp = nn.Conv1d(channels, 1, 1)

    def forward(self, mel: torch.Tensor, f0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        excitation = torch.tanh(self.merge(sine_source(f0, noise)))
        mel_up = torch.repeat_interleave(mel, HOP, dim=2)[:, :, : noise.shape[1]]
        x = self.inp(excitation)
        for layer in self.layers:
            x = layer(x, mel_up)
        return torch.tanh(self.outp(x) + excitation)[:, 0]

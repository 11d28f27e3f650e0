"""Attentive statistics pooling over time, as in the paper's released backbone."""

from __future__ import annotations

import torch
from torch import nn


class AttentiveStatsPooling(nn.Module):
    """Pools (B, T, C) frames into (B, 2C): attention-weighted sum and the std of the weighted frames.

    The attention is softmax over time of tanh(<frame, w>) with one learned vector w. Following the
    reference network exactly, the "mean" is the sum of the weighted frames and the "std" is the
    unbiased standard deviation over time of those weighted frames. The reference adds N(0, 1e-5^2)
    noise before the std on every call, which makes evaluation scores irreproducible; here the noise is
    added only in training mode (``noise_std``, 0 disables it).
    """

    def __init__(self, channels: int, noise_std: float = 1e-5) -> None:
        super().__init__()
        self.noise_std = float(noise_std)
        self.attention = nn.Parameter(torch.empty(1, channels))
        nn.init.kaiming_uniform_(self.attention)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        if frames.dim() != 3 or frames.shape[-1] != self.attention.shape[1]:
            raise ValueError(f"attentive pooling expects (B, T, {self.attention.shape[1]}) frames, "
                             f"got {tuple(frames.shape)}")
        if frames.shape[1] < 2:
            raise ValueError(f"attentive pooling needs at least 2 frames for a std, got {frames.shape[1]}")
        logits = torch.tanh(frames @ self.attention.t())  # (B, T, 1)
        weighted = frames * torch.softmax(logits, dim=1)
        mean = weighted.sum(dim=1)
        if frames.shape[0] == 0:  # an empty batch (a DDP rank without samples): no rows, graph kept
            return torch.cat([mean, mean], dim=1)
        if self.training and self.noise_std > 0:
            weighted = weighted + self.noise_std * torch.randn_like(weighted)
        return torch.cat([mean, weighted.std(dim=1)], dim=1)

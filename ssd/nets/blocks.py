"""Pre-activation residual block shared by the backbone, the decoder and the conversion autoencoder."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PreActBlock(nn.Module):
    """BN-ReLU-conv3x3-BN-ReLU-conv3x3 with an identity or 1x1-conv shortcut (He et al. 2016, v2).

    The shortcut is a bias-free 1x1 convolution (no BN) taken from the pre-activated input whenever the
    stride or the width changes, or always when ``projection`` is set (the conversion autoencoder's
    encoder blocks): the paper's released network is built this way, and its parameter counts depend on it.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int | tuple[int, int] = 1,
                 projection: bool = False) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        needs_projection = projection or stride not in (1, (1, 1)) or in_channels != out_channels
        self.shortcut = (nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)
                         if needs_projection else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x), inplace=True)
        shortcut = x if self.shortcut is None else self.shortcut(out)
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out), inplace=True))
        return out + shortcut

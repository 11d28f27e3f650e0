"""S2: the U-Net-like conversion autoencoder that turns spoof LFCCs into "converted" spoofs."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ssd.nets.blocks import PreActBlock


class _UpStage(nn.Module):
    """Transposed conv to the skip connection's exact size, then pre-activation blocks."""

    def __init__(self, channels: int, kernel: tuple[int, int], stride: tuple[int, int],
                 widths: tuple[int, ...]) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(channels, channels, kernel, stride, padding=1)
        pairs = zip(widths[:-1], widths[1:], strict=True)
        self.blocks = nn.Sequential(*(PreActBlock(a, b) for a, b in pairs))

    def forward(self, x: torch.Tensor, size: torch.Size) -> torch.Tensor:
        return self.blocks(self.up(x, output_size=list(size)))


class ConversionAutoencoder(nn.Module):
    """LFCC (B, 1, F, T) -> converted LFCC of the same shape (3,386,531 parameters at width 16).

    Encoder: conv (9,3)/(3,2) to 16 ch, then pairs of always-projecting pre-activation blocks
    16-16-32 (stride (2,3)), 32-32-64 (2), 64-64-128 (2), 128-256-128. Decoder: transposed convs back up
    through skip concatenations, blocks down to 1 channel. ``width`` (16 in the paper) scales every
    channel count, so that a mini configuration can shrink the network that dominates its S2 step.
    The reference fixes the transposed convs' output padding, so it returns the input's shape only for
    widths 24k+6 (750 included); here each transposed conv is given its skip connection's size, which
    is the same computation for those widths and correct for every other width.
    """

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        if width < 4 or width % 4:
            raise ValueError(f"conversion autoencoder width must be a positive multiple of 4, got {width}")
        w = width
        self.conv1 = nn.Conv2d(1, w, (9, 3), stride=(3, 2), padding=(1, 1), bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.down1 = nn.Sequential(PreActBlock(w, w, projection=True), PreActBlock(w, 2 * w, (2, 3), True))
        self.down2 = nn.Sequential(PreActBlock(2 * w, 2 * w, projection=True),
                                   PreActBlock(2 * w, 4 * w, 2, True))
        self.down3 = nn.Sequential(PreActBlock(4 * w, 4 * w, projection=True),
                                   PreActBlock(4 * w, 8 * w, 2, True))
        self.bottleneck = nn.Sequential(PreActBlock(8 * w, 16 * w, projection=True),
                                        PreActBlock(16 * w, 8 * w, projection=True))
        self.up1 = _UpStage(16 * w, (3, 3), (2, 2), (16 * w, 8 * w, 4 * w))
        self.up2 = _UpStage(8 * w, (3, 3), (2, 2), (8 * w, 4 * w, 2 * w))
        self.up3 = _UpStage(4 * w, (3, 3), (2, 3), (4 * w, 2 * w, w))
        self.up4 = _UpStage(2 * w, (9, 3), (3, 2), (2 * w, w // 2, w // 4, 1))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        if feats.dim() != 4 or feats.shape[1] != 1:
            raise ValueError(f"conversion autoencoder expects (B, 1, F, T), got {tuple(feats.shape)}")
        if feats.shape[2] < 16 or feats.shape[3] < 16:
            raise ValueError(f"conversion autoencoder needs at least 16 x 16 inputs, "
                             f"got {tuple(feats.shape)}")
        x1 = F.relu(self.bn1(self.conv1(feats)), inplace=True)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        y = self.up1(torch.cat([self.bottleneck(x4), x4], dim=1), x3.shape[-2:])
        y = self.up2(torch.cat([y, x3], dim=1), x2.shape[-2:])
        y = self.up3(torch.cat([y, x2], dim=1), x1.shape[-2:])
        return self.up4(torch.cat([y, x1], dim=1), feats.shape[-2:])

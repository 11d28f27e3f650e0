"""S1: the decoder that reconstructs a bona fide utterance's LFCC from its embedding."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ssd.nets.blocks import PreActBlock

BASE_CHANNELS = 4
UPSAMPLE = 3  # first bilinear upsampling; the second one goes to the target size (x2 for 60 x 750)


class ReconstructionDecoder(nn.Module):
    """Embedding (B, D) -> LFCC image (B, 1, F, T) of the requested size.

    As the reference: linear to 4 x (F/6) x (T/6) (4 x 10 x 125 for 60 x 750), BN-ReLU, pre-activation
    blocks 4-16-64-128-64, bilinear x3, blocks 64-32-16, bilinear up to (F, T), blocks 16-8-4-1. The
    reference always outputs 60 x 750; here the last upsampling targets the input's own size, so any
    crop length works (for 750 frames the two are the same computation). ``input_frames`` only sets the
    size of the linear layer (1,724,043 parameters for D=256, 60 x 750).
    """

    def __init__(self, embedding_dim: int = 256, feat_dim: int = 60, input_frames: int = 750) -> None:
        super().__init__()
        self.grid = (math.ceil(feat_dim / 6), math.ceil(input_frames / 6))
        self.fc = nn.Linear(embedding_dim, BASE_CHANNELS * self.grid[0] * self.grid[1])
        self.bn1 = nn.BatchNorm2d(BASE_CHANNELS)
        self.layer1 = nn.Sequential(PreActBlock(4, 16), PreActBlock(16, 64), PreActBlock(64, 128))
        self.layer2 = PreActBlock(128, 64)
        self.layer3 = nn.Sequential(PreActBlock(64, 32), PreActBlock(32, 16))
        self.layer4 = nn.Sequential(PreActBlock(16, 8), PreActBlock(8, 4), PreActBlock(4, 1))

    def forward(self, embedding: torch.Tensor, out_size: tuple[int, int]) -> torch.Tensor:
        """Decodes to (B, 1, out_size[0], out_size[1])."""
        f, t = int(out_size[0]), int(out_size[1])
        mid = (UPSAMPLE * self.grid[0], UPSAMPLE * self.grid[1])
        if f < mid[0] or t < mid[1] // 2:
            raise ValueError(f"reconstruction target {f}x{t} is too small for the decoder grid "
                             f"{self.grid} (model.input_length)")
        z = self.fc(embedding).view(embedding.shape[0], BASE_CHANNELS, *self.grid)
        z = self.layer2(self.layer1(F.relu(self.bn1(z), inplace=True)))
        z = F.interpolate(z, size=mid, mode="bilinear", align_corners=True)
        z = self.layer3(z)
        z = F.interpolate(z, size=(f, t), mode="bilinear", align_corners=True)
        return self.layer4(z)

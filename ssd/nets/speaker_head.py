"""S3: the speaker classifier applied to bona fide embeddings."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SpeakerHead(nn.Module):
    """MLP D -> 128 -> 64 -> speakers with BN and ReLU (42,836 parameters for D=256, 20 speakers).

    The number of speakers comes from the training data's utt2spk (the reference hard-codes the 20 LA
    training speakers). BatchNorm1d needs two samples in training; the trainer skips smaller selections.
    """

    def __init__(self, num_speakers: int, embedding_dim: int = 256) -> None:
        super().__init__()
        if num_speakers < 1:
            raise ValueError(f"SpeakerHead needs at least one speaker, got {num_speakers}")
        self.num_speakers = num_speakers
        self.fc_1 = nn.Linear(embedding_dim, 128)
        self.bn_1 = nn.BatchNorm1d(128)
        self.fc_2 = nn.Linear(128, 64)
        self.bn_2 = nn.BatchNorm1d(64)
        self.fc_3 = nn.Linear(64, num_speakers)

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn_1(self.fc_1(embedding)), inplace=True)
        x = F.relu(self.bn_2(self.fc_2(x)), inplace=True)
        return self.fc_3(x)

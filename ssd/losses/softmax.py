"""Plain two-class softmax cross-entropy on the backbone's logits."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SoftmaxLoss(nn.Module):
    """Cross-entropy on the logits (0 = bona fide); score = bona fide posterior, computed in float64
    so that confident scores keep their order instead of rounding to 1.0."""

    def forward(self, embedding: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, labels, reduction="sum") / max(labels.numel(), 1)

    def score(self, embedding: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits.double(), dim=1)[:, 0]

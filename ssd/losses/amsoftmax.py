"""AM-softmax (additive margin softmax) over two learned class centres."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class AMSoftmax(nn.Module):
    """Cross-entropy of s * (cos(x, c_k) - m [k = label]) over the two centres (0 = bona fide).

    The score is the bona fide posterior of the margin-free cosine logits, softmax(cos)[0], as the
    reference code computes it (at scale s the float32 posterior saturates to exactly 1 and ties).
    """

    def __init__(self, embedding_dim: int = 256, s: float = 20.0, m: float = 0.9) -> None:
        super().__init__()
        self.s, self.m = float(s), float(m)
        self.centers = nn.Parameter(torch.randn(2, embedding_dim))

    def cosine(self, embedding: torch.Tensor) -> torch.Tensor:
        """(B, 2) cosines to the bona fide and spoof centres."""
        return F.normalize(embedding, dim=1) @ F.normalize(self.centers, dim=1).t()

    def forward(self, embedding: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cos = self.cosine(embedding)
        margin_logits = self.s * (cos - self.m * F.one_hot(labels, 2).to(cos.dtype))
        return F.cross_entropy(margin_logits, labels, reduction="sum") / max(labels.numel(), 1)

    def score(self, embedding: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.cosine(embedding), dim=1)[:, 0]

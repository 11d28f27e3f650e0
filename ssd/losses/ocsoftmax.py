"""OC-softmax (Zhang, Jiang & Duan 2021): one learned centre, bona fide pulled in, spoofs pushed out."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class OCSoftmax(nn.Module):
    """softplus(alpha * (m_real - cos)) for bona fide, softplus(alpha * (cos - m_fake)) for spoof.

    ``cos`` is the cosine between the embedding and the learned centre; the score is that cosine
    (higher = more bona fide). Label 0 = bona fide, 1 = spoof.
    """

    def __init__(self, embedding_dim: int = 256, m_real: float = 0.9, m_fake: float = 0.2,
                 alpha: float = 20.0) -> None:
        super().__init__()
        self.m_real, self.m_fake, self.alpha = float(m_real), float(m_fake), float(alpha)
        self.center = nn.Parameter(torch.empty(1, embedding_dim))
        nn.init.kaiming_uniform_(self.center, 0.25)

    def cosine(self, embedding: torch.Tensor) -> torch.Tensor:
        """Cosine between each embedding and the centre, (B,)."""
        w = F.normalize(self.center, dim=1)
        return (F.normalize(embedding, dim=1) @ w.t()).squeeze(1)

    def forward(self, embedding: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean loss over the batch; 0 (still part of the graph) for an empty batch."""
        cos = self.cosine(embedding)
        margin = torch.where(labels == 0, self.m_real - cos, cos - self.m_fake)
        return F.softplus(self.alpha * margin).sum() / max(labels.numel(), 1)

    def score(self, embedding: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        return self.cosine(embedding)

"""Plain two-class softmax cross-entropy on the backbone's logits."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SCORES = ("posterior", "logit")


class SoftmaxLoss(nn.Module):
    """Cross-entropy on the logits (0 = bona fide).

    ``score``: ``posterior`` (default) is the bona fide posterior, computed in float64 so that confident
    scores keep their order instead of rounding to 1.0; ``logit`` is the raw bona fide logit, the score
    the AASIST and RawNet2 authors report (an imported model keeps it, so its published scores hold).
    """

    def __init__(self, score: str = "posterior") -> None:
        super().__init__()
        if score not in SCORES:
            raise ValueError(f"loss.softmax.score must be one of {SCORES}, got {score!r}")
        self.score_kind = score

    def forward(self, embedding: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, labels, reduction="sum") / max(labels.numel(), 1)

    def score(self, embedding: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        if self.score_kind == "logit":
            return logits[:, 0].double()
        return torch.softmax(logits.double(), dim=1)[:, 0]

"""Optimisers and the lr halving schedule of the multi-task model (the paper's settings)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ssd.tasks.config import OptimConfig


@dataclass
class Optimisers:
    """The players' optimisers. ``detector`` (backbone + decoder) and ``centres`` are halved every
    ``halve_every`` epochs; ``converter`` and ``speaker`` keep their lr. Absent parts are None."""

    detector: torch.optim.Adam
    centres: torch.optim.SGD | None
    converter: torch.optim.Adam | None
    speaker: torch.optim.Adam | None
    schedulers: list[torch.optim.lr_scheduler.StepLR]

    def named(self) -> dict[str, torch.optim.Optimizer]:
        """The optimisers that exist, by name (for state dicts and zeroing)."""
        pairs = {"detector": self.detector, "centres": self.centres, "converter": self.converter,
                 "speaker": self.speaker}
        return {k: v for k, v in pairs.items() if v is not None}


def build_optimisers(backbone: nn.Module, cm_loss: nn.Module, decoder: nn.Module | None,
                     converter: nn.Module | None, speaker_head: nn.Module | None,
                     cfg: OptimConfig) -> Optimisers:
    """Adam(lr, betas, eps, wd) over backbone(+decoder as a second group), SGD(centre_lr) over the loss
    centres, Adam(aux_lr, aux_weight_decay) for the converter and for the speaker head. A backbone with
    ``param_groups(lr)`` (an SSL encoder + head) gives its own groups: a fine-tuned encoder's own lr, a
    frozen one's weights left out."""
    groups = (backbone.param_groups(cfg.lr) if hasattr(backbone, "param_groups")
              else [{"params": list(backbone.parameters())}])
    if decoder is not None:
        groups.append({"params": list(decoder.parameters())})
    detector = torch.optim.Adam(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps,
                                weight_decay=cfg.weight_decay)
    centre_params = list(cm_loss.parameters())
    centres = torch.optim.SGD(centre_params, lr=cfg.centre_lr) if centre_params else None

    def aux(module: nn.Module | None) -> torch.optim.Adam | None:
        if module is None:
            return None
        return torch.optim.Adam(module.parameters(), lr=cfg.aux_lr, betas=cfg.betas, eps=cfg.eps,
                                weight_decay=cfg.aux_weight_decay)

    schedulers = [torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.halve_every, gamma=0.5)
                  for opt in (detector, centres) if opt is not None]
    return Optimisers(detector, centres, aux(converter), aux(speaker_head), schedulers)

"""An exponential moving average of the model's weights, the copy that is scored and kept.

Short schedules end wherever the last noisy steps left the weights (the mini profile's dev EER jumps by
several points between epochs); the average of the recent steps is a steadier model. Each step moves the
average toward the weights by ``1 - d`` with ``d = min(decay, t / (t + 1))`` after ``t`` earlier updates:
the plain mean of the steps so far until there are ``1 / (1 - decay)`` of them, so the random
initialisation does not linger in the average of a short run. BatchNorm running statistics are averaged
the same way; integer buffers are copied.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


def check_decay(decay: float) -> float:
    """``train.ema`` as a decay: 0 (off) or in (0, 1)."""
    decay = float(decay)
    if not (decay == 0.0 or 0.0 < decay < 1.0):
        raise ValueError(f"train.ema must be 0 (off) or a decay in (0, 1), got {decay:g}")
    return decay


class WeightAverage:
    """The averaged copy of ``model``; :meth:`update` after every optimiser step."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = check_decay(decay)
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.updates = 0

    def _pairs(self, model: nn.Module):
        mine = dict(self.module.state_dict(keep_vars=True))
        for name, value in model.state_dict(keep_vars=True).items():
            yield mine[name], value

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = min(self.decay, self.updates / (self.updates + 1.0))
        for avg, value in self._pairs(model):
            if avg.dtype.is_floating_point:
                avg.lerp_(value.detach(), 1.0 - d)
            else:
                avg.copy_(value)
        self.updates += 1

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "updates": self.updates, "model": self.module.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if float(state["decay"]) != self.decay:
            raise ValueError(f"the checkpoint's weight average has decay {state['decay']:g}, "
                             f"this run {self.decay:g}")
        self.module.load_state_dict(state["model"])
        self.updates = int(state["updates"])

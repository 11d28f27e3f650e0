"""The moving average of the weights (train.ema): its warm-up, its buffers, its state."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ssd.training.ema import WeightAverage, check_decay


def _set(model: nn.Module, value: float) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(value)
        model[1].running_mean.fill_(value)
        model[1].running_var.fill_(value)
        model[1].num_batches_tracked.fill_(int(value))


def test_average_is_the_running_mean_then_an_exponential_one() -> None:
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    _set(model, 5.0)
    average = WeightAverage(model, decay=0.75)  # 1 / (1 - 0.75) = 4 steps of plain mean
    expected = None
    for t, value in enumerate([1.0, 2.0, 3.0, 6.0, 10.0, 2.0]):
        _set(model, value)
        average.update(model)
        expected = value if t == 0 else (t * expected + value) / (t + 1) if t < 4 else (
            0.75 * expected + 0.25 * value)
        for name, tensor in average.module.state_dict().items():
            want = int(value) if name.endswith("num_batches_tracked") else expected
            assert torch.allclose(tensor, torch.full_like(tensor, want)), (t, name)
    assert expected == pytest.approx(0.75 * (0.75 * 3.0 + 2.5) + 0.5)  # mean(1, 2, 3, 6) = 3
    assert not any(p.requires_grad for p in average.module.parameters())
    restored = WeightAverage(model, decay=0.75)
    restored.load_state_dict(average.state_dict())
    assert restored.updates == 6 and torch.equal(restored.module[0].weight, average.module[0].weight)
    with pytest.raises(ValueError, match="decay 0.75, this run 0.5"):
        WeightAverage(model, decay=0.5).load_state_dict(average.state_dict())


@pytest.mark.parametrize("decay", [1.0, -0.1, 1.5])
def test_decay_outside_the_open_interval_is_refused(decay: float) -> None:
    with pytest.raises(ValueError, match="train.ema must be 0"):
        check_decay(decay)
    assert check_decay(0) == 0.0

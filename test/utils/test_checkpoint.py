"""ssd.utils.checkpoint: atomic save, weights_only loading, clear errors for other variants and shapes."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from ssd.tasks.multitask import MultiTaskModel
from ssd.utils.checkpoint import load_checkpoint, load_model_state, save_checkpoint
from ssd.utils.seed import get_rng_state, seed_everything, set_rng_state

TINY = {"model": {"resnet": {"stem_channels": 4, "channels": [4, 8, 8, 8], "blocks": [1, 1, 1, 1],
                             "pool_channels": 8, "embedding_dim": 16}, "input_length": 32},
        "loss": {"name": "ocsoftmax"}, "tasks": {"recon": {"weight": 0.0}}}


def _draws() -> tuple[float, float, float]:
    return random.random(), float(np.random.rand()), float(torch.rand(()))


def test_round_trip_with_weights_only_restores_weights_config_and_rng(tmp_path: Path) -> None:
    seed_everything(3)
    model = MultiTaskModel(TINY)
    state = {"config": TINY, "epoch": 4, "model": model.state_dict(), "rng": [get_rng_state()],
             "history": [{"epoch": 1, "train": {"cm": 0.5}, "dev_eer": 0.25}]}
    expected = _draws()
    save_checkpoint(tmp_path / "sub" / "last.pt", state)
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["last.pt"]  # no temp file left behind
    loaded = load_checkpoint(tmp_path / "sub" / "last.pt")
    assert loaded["config"] == TINY and loaded["epoch"] == 4 and loaded["history"] == state["history"]
    fresh = MultiTaskModel(TINY)
    load_model_state(fresh, loaded["model"], "last.pt")
    for key, value in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key
    _draws()
    set_rng_state(loaded["rng"][0])
    assert _draws() == expected


def test_loading_refuses_pickled_objects(tmp_path: Path) -> None:
    torch.save({"format": "ssd-checkpoint/1", "model": nn.Linear(2, 2)}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="evil.pt: not a loadable checkpoint"):
        load_checkpoint(tmp_path / "evil.pt")


@pytest.mark.parametrize("content", [b"", b"not a zip file"])
def test_loading_garbage_names_the_file(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "bad.pt").write_bytes(content)
    with pytest.raises(ValueError, match="bad.pt"):
        load_checkpoint(tmp_path / "bad.pt")


def test_loading_a_foreign_dict_or_missing_file(tmp_path: Path) -> None:
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not an ssd checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError, match="nothing.pt"):
        load_checkpoint(tmp_path / "nothing.pt")


def test_another_variant_fails_naming_the_keys() -> None:
    recon = MultiTaskModel({**TINY, "tasks": {"recon": {"weight": 0.04}}})
    vanilla = MultiTaskModel(TINY)
    with pytest.raises(ValueError, match="recon.pt does not fit") as err:
        load_model_state(vanilla, recon.state_dict(), "recon.pt")
    assert "not in the model: decoder." in str(err.value)
    with pytest.raises(ValueError, match="missing from the checkpoint: decoder."):
        load_model_state(recon, vanilla.state_dict(), "vanilla.pt")


def test_another_shape_fails_naming_the_keys() -> None:
    wide_resnet = {**TINY["model"]["resnet"], "embedding_dim": 32}
    wide = MultiTaskModel({**TINY, "model": {**TINY["model"], "resnet": wide_resnet}})
    with pytest.raises(ValueError, match=r"backbone.fc.weight: checkpoint \(32, 16\), model \(16, 16\)"):
        load_model_state(MultiTaskModel(TINY), wide.state_dict(), "wide.pt")

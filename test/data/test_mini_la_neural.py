"""The mini corpus's own neural vocoders: shipped weights match their cards, synthesis is deterministic
and independent of the thread count, the training script reproduces a run, and the profiles split the
neural families as the corpus promises (two seen in training, one only in eval)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ssd.data.mini_la import attacks, neural, sources
from ssd.data.mini_la.corpus import PROFILES, plan, usable_recordings
from ssd.data.mini_la.neural import FAMILIES, train
from ssd.data.mini_la.neural.features import HOP, frames_of, log_mel, stft_loss

NEURAL = {"A09": "nsf", "A10": "wavegen", "A11": "istft"}


def _prompt() -> np.ndarray:
    try:
        recs = sources.find_recordings()
    except sources.SourcesMissingError as err:
        pytest.skip(str(err))
    rec = next(r for r in recs if r.lang == "fr" and 2.0 < r.duration < 3.0)
    return sources.decode_g722(rec.path)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_shipped_weights_load_and_match_their_training_card(name):
    assert neural.missing(name) is None
    model = neural.load(name)
    card = neural.training_card(name)
    assert card["family"] == name and card["architecture"] == type(model).__name__
    assert card["parameters"] == sum(p.numel() for p in model.parameters())
    assert card["data"]["split"] == "train" and card["data"]["corpus_profile"] == "default"
    first, last = card["loss_curve"][0][1], card["loss_curve"][-1][1]
    assert last < 0.6 * first, "the vocoder learnt"


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_synthesis_is_seeded_and_independent_of_threads(name):
    x = _prompt()
    before = torch.get_num_threads()
    a = neural.synthesize(name, x, 16000, np.random.default_rng(5))
    torch.set_num_threads(2)
    try:
        b = neural.synthesize(name, x, 16000, np.random.default_rng(5))
    finally:
        torch.set_num_threads(before)
    assert torch.get_num_threads() == before
    assert a.shape == x.shape and a.dtype == np.float64 and np.all(np.isfinite(a))
    assert np.array_equal(a, b)
    assert np.abs(a).max() <= 1.0 and np.std(a) > 0.1 * np.std(x)


def test_wrong_rate_is_refused():
    with pytest.raises(ValueError, match="16000 Hz, got 8000 Hz"):
        neural.synthesize("istft", np.zeros(8000), 8000, np.random.default_rng(0))


def test_missing_weights_name_the_training_command(monkeypatch, tmp_path):
    monkeypatch.setattr(neural, "WEIGHTS_DIR", tmp_path)
    why = neural.missing("nsf")
    assert why is not None and "python -m ssd.data.mini_la.neural.train --family nsf" in why


def test_features_and_loss():
    wave = torch.randn(2, 8000) * 0.1
    assert log_mel(wave).shape == (2, 40, frames_of(8000)) == (2, 40, 8000 // HOP + 1)
    assert stft_loss(wave, wave).item() == pytest.approx(0.0, abs=1e-6)
    assert stft_loss(wave * 0.5, wave).item() > 0.3


def test_training_is_seeded_and_writes_tensor_only_weights(tmp_path):
    _prompt()
    for out in ("a", "b"):
        assert train.main(["--family", "istft", "--steps", "3", "--threads", "1",
                           "--out-dir", str(tmp_path / out)]) == 0
    a, b = (torch.load(tmp_path / out / "istft.pt", weights_only=True) for out in ("a", "b"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    card = json.loads((tmp_path / "a" / "istft.json").read_text())
    assert card["training"]["steps"] == 3 and card["data"]["prompts"] == 240
    model = FAMILIES["istft"].build()
    model.load_state_dict(a)


def test_vocoders_trained_only_on_the_training_split():
    """Their prompts are the default profile's train bona fide: no dev, eval or held-out prompt."""
    _prompt()
    usable, reserved = usable_recordings()
    planned = plan(usable, PROFILES["default"], 0, usable=set())
    heard = {r.path for r in train.training_prompts()}
    elsewhere = {u.source.path for u in planned if u.split != "train"} | {r.path for r in reserved}
    assert len(heard) == 240 and not heard & elsewhere


def test_profiles_hold_two_neural_families_in_training_and_another_only_in_eval():
    for profile in ("default", "ci"):
        splits = PROFILES[profile].splits
        seen = {NEURAL[a] for s in ("train", "dev") for a in splits[s].attacks if a in NEURAL}
        held = {NEURAL[a] for a in splits["eval"].attacks if a in NEURAL} - seen
        if profile == "default":
            assert len({NEURAL[a] for a in splits["train"].attacks if a in NEURAL}) >= 2
            assert {NEURAL[a] for a in splits["dev"].attacks if a in NEURAL} >= {"nsf", "wavegen"}
        assert held == {"istft"}
    assert all(attacks.get(a).family.startswith("neural") for a in NEURAL)

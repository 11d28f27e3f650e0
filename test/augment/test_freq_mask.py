"""Frequency masking of training crops: what a mask changes, its draws, its settings and its training runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import CONF, DEBUG_YAML

from ssd.augment.freq_mask import FreqMaskSettings, freq_masker, settings_of
from ssd.bin.compute_lfcc import main as compute_lfcc_main
from ssd.bin.train import main as train_main
from ssd.utils.checkpoint import load_checkpoint


def _masked_bins(crop: np.ndarray, out: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.any(out != crop, axis=0))


def test_one_mask_fills_one_band_of_at_most_max_bins_with_the_crop_mean():
    crop = np.random.default_rng(0).normal(3.0, 1.0, (50, 33)).astype(np.float32)
    before = crop.copy()
    mask = freq_masker(FreqMaskSettings(max_bins=8, masks=1), 33)
    widths = set()
    for draw in range(300):
        out = mask(crop, np.random.default_rng(draw))
        bins = _masked_bins(crop, out)
        widths.add(len(bins))
        if len(bins):
            assert np.array_equal(bins, np.arange(bins[0], bins[-1] + 1))  # one contiguous band
            np.testing.assert_array_equal(out[:, bins], np.float32(crop.mean()))
        np.testing.assert_array_equal(np.delete(out, bins, axis=1), np.delete(crop, bins, axis=1))
        assert out.dtype == np.float32 and out.shape == crop.shape
    assert widths == set(range(9))  # widths 0..max_bins, each drawn
    np.testing.assert_array_equal(crop, before)  # the cached crop is never written


def test_masks_are_drawn_from_the_generator_only():
    crop = np.random.default_rng(1).normal(size=(20, 33)).astype(np.float32)
    mask = freq_masker(FreqMaskSettings(max_bins=10, masks=3), 33)
    np.testing.assert_array_equal(mask(crop, np.random.default_rng(7)), mask(crop, np.random.default_rng(7)))
    outs = [mask(crop, np.random.default_rng(seed)) for seed in range(20)]
    assert len({out.tobytes() for out in outs}) > 10
    assert max(len(_masked_bins(crop, out)) for out in outs) > 10  # three bands reach past one's width


def test_settings_are_checked_and_zero_is_off():
    assert settings_of({"max_bins": 0, "masks": 1}) is None
    assert settings_of({"max_bins": 8, "masks": 0}) is None
    assert settings_of({"max_bins": 8, "masks": 2}) == FreqMaskSettings(8, 2)
    for key, bad in (("max_bins", -1), ("max_bins", 2.5), ("masks", True), ("masks", "2")):
        with pytest.raises(ValueError, match=f"data.freq_mask.{key} must be a non-negative integer"):
            settings_of({"max_bins": 8, "masks": 1, key: bad})
    with pytest.raises(ValueError, match="below the front end's 33 bins, got 33"):
        freq_masker(FreqMaskSettings(33, 1), 33)


@pytest.fixture
def spectrogram_dumps(audio_with_lfcc):
    """The augmentation fixture's audio with 4 ms spectrogram dumps in place of its LFCC."""
    train, dev = audio_with_lfcc
    for d in (train, dev):
        assert compute_lfcc_main(["--frontend", "spectrogram_4ms", "--write-utt2num-frames",
                                  str(d / "utt2num_frames"), str(d / "wav.scp"),
                                  f"ark,scp:{d / 'spec.ark'},{d / 'feats.scp'}"]) == 0
    return train, dev


def test_training_with_masks_is_reproducible_and_differs_from_training_without(tmp_path, spectrogram_dumps):
    train, dev = spectrogram_dumps
    states = {}
    for name, mask in (("a", 6), ("b", 6), ("off", 0)):
        base = tmp_path / f"{name}.yaml"
        base.write_text(DEBUG_YAML
                        .replace("  input_length: 32\n", "  input_length: 32\n  frontend: spectrogram_4ms\n")
                        .replace("data: {batch_size: 8}",
                                 f"data: {{batch_size: 8, freq_mask: {{max_bins: {mask}, masks: 2}}}}"))
        exp = tmp_path / name
        train_main(["--config", str(CONF / "train_ocsoftmax_vanilla.yaml"), "--base", str(base),
                    "--train-dir", str(train), "--dev-dir", str(dev), "--exp-dir", str(exp)])
        states[name] = load_checkpoint(exp / "last.pt")["model"]
    assert all(torch.equal(states["a"][k], states["b"][k]) for k in states["a"])
    assert not all(torch.equal(states["a"][k], states["off"][k]) for k in states["a"])


def test_lfcc_front_end_refuses_masks_before_training(tmp_path, capsys, audio_with_lfcc):
    train, dev = audio_with_lfcc
    base = tmp_path / "lfcc.yaml"
    base.write_text(DEBUG_YAML.replace("data: {batch_size: 8}",
                                       "data: {batch_size: 8, freq_mask: {max_bins: 4}}"))
    with pytest.raises(SystemExit):
        train_main(["--config", str(CONF / "train_ocsoftmax_vanilla.yaml"), "--base", str(base),
                    "--train-dir", str(train), "--dev-dir", str(dev), "--exp-dir", str(tmp_path / "exp")])
    assert "data.freq_mask masks frequency bins, and the lfcc front end has none" in capsys.readouterr().err
    assert not (tmp_path / "exp" / "last.pt").exists()

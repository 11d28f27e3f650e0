"""RawBoost: each family does what the paper says (notch gain, impulse share, SNR range), every algorithm
is seeded, and training with it is reproducible and refused where it cannot apply."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import CONF, DEBUG_YAML, kill_and_resume, write_audio_dir
from scipy.signal import freqz

from ssd.augment.rawboost import (
    ALGORITHMS,
    RawBoostConfig,
    algorithm_of,
    bandstop_fir,
    crop_augmenter,
    filtered_sum,
    impulsive,
    notch_cascade,
    rawboost,
    stationary,
)
from ssd.bin.train import main as train_main
from ssd.data.dataset import RandomCropDataset, WaveTable
from ssd.frontend.lfcc import lfcc
from ssd.utils.checkpoint import load_checkpoint

FS = 16000
CFG = RawBoostConfig()
TINY_AASIST = ("model:\n  input_length: 4000\n  aasist: {first_conv: 32, filts: [6, [1, 4], [4, 4], [4, 8], "
               "[8, 8]], gat_dims: [8, 6]}\neval: {hop_length: 2000}\n")


def _speech_like(seed: int = 0, n: int = 16000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    return 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) + 0.01 * rng.standard_normal(n)


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_every_algorithm_is_seeded_and_keeps_the_length(algorithm):
    x = _speech_like()
    a = rawboost(x, FS, algorithm, np.random.default_rng(3))
    b = rawboost(x, FS, algorithm, np.random.default_rng(3))
    c = rawboost(x, FS, algorithm, np.random.default_rng(4))
    assert a.shape == x.shape and np.all(np.isfinite(a)) and np.array_equal(a, b)
    if algorithm == 0:
        assert np.array_equal(a, x)
    else:
        assert not np.allclose(a, x) and not np.array_equal(a, c)


def test_band_stop_design_is_the_window_method_and_the_filtering_a_causal_convolution():
    """The FIR design equals scipy's window-method firwin (Hamming, band-stop, unit DC gain), and the
    block-wise sum of filtered signals equals direct convolutions cut to the signal's length."""
    from scipy.signal import firwin

    rng = np.random.default_rng(3)
    for _ in range(50):
        taps = int(rng.integers(10, 101)) | 1
        low = rng.uniform(1, 7000)
        high = min(low + rng.uniform(100, 1000), 7999)
        expected = firwin(taps, [low, high], window="hamming", fs=FS)
        assert np.allclose(bandstop_fir(taps, low, high, FS), expected, rtol=0, atol=1e-10)
    for n, lengths in ((32160, (11, 505, 97)), (700, (3, 1)), (5000, (2000,))):
        signals = [rng.standard_normal(n) for _ in lengths]
        filters = [rng.standard_normal(m) for m in lengths]
        direct = sum(np.convolve(x, f)[:n] for x, f in zip(signals, filters, strict=True))
        assert np.allclose(filtered_sum(signals, filters), direct, rtol=0, atol=1e-10 * np.abs(direct).max())


def test_notch_cascade_peaks_at_the_drawn_gain_and_cuts_a_band():
    rng = np.random.default_rng(0)
    for _ in range(20):
        taps = notch_cascade(rng, FS, CFG, CFG.gain_db)
        _, h = freqz(taps, 1, worN=4096, fs=FS)
        assert np.max(np.abs(h)) == pytest.approx(1.0, rel=1e-3)  # 0 dB peak (on a 512-point grid)
        assert np.min(np.abs(h)) < 0.5  # a stop band


def test_impulsive_noise_hits_at_most_p_percent_of_the_samples():
    x = _speech_like()
    for seed in range(10):
        y = impulsive(x, np.random.default_rng(seed), CFG)
        scale = np.median(y / x)  # the untouched samples only carry the peak normalisation
        hit = np.abs(y - scale * x) > 1e-12
        assert hit.mean() <= CFG.isd_percent / 100


def test_stationary_noise_is_added_within_the_snr_range():
    x = _speech_like()
    for seed in range(10):
        noise = stationary(x, FS, np.random.default_rng(seed), CFG) - x
        snr = 10 * np.log10(np.mean(x ** 2) / np.mean(noise ** 2))
        assert CFG.snr_db[0] - 1e-6 <= snr <= CFG.snr_db[1] + 1e-6


def test_settings_and_presets():
    assert algorithm_of("none") == algorithm_of(None) == 0
    assert (algorithm_of("rawboost_la"), algorithm_of("rawboost_df"), algorithm_of(4)) == (5, 3, 4)
    for bad in (9, "rawboost", True, 2.0):
        with pytest.raises(ValueError, match="data.rawboost must be none, 0-8"):
            algorithm_of(bad)


def test_augmented_crops_depend_on_seed_epoch_and_utterance_only(tmp_path):
    data = write_audio_dir(tmp_path / "train", 6, 0, ["S1", "S2"], "U")
    table = WaveTable.from_dir(data, ["S1", "S2"])
    one = RandomCropDataset(table, 4000, seed=1, augment=crop_augmenter(5, FS))
    two = RandomCropDataset(table, 4000, seed=1, augment=crop_augmenter(5, FS))
    two.set_epoch(3)
    two.set_epoch(0)
    assert all(np.array_equal(one[i][0], two[i][0]) for i in reversed(range(6)))
    plain = RandomCropDataset(table, 4000, seed=1)
    assert not np.array_equal(one[0][0], plain[0][0])
    one.set_epoch(1)
    assert not np.array_equal(one[0][0], two[0][0])


def test_training_with_rawboost_is_reproducible_for_raw_and_lfcc_models(tmp_path, capsys, audio_with_lfcc):
    """Two runs give the same weights, for a waveform model and for an LFCC model whose crops are cut
    from the dump dir's audio and featurised after RawBoost; without wav.scp the LFCC run is refused."""
    train, dev = audio_with_lfcc
    raw = tmp_path / "raw.yaml"
    raw.write_text(f"base: {CONF / 'train_aasist_mini.yaml'}\n{TINY_AASIST}train: {{epochs: 1}}\n"
                   "data: {batch_size: 8, rawboost: rawboost_la}\nrun: {threads: 1, log_interval: 1}\n")
    lfcc_base = tmp_path / "lfcc.yaml"
    lfcc_base.write_text(DEBUG_YAML + "data: {batch_size: 8, rawboost: rawboost_df}\n")
    for name, base in (("raw", raw), ("lfcc", lfcc_base)):
        states = []
        for run in ("a", "b"):
            exp = tmp_path / f"{name}_{run}"
            train_main(["--config", str(CONF / "train_ocsoftmax_vanilla.yaml"), "--base", str(base),
                        "--train-dir", str(train), "--dev-dir", str(dev), "--exp-dir", str(exp)])
            states.append(load_checkpoint(exp / "last.pt")["model"])
        assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    (train / "wav.scp").rename(train / "wav.scp.away")
    with pytest.raises(SystemExit):
        train_main(["--config", str(CONF / "train_ocsoftmax_vanilla.yaml"), "--base", str(lfcc_base),
                    "--train-dir", str(train), "--dev-dir", str(dev),
                    "--exp-dir", str(tmp_path / "no_audio")])
    assert "data.rawboost on the lfcc front end trains from the audio" in capsys.readouterr().err


def test_lfcc_crops_are_featurised_at_the_crop_length_and_level(tmp_path):
    data = write_audio_dir(tmp_path / "train", 4, 0, ["S1"], "U")
    table = WaveTable.from_dir(data, ["S1"])
    frames = 32
    augment = crop_augmenter(3, FS, features=lambda x: lfcc(x, FS))
    dataset = RandomCropDataset(table, 160 * (frames + 1), seed=0, augment=augment)
    feats = dataset[0][0]
    assert feats.shape == (60, frames) and feats.dtype == np.float32
    plain = lfcc(RandomCropDataset(table, 160 * (frames + 1), seed=0).crop(0)[:, 0].astype(np.float64), FS)
    # coloured noise at >= 10 dB SNR, level restored: the log energies stay close to the clean crop's
    assert abs(float(np.mean(feats[0]) - np.mean(plain[:, 0]))) < 3.0


def test_rawboost_training_resumes_bit_identically_after_a_kill(tmp_path, audio_with_lfcc):
    """The augmented stream is a function of (seed, epoch, utterance): a run killed in epoch 2 and
    resumed from epoch 1's checkpoint ends with the weights of the run that was never stopped."""
    train, dev = audio_with_lfcc
    base = tmp_path / "lfcc.yaml"
    base.write_text(DEBUG_YAML + "data: {batch_size: 8, rawboost: rawboost_la}\n")
    argv = lambda exp: ["--config", str(CONF / "train_ocsoftmax_all.yaml"), "--base", str(base),  # noqa: E731
                        "--train-dir", str(train), "--dev-dir", str(dev), "--exp-dir", str(exp)]
    train_main(argv(tmp_path / "whole"))
    kill_and_resume(argv(tmp_path / "split"), tmp_path / "split", 3, tmp_path)
    a, b = (load_checkpoint(tmp_path / run / "last.pt") for run in ("whole", "split"))
    assert a["epoch"] == b["epoch"] == 2
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])

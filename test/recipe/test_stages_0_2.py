"""Stages 0-2 of egs/asvspoof2019_la on the ci-sized mini corpus, through the real run.sh."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import kaldiio
import numpy as np
import pytest
from helpers import run_recipe

from ssd.data.datadir import read_kv
from ssd.frontend.audio import read_audio
from ssd.frontend.lfcc import lfcc
from ssd.frontend.spectrogram import short_time_spectrogram

SETS = ("train", "dev", "eval")


def test_corpus_is_built_in_the_real_layout(mini_recipe):
    corpus = mini_recipe / "downloads" / "mini_la"
    assert (corpus / ".complete").exists()
    for subset in SETS:
        assert any((corpus / f"ASVspoof2019_LA_{subset}" / "flac").glob("*.flac"))
    assert (corpus / "ASVspoof2019_LA_asv_scores" / "ASVspoof2019.LA.asv.eval.gi.trl.scores.txt").exists()


def test_data_dirs(mini_recipe):
    for subset in SETS:
        data = mini_recipe / "data" / subset
        wav = read_kv(data / "wav.scp")
        labels = read_kv(data / "utt2label")
        assert wav.keys() == labels.keys() == read_kv(data / "utt2attack").keys()
        assert set(labels.values()) == {"bonafide", "spoof"}
        assert all(path.endswith(".flac") for path in wav.values())
    assert (mini_recipe / "data" / "dev" / "asv_scores.txt").exists()
    assert not (mini_recipe / "data" / "train" / "asv_scores.txt").exists()


@pytest.mark.parametrize(("table", "dim"), [("spectrogram_4ms", 33), ("lfcc", 60)])
def test_features(mini_recipe, table, dim):
    """The default profile's table and the LFCC of the GMM row, for every set."""
    for subset in SETS:
        dump = mini_recipe / "dump" / table / subset
        assert (dump / ".done").exists()
        feats = kaldiio.load_scp(str(dump / "feats.scp"))
        num_frames = {k: int(v) for k, v in read_kv(dump / "utt2num_frames").items()}
        assert set(feats) == set(read_kv(mini_recipe / "data" / subset / "wav.scp")) == set(num_frames)
        for utt in feats:
            mat = feats[utt]
            assert mat.shape == (num_frames[utt], dim) and mat.dtype == np.float32
            assert np.isfinite(mat).all()


def test_rerun_skips_finished_sets(mini_recipe):
    before = (mini_recipe / "dump" / "lfcc" / "dev" / "feats.scp").stat().st_mtime_ns
    result = run_recipe(mini_recipe, "--stage", "0", "--stop-stage", "2")
    assert result.returncode == 0, result.stderr
    assert "using the mini corpus already built" in result.stderr
    assert "is complete" in result.stderr
    assert (mini_recipe / "dump" / "lfcc" / "dev" / "feats.scp").stat().st_mtime_ns == before


def test_help_lists_options(mini_recipe):
    result = run_recipe(mini_recipe, "--help")
    assert result.returncode == 0
    assert "--stop-stage" in result.stdout + result.stderr
    assert "--variants" in result.stdout + result.stderr


def test_stage2_cuts_segments_and_resamples_on_request(mini_recipe):
    """A data dir with a segments file (two cuts of each of three recordings, wav.scp at 8 kHz through a
    sox pipe): stage 2 refuses the rate, then with --resample true computes each cut of the resampled
    recording, over two jobs."""
    source = mini_recipe / "data" / "dev"
    data = mini_recipe / "data" / "seg"
    data.mkdir()
    recordings = sorted(read_kv(source / "wav.scp").items())[:3]
    labels = read_kv(source / "utt2label")
    (data / "wav.scp").write_text("".join(f"{rec} sox -R -D {path} -r 8000 -t wav - |\n"
                                          for rec, path in recordings))
    rows = [(f"{rec}_{k}", rec, start, end) for rec, _ in recordings for k, (start, end) in
            enumerate(((0.0, 0.5), (0.3, -1)))]
    (data / "segments").write_text("".join(f"{u} {r} {s} {e}\n" for u, r, s, e in rows))
    for name, value in (("utt2spk", lambda u, r: "spk"), ("utt2label", lambda u, r: labels[r]),
                        ("utt2attack", lambda u, r: "-" if labels[r] == "bonafide" else "A01")):
        (data / name).write_text("".join(f"{u} {value(u, r)}\n" for u, r, _, _ in rows))
    (data / "spk2utt").write_text("spk " + " ".join(u for u, *_ in rows) + "\n")
    only = ("--stage", "2", "--stop-stage", "2", "--train-set", "seg", "--dev-set", "seg", "--test-sets",
            "seg")
    refused = run_recipe(mini_recipe, *only)
    log_dir = mini_recipe / "dump" / "spectrogram_4ms" / "seg" / "log"
    logs = "".join(p.read_text() for p in log_dir.glob("spectrogram_4ms.*.log"))
    assert refused.returncode != 0 and "8000 Hz, expected 16000 Hz" in logs
    result = run_recipe(mini_recipe, *only, "--resample", "true", "--nj", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    # The default profile's table, and the LFCC beside it for the GMM row.
    tables = {name: dict(kaldiio.load_scp_sequential(str(mini_recipe / "dump" / name / "seg" / "feats.scp")))
              for name in ("spectrogram_4ms", "lfcc")}
    for feats in tables.values():
        assert sorted(feats) == sorted(u for u, *_ in rows)
    for utt, rec, start, end in rows:
        samples, fs = read_audio(f"sox -R -D {dict(recordings)[rec]} -r 8000 -t wav - |", rec, 16000,
                                 resample_to_expected=True)
        piece = samples[round(start * fs):None if end == -1 else round(end * fs)]
        np.testing.assert_array_equal(tables["lfcc"][utt], lfcc(piece, fs).astype(np.float32))
        np.testing.assert_array_equal(tables["spectrogram_4ms"][utt],
                                      short_time_spectrogram(piece, fs, np.float32))


def _stale(record: Path) -> None:
    """Rewrites a dump's front-end record as an older geometry would have left it."""
    settings = json.loads(record.read_text())
    settings["hop_samples"] //= 2
    record.write_text(json.dumps(settings, sort_keys=True) + "\n")


def test_a_dump_computed_with_other_settings_is_redone_not_reused(mini_recipe):
    """Each dump records its front end (frontend.json, as ssd-compute-lfcc --print-settings says); stage 2
    redoes a finished dump whose record differs (here the 4 ms spectrogram at the hop of an older ssd)."""
    dump = mini_recipe / "dump" / "spectrogram_4ms" / "dev"
    printed = subprocess.run([sys.executable, "-m", "ssd.bin.compute_lfcc", "--frontend", "spectrogram_4ms",
                              "--print-settings"], capture_output=True, text=True, check=True).stdout
    assert (dump / "frontend.json").read_text() == printed
    assert json.loads(printed)["hop_samples"] == 32
    before = (dump / "feats.scp").read_text()
    features = dict(kaldiio.load_scp_sequential(str(dump / "feats.scp")))
    _stale(dump / "frontend.json")
    result = run_recipe(mini_recipe, "--stage", "2", "--stop-stage", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    redone = f"{dump.relative_to(mini_recipe)} was computed with other spectrogram_4ms settings"
    assert redone in result.stderr
    assert "dump/lfcc/dev is complete" in result.stderr  # the other table and sets are kept
    assert (dump / "frontend.json").read_text() == printed and (dump / "feats.scp").read_text() == before
    again = dict(kaldiio.load_scp_sequential(str(dump / "feats.scp")))
    assert again.keys() == features.keys() and all(np.array_equal(again[k], features[k]) for k in features)


def test_training_refuses_a_dump_of_other_settings(mini_recipe, tmp_path):
    """A dump dir given by hand whose record differs from the model's front end: an error naming the file
    and the setting, before any training."""
    source = mini_recipe / "dump" / "spectrogram_4ms" / "dev"
    stale = tmp_path / "dev"
    shutil.copytree(source, stale)
    _stale(stale / "frontend.json")
    conf = mini_recipe / "conf"
    train = subprocess.run([sys.executable, "-m", "ssd.bin.train",
                            "--config", str(conf / "train_ocsoftmax_vanilla.yaml"),
                            "--base", str(conf / "train_mini_spectrogram_4ms.yaml"),
                            "--train-dir", str(source), "--dev-dir", str(stale),
                            "--exp-dir", str(tmp_path / "exp"), "--epochs", "1"],
                           capture_output=True, text=True, cwd=mini_recipe)
    assert train.returncode != 0
    assert f"{stale / 'frontend.json'}: these features were computed with other spectrogram_4ms settings " \
           "(they differ in hop_samples)" in train.stderr
    assert not (tmp_path / "exp" / "last.pt").exists()

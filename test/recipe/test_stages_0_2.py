"""Stages 0-2 of egs/asvspoof2019_la on the ci-sized mini corpus, through the real run.sh."""

from __future__ import annotations

import kaldiio
import numpy as np
from helpers import run_recipe

from ssd.data.datadir import read_kv

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


def test_features(mini_recipe):
    for subset in SETS:
        dump = mini_recipe / "dump" / "lfcc" / subset
        assert (dump / ".done").exists()
        feats = kaldiio.load_scp(str(dump / "feats.scp"))
        num_frames = {k: int(v) for k, v in read_kv(dump / "utt2num_frames").items()}
        assert set(feats) == set(read_kv(mini_recipe / "data" / subset / "wav.scp")) == set(num_frames)
        for utt in feats:
            mat = feats[utt]
            assert mat.shape == (num_frames[utt], 60) and mat.dtype == np.float32
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

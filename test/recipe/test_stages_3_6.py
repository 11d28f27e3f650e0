"""Stages 3-6 of egs/asvspoof2019_la (train, infer, score, pack) on the ci mini corpus via run.sh."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import kaldiio
import numpy as np
import pytest
import soundfile as sf
import torch
from helpers import TINY_TRAINING, link_recipe, run_recipe

from ssd.data.datadir import read_kv
from ssd.detector import Detector

VARIANTS = ("ocsoftmax_vanilla", "ocsoftmax_all")


def read_scores(path):
    rows = [line.split() for line in path.read_text().splitlines()]
    return {utt: (attack, key, float(score)) for utt, attack, key, score in rows}


def test_training_outputs(trained_recipe):
    for tag in VARIANTS:
        exp = trained_recipe / "exp" / tag
        for name in ("config.yaml", "train.log", "best.pt", "last.pt", "model_info.json", "run.sh"):
            assert (exp / name).exists(), f"{exp / name} missing"
        assert "# Ended (code 0)" in (exp / "train.log").read_text()


def test_scores_cover_each_set(trained_recipe):
    for tag in VARIANTS:
        for subset in ("dev", "eval"):
            scores = read_scores(trained_recipe / "exp" / tag / "scores" / f"{subset}.txt")
            labels = read_kv(trained_recipe / "data" / subset / "utt2label")
            attacks = read_kv(trained_recipe / "data" / subset / "utt2attack")
            assert scores.keys() == labels.keys()
            assert all(scores[u][:2] == (attacks[u], labels[u]) for u in scores)


def test_results_tables(trained_recipe):
    top = (trained_recipe / "RESULTS.md").read_text()
    for tag in VARIANTS:
        assert tag in top
        figures = json.loads((trained_recipe / "exp" / tag / "scores" / "eval.json").read_text())
        assert 0.0 <= figures["pooled"]["eer"] <= 1.0
        assert figures["pooled"]["min_tdcf"] >= 0.0
        assert set(figures["per_attack"]) == {
            a for a in read_kv(trained_recipe / "data" / "eval" / "utt2attack").values() if a != "-"}
        assert (trained_recipe / "exp" / tag / "RESULTS.md").exists()


def test_lfcc_gmm_is_the_reference_row(trained_recipe):
    """--systems lfcc_gmm (run.sh's default): the official baseline trained on the LFCC dump, scored on
    every set by stage 4, a row of RESULTS.md by stage 5, and not packed by stage 6."""
    exp = trained_recipe / "exp" / "lfcc_gmm"
    assert (exp / "gmm.npz").is_file() and "components: 512," in (exp / "config.yaml").read_text()
    for subset in ("dev", "eval"):
        scores = read_scores(exp / "scores" / f"{subset}.txt")
        assert scores.keys() == read_kv(trained_recipe / "data" / subset / "utt2label").keys()
        figures = json.loads((exp / "scores" / f"{subset}.json").read_text())
        assert 0.0 <= figures["pooled"]["eer"] <= 1.0
    assert "| lfcc_gmm |" in (trained_recipe / "RESULTS.md").read_text()
    assert not (exp / "packed").exists()
    again = run_recipe(trained_recipe, "--stage", "3", "--stop-stage", "3", *TINY_TRAINING,
                       "--variants", "vanilla")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "lfcc_gmm/gmm.npz exists (remove it to train again)" in again.stderr


def test_each_variant_is_fused_with_the_gmm(trained_recipe):
    """--fuse-with lfcc_gmm (run.sh's default): exp/<tag>+lfcc_gmm holds, per set, the mean of the variant's
    and the GMM's scores, each standardised by its own dev scores; a row of RESULTS.md, not packed."""
    gmm = trained_recipe / "exp" / "lfcc_gmm" / "scores"
    for tag in VARIANTS:
        fused = trained_recipe / "exp" / f"{tag}+lfcc_gmm"
        members = [trained_recipe / "exp" / tag / "scores", gmm]
        stats = []
        for scores in members:
            dev = np.array([s for *_, s in read_scores(scores / "dev.txt").values()])
            stats.append((dev.mean(), dev.std()))
        for subset in ("dev", "eval"):
            got = read_scores(fused / "scores" / f"{subset}.txt")
            tables = [read_scores(m / f"{subset}.txt") for m in members]
            assert got.keys() == tables[0].keys() == tables[1].keys()
            for utt, (attack, key, score) in got.items():
                assert (attack, key) == tables[0][utt][:2]
                expected = np.mean([(t[utt][2] - m) / sd for t, (m, sd) in zip(tables, stats, strict=True)])
                assert score == pytest.approx(expected, abs=1e-6)
        assert json.loads((fused / "fusion.json").read_text())["norm_set"] == "dev"
        assert f"| {tag}+lfcc_gmm |" in (trained_recipe / "RESULTS.md").read_text()
        assert (fused / "scores" / "eval.json").is_file() and not (fused / "packed").exists()


def test_packed_model_reproduces_stage_4(trained_recipe):
    tag = "ocsoftmax_all"
    model = trained_recipe / "exp" / tag / "packed" / f"{tag}.zip"
    result = subprocess.run(
        [sys.executable, "-m", "ssd.bin.detect", "--wav-scp", "data/eval/wav.scp", "--model", str(model),
         "--json"],
        cwd=trained_recipe, capture_output=True, text=True, check=True)
    detected = {r["name"]: r["score"] for r in json.loads(result.stdout)["results"]}
    expected = read_scores(trained_recipe / "exp" / tag / "scores" / "eval.txt")
    assert detected.keys() == expected.keys()
    assert max(abs(detected[u] - expected[u][2]) for u in detected) < 1e-5


def test_sharded_inference_is_byte_identical(trained_recipe):
    """Stage 4 over 4 jobs (shares of the set's batches, merged in C order) writes the single job's file
    byte for byte (ssd.inference)."""
    scores = trained_recipe / "exp" / "ocsoftmax_vanilla" / "scores" / "eval.txt"
    single = scores.read_bytes()
    result = run_recipe(trained_recipe, "--stage", "4", "--stop-stage", "4", *TINY_TRAINING,
                        "--variants", "vanilla", "--test-sets", "eval", "--inference-nj", "4")
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list((trained_recipe / "exp" / "ocsoftmax_vanilla" / "log").glob("infer_eval.*.log"))) >= 4
    assert scores.read_bytes() == single


def test_no_dev_scores_means_no_fusion_said_and_skipped(trained_recipe, tmp_path):
    """A run that scores eval alone has no dev scores to standardise on: stage 4 says which fusion it
    leaves out, and stage 5 reports the rest."""
    recipe = link_recipe(tmp_path / "eval_only")
    os.symlink(trained_recipe / "dump", recipe / "dump")
    result = run_recipe(recipe, "--stage", "3", "--stop-stage", "5", *TINY_TRAINING, "--variants", "vanilla",
                        "--test-sets", "eval", "--gmm-opts", "--components 4")
    assert result.returncode == 0, result.stderr[-3000:]
    assert ("note: ocsoftmax_vanilla+lfcc_gmm: no dev scores of ocsoftmax_vanilla and lfcc_gmm to "
            "standardise on: not fused") in result.stderr
    assert not (recipe / "exp" / "ocsoftmax_vanilla+lfcc_gmm").exists()
    assert "| ocsoftmax_vanilla |" in (recipe / "RESULTS.md").read_text()


def test_several_seeds_train_each_variant_and_aggregate(trained_recipe, repo_root, tmp_path):
    """--seeds "0 1": exp/<tag>_s<seed> per run, each fused with the GMM of its own seed, and stage 5 adds
    the seed statistics of both."""
    recipe = link_recipe(tmp_path / "seeds")
    os.symlink(trained_recipe / "dump", recipe / "dump")
    result = run_recipe(recipe, "--stage", "3", "--stop-stage", "5", "--variants", "spk", "--seeds", "0 1",
                        "--train-opts", "--epochs 1", "--gmm-opts", "--components 4")
    assert result.returncode == 0, result.stderr[-3000:]
    for seed in (0, 1):
        config = (recipe / "exp" / f"ocsoftmax_spk_s{seed}" / "config.yaml").read_text()
        assert f"seed: {seed}\n" in config
    assert not (recipe / "exp" / "ocsoftmax_spk").exists()
    for seed in (0, 1):
        fusion = json.loads((recipe / "exp" / f"ocsoftmax_spk+lfcc_gmm_s{seed}" / "fusion.json").read_text())
        members = [m["exp_dir"] for m in fusion["members"]]
        assert members == [f"exp/ocsoftmax_spk_s{seed}", f"exp/lfcc_gmm_s{seed}"]
    results = (recipe / "RESULTS.md").read_text()
    assert "## Seeds" in results
    seeds = json.loads((recipe / "seeds.json").read_text())
    assert "ocsoftmax_spk+lfcc_gmm" in json.dumps(seeds)


def test_default_profile_model_exports_to_onnx(trained_recipe, tmp_path):
    """The default profile's packed model (4 ms spectrogram front end) exports to ONNX, which scores its
    windows as torch does."""
    onnxruntime = pytest.importorskip("onnxruntime")
    tag = "ocsoftmax_vanilla"
    detector = Detector.load(trained_recipe / "exp" / tag / "packed" / f"{tag}.zip")
    detector.export_onnx(tmp_path / "default.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "default.onnx"))
    path = next(iter(read_kv(trained_recipe / "data" / "eval" / "wav.scp").values()))
    wave, fs = sf.read(path, dtype="float64")
    windows = detector.window_batch(detector.features(wave, fs))
    assert windows.shape[1:] == (33, detector.window)
    with torch.inference_mode():
        expected_windows = detector.model.score(windows).numpy()
    np.testing.assert_allclose(session.run(["score"], {"feats": windows.numpy()})[0], expected_windows,
                               rtol=0, atol=1e-4)


def test_spectrogram_profile_dumps_and_trains_on_its_own_table(trained_recipe, tmp_path):
    """conf/train_mini_spectrogram.yaml: stage 2 dumps dump/spectrogram/ (257 bins) and, with no reference
    system asked for, no LFCC; stages 3-4 train and score on it (packing, detection and the GMM row beside
    a spectrogram table are the default profile's tests above)."""
    recipe = link_recipe(tmp_path / "spectrogram")
    os.symlink(trained_recipe / "data", recipe / "data")
    result = run_recipe(recipe, "--stage", "2", "--stop-stage", "4", "--variants", "vanilla", "--systems", "",
                        "--train-base", "conf/train_mini_spectrogram.yaml", "--train-opts", "--epochs 1")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Stage 2: spectrogram features" in result.stderr and not (recipe / "dump" / "lfcc").exists()
    dims = {m.shape[1] for m in kaldiio.load_scp(str(recipe / "dump" / "spectrogram" / "eval" / "feats.scp"))
            .values()}
    assert dims == {257}
    config = (recipe / "exp" / "ocsoftmax_vanilla" / "config.yaml").read_text()
    assert "frontend: spectrogram\n" in config and "dump/spectrogram/train" in config
    scores, default = (read_scores(r / "exp" / "ocsoftmax_vanilla" / "scores" / "eval.txt")
                       for r in (recipe, trained_recipe))
    assert scores.keys() == default.keys() and len(scores) > 0

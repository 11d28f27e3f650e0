"""ssd-pack (stage 6): an experiment directory becomes one archive with weights, thresholds and figures."""

from __future__ import annotations

import json
import logging
import os
import shutil
import zipfile
from pathlib import Path

import pytest
import torch
from detector_helpers import TinyExperiment, tiny_experiment

from ssd.bin import pack, results
from ssd.metrics.scorefiles import read_cm_scores
from ssd.packing.archive import CONFIG, MANIFEST, README, RESULTS, WEIGHTS, read_packed, write_packed
from ssd.packing.experiment import from_experiment


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyExperiment:
    return tiny_experiment(tmp_path_factory)


def copy_experiment(tiny: TinyExperiment, dst: Path) -> Path:
    shutil.copytree(tiny.exp, dst, ignore=shutil.ignore_patterns("packed"))
    return dst


def test_pack_with_asv_scores(tiny: TinyExperiment, tmp_path: Path) -> None:
    out = tmp_path / "packed" / "model.zip"
    assert pack.main(["--exp-dir", str(tiny.exp), "--out", str(out), "--data-root", str(tiny.data)]) == 0
    packed = read_packed(out)
    m = packed.manifest
    dev = read_cm_scores(tiny.exp / "scores" / "dev.txt")
    assert m["thresholds"]["dev_eer"]["value"] in dev.scores  # an EER threshold is one of the dev scores
    assert m["thresholds"]["dev_min_tdcf"]["value"] in dev.scores
    assert m["figures"]["dev"]["min_tdcf"] is not None and m["figures"]["eval"]["min_tdcf"] is None
    assert m["figures"]["eval"]["scores"] == "scores/eval.txt"
    assert m["checkpoint"] == {"file": "best.pt", "epoch": 3, "dev_eer_in_training": 0.5}
    for name in ("dev", "eval"):  # the figures are stage 5's, not computed again
        pooled = json.loads((tiny.exp / "scores" / f"{name}.json").read_text())["pooled"]
        for key in ("eer", "eer_threshold", "min_tdcf", "min_tdcf_threshold", "n_bonafide", "n_spoof"):
            assert m["figures"][name][key] == pooled[key], (name, key)
    assert m["thresholds"]["dev_min_tdcf"]["value"] == m["figures"]["dev"]["min_tdcf_threshold"]
    with zipfile.ZipFile(out) as z:
        assert sorted(z.namelist()) == [README, RESULTS, CONFIG, MANIFEST, WEIGHTS]
    assert packed.extra_files[RESULTS] == (tiny.exp / "RESULTS.md").read_bytes()
    # Packing is repeatable: the same experiment gives byte-identical weights and config.
    again = tmp_path / "again.zip"
    assert pack.main(["--exp-dir", str(tiny.exp), "--out", str(again), "--data-root", str(tiny.data)]) == 0
    files = read_packed(again).manifest["files"]
    for name in ("weights.pt", "config.yaml"):
        assert files[name] == m["files"][name]


def test_pack_after_stage5_without_asv_scores(tiny: TinyExperiment, tmp_path: Path) -> None:
    exp = copy_experiment(tiny, tmp_path / "ocsoftmax_all")
    data = tmp_path / "data"
    shutil.copytree(tiny.data, data)
    (data / "dev" / "asv_scores.txt").unlink()
    assert results.main(["--exp-dirs", str(exp), "--data-root", str(data), "--sets", "dev", "eval",
                         "--out", str(tmp_path / "RESULTS.md"), "--ci-replicates", "20"]) == 0
    out = tmp_path / "model.zip"
    assert pack.main(["--exp-dir", str(exp), "--out", str(out)]) == 0
    packed = read_packed(out)
    assert "dev_min_tdcf" not in packed.manifest["thresholds"]
    assert packed.manifest["figures"]["dev"]["min_tdcf"] is None
    assert packed.manifest["figures"]["dev"]["asv_scores"] is None
    assert packed.extra_files[RESULTS] == (exp / "RESULTS.md").read_bytes()


def test_stage5_reports_missing_or_stale_fail_clearly(tiny: TinyExperiment, tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """Packing reads stage 5's figures: it refuses a dev set stage 5 has not scored, and a report whose
    score file was written again since (its figures and threshold would not be the scores' own)."""
    exp = copy_experiment(tiny, tmp_path / "exp")
    out = tmp_path / "model.zip"
    (exp / "scores" / "eval.json").unlink()  # a set without a report is left out
    assert set(from_experiment(exp).manifest["figures"]) == {"dev"}
    (exp / "scores" / "dev.json").unlink()
    with caplog.at_level(logging.ERROR):
        assert pack.main(["--exp-dir", str(exp), "--out", str(out)]) == 1
    assert "scores/dev.json does not exist" in caplog.text and "run stage 5" in caplog.text

    exp = copy_experiment(tiny, tmp_path / "exp2")
    scores = exp / "scores" / "eval.txt"
    scores.write_text(scores.read_text().replace(" bonafide ", " bonafide  ", 1))
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        assert pack.main(["--exp-dir", str(exp), "--out", str(out)]) == 1
    assert "eval.json was not computed from the eval.txt now beside it" in caplog.text
    assert "run stage 5 again" in caplog.text and not out.exists()


def test_missing_dev_scores_fail_clearly(tiny: TinyExperiment, tmp_path: Path,
                                         caplog: pytest.LogCaptureFixture) -> None:
    exp = copy_experiment(tiny, tmp_path / "exp")
    (exp / "scores" / "dev.txt").unlink()
    out = tmp_path / "model.zip"
    with caplog.at_level(logging.ERROR):
        assert pack.main(["--exp-dir", str(exp), "--out", str(out)]) == 1
    assert "scores/dev.txt does not exist" in caplog.text and "stages 4 and 5" in caplog.text
    assert not out.exists()

    with caplog.at_level(logging.ERROR):
        assert pack.main(["--exp-dir", str(exp), "--out", str(out), "--checkpoint", "last.pt"]) == 1
    assert "last.pt does not exist" in caplog.text


def test_stage6_command_line(tiny: TinyExperiment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             caplog: pytest.LogCaptureFixture) -> None:
    """The recipe's stage 6 call, from the recipe directory with relative paths."""
    recipe = tmp_path / "recipe"
    (recipe / "exp").mkdir(parents=True)
    copy_experiment(tiny, recipe / "exp" / "ocsoftmax_all")
    os.symlink(tiny.data, recipe / "data")
    monkeypatch.chdir(recipe)
    with caplog.at_level(logging.INFO):
        assert pack.main(["--exp-dir", "exp/ocsoftmax_all", "--data-root", "data", "--fs", "16000",
                          "--out", "exp/ocsoftmax_all/packed/ocsoftmax_all.zip"]) == 0
    assert "dev EER" in caplog.text and "dev_min_tdcf" in caplog.text
    manifest = read_packed(recipe / "exp" / "ocsoftmax_all" / "packed" / "ocsoftmax_all.zip").manifest
    assert manifest["tag"] == "ocsoftmax_all"
    assert manifest["figures"]["dev"]["asv_scores"] == "dev/asv_scores.txt"


def test_no_dev_scores_without_a_required_threshold(tiny: TinyExperiment, tmp_path: Path) -> None:
    """A model to score with (the user gives the threshold): an experiment with only eval scores."""
    exp = copy_experiment(tiny, tmp_path / "exp")
    (exp / "scores" / "dev.txt").unlink()
    with pytest.raises(FileNotFoundError, match="scores/dev.txt does not exist"):
        from_experiment(exp)
    packed = from_experiment(exp, require_threshold=False)
    assert packed.manifest["thresholds"] == {} and set(packed.manifest["figures"]) == {"eval"}
    assert "none known: no dev scores with a finite EER threshold" in packed.readme
    out = tmp_path / "model.zip"
    write_packed(out, packed.manifest, packed.state_dict, packed.config, packed.readme)
    assert read_packed(out).manifest["thresholds"] == {}


def test_pack_with_external_weights(tiny: TinyExperiment, tmp_path: Path) -> None:
    out, weights = tmp_path / "model.zip", tmp_path / "model.weights.pt"
    assert pack.main(["--exp-dir", str(tiny.exp), "--out", str(out), "--external-weights", str(weights)]) == 0
    with zipfile.ZipFile(out) as z:
        assert sorted(z.namelist()) == [README, RESULTS, CONFIG, MANIFEST]
    packed = read_packed(out)
    assert packed.manifest["external"]["weights.pt"]["path"] == "model.weights.pt"
    inside = read_packed(tiny.packed)
    assert packed.state_dict.keys() == inside.state_dict.keys()
    assert all(torch.equal(packed.state_dict[k], v) for k, v in inside.state_dict.items())
    # The weights must travel with the archive: a path outside its folder is refused, nothing written.
    elsewhere = tmp_path / "sub" / "model.zip"
    assert pack.main(["--exp-dir", str(tiny.exp), "--out", str(elsewhere), "--external-weights",
                      str(weights)]) == 1
    assert not elsewhere.exists()

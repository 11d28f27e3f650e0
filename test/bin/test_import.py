"""ssd-import aasist: the authors' released weights packed as ssd archives that ssd-detect runs.

The reference is the fixture folder (``$SSD_FIXTURES/aasist``): the two released state dicts, their
configurations and licence, and the logits of the authors' own code on 20 real recordings, which the
imported archives must reproduce through the real ``ssd-detect`` command line within 1e-4.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ssd.bin import detect, import_model
from ssd.detector import Detector
from ssd.importers.aasist import MIT_LICENSE
from ssd.metrics.report import evaluate
from ssd.metrics.scorefiles import make_trials, read_cm_scores
from ssd.packing import read_packed

REPO = Path(__file__).resolve().parents[2]
TOLERANCE = 1e-4  # the fixture README's: the reference logits are printed to 6 decimals
MODELS = {"AASIST": ("aasist", 297866, 0.0083, "0.83 %", "0.0275"),
          "AASIST-L": ("aasist-l", 85306, 0.0099, "0.99 %", "0.0309")}
# Reference bona fide logits: demo-abouttotry 1.93 (AASIST-L 1.52...), dir-multi3 -3.74: either side of 0.5.
ABOVE, BELOW = "en_US_f_Allison_demo-abouttotry.flac", "es_MX_f_Allison_dir-multi3.flac"


@pytest.fixture(scope="module")
def aasist_dir(fixtures_dir: Path) -> Path:
    folder = fixtures_dir / "aasist"
    if not (folder / "reference_scores.tsv").is_file():
        pytest.skip(f"{folder} has no reference_scores.tsv (SSD_FIXTURES={fixtures_dir})")
    return folder


def _import(*args: object) -> int:
    return import_model.main(["aasist", *(str(a) for a in args)])


@pytest.fixture(scope="module")
def archives(aasist_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Both released models imported with ssd-import aasist (no dev scores)."""
    out = tmp_path_factory.mktemp("imported")
    made = {}
    for name in MODELS:
        made[name] = out / f"{name.lower()}_la.zip"
        assert _import("--weights", aasist_dir / f"{name}.pth", "--config", aasist_dir / f"{name}.conf",
                       "--out", made[name]) == 0
    return made


def _reference(aasist_dir: Path, model: str) -> dict[str, float]:
    with (aasist_dir / "reference_scores.tsv").open() as f:
        return {row["file"]: float(row["logit_bonafide"]) for row in csv.DictReader(f, delimiter="\t")
                if row["model"] == model}


def _detect(capsys: pytest.CaptureFixture, *args: object) -> tuple[int, str, str]:
    code = detect.main([*(str(a) for a in args), "--no-progress"])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("model", list(MODELS))
def test_ssd_detect_reproduces_the_authors_scores(model: str, archives: dict[str, Path], aasist_dir: Path):
    """The real CLI, as a user runs it, on the fixture's audio list: every bona fide logit within 1e-4."""
    reference = _reference(aasist_dir, model)
    assert len(reference) == 20
    files = [str(aasist_dir / "audio" / name) for name in reference]
    done = subprocess.run([sys.executable, "-m", "ssd.bin.detect", "--model", str(archives[model]), "--tsv",
                           "--no-progress", *files], capture_output=True, text=True, cwd=REPO, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")})
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(done.stdout.splitlines(), delimiter="\t"))
    assert [Path(r["name"]).name for r in rows] == list(reference)
    gaps = {Path(r["name"]).name: abs(float(r["score"]) - reference[Path(r["name"]).name]) for r in rows}
    worst = max(gaps, key=gaps.get)
    print(f"{model}: max |score - reference| = {gaps[worst]:.2e} ({worst})")
    assert gaps[worst] < TOLERANCE, f"{worst}: {gaps[worst]:.2e}"
    # No threshold is known: the decision and threshold are '-', a note says why, and the exit status is 0.
    assert {(r["decision"], r["threshold"]) for r in rows} == {("-", "-")}
    assert "no known decision threshold" in done.stderr and "--dev-scores" in done.stderr


def test_no_threshold_is_null_in_json_and_threshold_option_gives_decisions(
        archives: dict[str, Path], aasist_dir: Path, capsys: pytest.CaptureFixture):
    files = [aasist_dir / "audio" / ABOVE, aasist_dir / "audio" / BELOW]
    code, out, _ = _detect(capsys, "--model", archives["AASIST-L"], "--json", files[0])
    doc = json.loads(out)
    assert code == 0 and doc["threshold"]["value"] is None and doc["model"]["policy"] == "first_window"
    assert doc["results"][0]["decision"] is None and doc["results"][0]["threshold"] is None
    assert doc["model"]["window"] == 64600 and doc["model"]["unit"] == "samples"

    code, out, err = _detect(capsys, "--model", archives["AASIST-L"], "--tsv", "--threshold", "0.5", *files)
    rows = list(csv.DictReader(out.splitlines(), delimiter="\t"))
    assert code == 0 and "no known decision threshold" not in err
    assert [(r["decision"], float(r["threshold"])) for r in rows] == [("bonafide", 0.5), ("spoof", 0.5)]
    reference = _reference(aasist_dir, "AASIST-L")
    assert abs(float(rows[0]["score"]) - reference[ABOVE]) < TOLERANCE


@pytest.mark.parametrize("model", list(MODELS))
def test_archive_carries_licence_provenance_and_model_card(model: str, archives: dict[str, Path],
                                                          aasist_dir: Path):
    backbone, parameters, eer, eer_text, tdcf_text = MODELS[model]
    packed = read_packed(archives[model])
    assert packed.extra_files["LICENSE"] == (aasist_dir / "LICENSE").read_bytes()
    assert packed.extra_files["authors_config.conf"] == (aasist_dir / f"{model}.conf").read_bytes()
    m = packed.manifest
    assert m["model"]["backbone"] == backbone and m["model"]["frontend"] == "raw"
    assert m["model"]["input_length"] == 64600 and m["parameters"] == parameters
    assert m["eval"]["policy"] == "first_window" and m["eval"]["window"] == 64600
    assert m["thresholds"] == {} and m["figures"] == {}
    imp = m["imported"]
    for kind, suffix in (("weights", "pth"), ("config", "conf")):
        data = (aasist_dir / f"{model}.{suffix}").read_bytes()
        assert imp["sources"][kind] == {"file": f"{model}.{suffix}", "bytes": len(data),
                                        "sha256": hashlib.sha256(data).hexdigest()}
    assert imp["repository"] == "clovaai/aasist" and imp["licence"] == "MIT"
    assert "NAVER Corp." in imp["copyright"] and imp["trained_on"] == "ASVspoof 2019 LA train"
    assert imp["release"] == {"commit": "a04c9863f63d44471dde8a6abcb3b082b07cd1d1",
                              "path": f"models/weights/{model}.pth"}
    assert imp["published"]["eer"] == eer and imp["published"]["parameters"] == parameters
    assert "Jee-weon Jung" in imp["authors"]
    # The scoring config: every section the detector reads, the authors' policy and score.
    cfg = packed.config
    assert cfg["model"][backbone]["filts"] == json.loads((aasist_dir / f"{model}.conf").read_text())[
        "model_config"]["filts"]
    assert cfg["loss"] == {"name": "softmax", "softmax": {"score": "logit"}}
    assert cfg["eval"]["policy"] == "first_window" and cfg["eval"]["hop_length"] == 64600
    assert {task["weight"] for task in cfg["tasks"].values()} == {0.0}
    card = packed.readme
    for text in ("trained on ASVspoof 2019 LA train by its authors", f"EER {eer_text}",
                 f"min t-DCF {tdcf_text}", "`first_window`, the authors' policy", "first 64,600 samples",
                 "MIT", "NAVER Corp.", "clovaai/aasist", f"{parameters:,} parameters", "none known"):
        assert text in card, text
    # The weights are the authors' tensors, under backbone.<their name>.
    theirs = torch.load(aasist_dir / f"{model}.pth", weights_only=True, map_location="cpu")
    assert set(packed.state_dict) == {f"backbone.{k}" for k in theirs}
    assert all(torch.equal(packed.state_dict[f"backbone.{k}"], v) for k, v in theirs.items())


def test_licence_beside_weights_or_bundled(aasist_dir: Path, tmp_path: Path):
    """Without a LICENSE beside the weights the bundled copy (identical to the authors') is shipped; a
    --license that is not the authors' MIT licence is refused."""
    weights = tmp_path / "AASIST-L.pth"
    shutil.copy(aasist_dir / "AASIST-L.pth", weights)
    out = tmp_path / "l.zip"
    assert _import("--weights", weights, "--config", aasist_dir / "AASIST-L.conf", "--out", out) == 0
    packed = read_packed(out)
    assert packed.extra_files["LICENSE"] == MIT_LICENSE.encode() == (aasist_dir / "LICENSE").read_bytes()
    assert "bundled" in packed.manifest["imported"]["licence_source"]
    other = tmp_path / "OTHER_LICENSE"
    other.write_text("All rights reserved.\n")
    assert _import("--weights", weights, "--config", aasist_dir / "AASIST-L.conf",
                   "--out", tmp_path / "x.zip", "--license", other) == 1
    assert not (tmp_path / "x.zip").exists()


class _NotATensor:
    pass


def test_state_dicts_that_do_not_fit_are_clear_errors(aasist_dir: Path, tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture):
    out = tmp_path / "bad.zip"

    def refused(weights: Path, config: Path) -> str:
        caplog.clear()
        assert _import("--weights", weights, "--config", config, "--out", out) == 1
        assert not out.exists()
        return caplog.text

    # The other variant's weights: names match, shapes do not.
    err = refused(aasist_dir / "AASIST.pth", aasist_dir / "AASIST-L.conf")
    assert "does not fit AASIST-L" in err and "of another shape" in err
    assert "pos_S (1, 23, 64) in the file, (1, 23, 24) in the network" in err
    # Missing and unexpected names.
    state = torch.load(aasist_dir / "AASIST-L.pth", weights_only=True, map_location="cpu")
    del state["out_layer.bias"]
    state["extra.weight"] = torch.zeros(3)
    edited = tmp_path / "edited.pth"
    torch.save(state, edited)
    err = refused(edited, aasist_dir / "AASIST-L.conf")
    assert "1 missing (out_layer.bias)" in err and "1 unexpected (extra.weight)" in err
    # A training checkpoint rather than a state dict, and a pickle that needs code to load.
    torch.save({"epoch": 3, "model": state}, edited)
    assert "not a state dict" in refused(edited, aasist_dir / "AASIST-L.conf")
    torch.save(_NotATensor(), edited)
    assert "weights_only=True" in refused(edited, aasist_dir / "AASIST-L.conf")
    # A configuration that is not the authors' JSON, or whose model_config ssd cannot build.
    conf = tmp_path / "bad.conf"
    conf.write_text("model_config: {}\n")
    assert "not the authors' JSON configuration" in refused(aasist_dir / "AASIST-L.pth", conf)
    conf.write_text(json.dumps({"model_config": {"architecture": "AASIST", "gat_dim": [24, 32]}}))
    assert "unknown AASIST model_config key(s): gat_dim" in refused(aasist_dir / "AASIST-L.pth", conf)


def test_dev_scores_set_the_threshold(archives: dict[str, Path], aasist_dir: Path, tmp_path: Path,
                                      caplog: pytest.LogCaptureFixture):
    """Dev scores give the dev EER threshold as stage 5 and ssd-score compute it, from ssd's 4-column
    format or from 'utt score' lines labelled by a protocol (a data dir's utt2label)."""
    bona, spoof = [0.8, 1.9, 2.5, -0.2], [-3.0, -1.2, 0.4, -2.2]
    four = tmp_path / "dev.txt"
    four.write_text("".join(f"B{i} - bonafide {s}\n" for i, s in enumerate(bona))
                    + "".join(f"S{i} A01 spoof {s}\n" for i, s in enumerate(spoof)))
    expected = evaluate(make_trials(read_cm_scores(four))).pooled.eer_threshold  # as ssd-score finds it
    two, labels = tmp_path / "dev2.txt", tmp_path / "devdir"
    lines = [line.split() for line in four.read_text().splitlines()]
    two.write_text("".join(f"{utt} {score}\n" for utt, _, _, score in lines))
    labels.mkdir()
    (labels / "utt2label").write_text("".join(f"{utt} {key}\n" for utt, _, key, _ in lines))
    common = ["--weights", aasist_dir / "AASIST-L.pth", "--config", aasist_dir / "AASIST-L.conf"]
    for name, extra in (("four", ["--dev-scores", four]),
                        ("two", ["--dev-scores", two, "--dev-protocol", labels])):
        out = tmp_path / f"{name}.zip"
        assert _import(*common, "--out", out, *extra) == 0
        packed = read_packed(out)
        assert packed.manifest["thresholds"]["default"] == "dev_eer"
        assert packed.manifest["thresholds"]["dev_eer"]["value"] == expected
        assert packed.manifest["figures"]["dev"]["n_bonafide"] == 4 and "dev_eer" in packed.readme
        detector = Detector.load(out)
        assert detector.threshold == expected and detector.threshold_name == "dev_eer"
        assert detector.decide(expected) == "bonafide" and detector.decide(expected - 1e-6) == "spoof"
    caplog.clear()
    assert _import(*common, "--out", tmp_path / "x.zip", "--dev-scores", two) == 1
    assert "give the protocol" in caplog.text
    assert _import(*common, "--out", tmp_path / "x.zip", "--dev-protocol", labels) == 1


def test_cli_lists_the_importers(capsys: pytest.CaptureFixture):
    with pytest.raises(SystemExit):
        import_model.main(["--help"])
    assert "aasist" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        import_model.main([])  # an importer is required

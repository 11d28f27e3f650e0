"""ssd-detect: any audio file, directory or wav.scp -> score, decision, threshold, duration."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from detector_helpers import TinyExperiment, read_score_file, tiny_experiment
from helpers import REPO
from scipy.signal import resample_poly

from ssd.bin import detect


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyExperiment:
    torch.set_num_threads(1)
    return tiny_experiment(tmp_path_factory)


@pytest.fixture(scope="module")
def inputs(tiny: TinyExperiment, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same real recordings in the shapes users have: formats, channels, rates, lengths."""
    out = tmp_path_factory.mktemp("detect_inputs")
    speech, fs = sf.read(tiny.root / "corpus" / "eval" / "E_0003.flac", dtype="float64")  # 5.5 s
    files = {
        "long.wav": (speech, fs, "PCM_16"),
        "speech.flac": (speech[: 2 * fs], fs, "PCM_16"),
        "speech.ogg": (speech[: 2 * fs], fs, "VORBIS"),
        "stereo.wav": (np.stack([speech[:fs], 0.5 * speech[fs:2 * fs]], axis=1), fs, "PCM_16"),
        "phone_8k.wav": (resample_poly(speech[: 2 * fs], 1, 2), 8000, "PCM_16"),
        "cd_44k.flac": (resample_poly(speech[: 2 * fs], 441, 160).clip(-1, 0.99), 44100, "PCM_24"),
        "short.wav": (speech[: int(0.3 * fs)], fs, "PCM_16"),
    }
    for name, (x, rate, subtype) in files.items():
        sf.write(out / name, x, rate, subtype=subtype)
    return {name: out / name for name in files}


def run(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    code = detect.main([*map(str, args), "--no-progress", "--num-threads", "1"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_json_for_every_kind_of_input(tiny: TinyExperiment, inputs: dict[str, Path],
                                      capsys: pytest.CaptureFixture) -> None:
    code, out, err = run(capsys, *inputs.values(), "--model", tiny.packed, "--json")
    assert code == 0, err
    doc = json.loads(out)
    threshold = doc["threshold"]["value"]
    assert doc["threshold"]["name"] == "dev_eer" and doc["model"]["fs"] == 16000
    by_name = {Path(r["name"]).name: r for r in doc["results"]}
    assert set(by_name) == set(inputs)
    for name, r in by_name.items():
        info = sf.info(inputs[name])
        assert r["error"] is None and np.isfinite(r["score"])
        assert r["decision"] == ("bonafide" if r["score"] >= threshold else "spoof")
        assert r["threshold"] == threshold
        assert r["duration"] == pytest.approx(info.frames / info.samplerate)
        assert (r["fs"], r["channels"]) == (info.samplerate, info.channels)
    # Vorbis and 44.1 kHz versions of the same 2 s keep its 0-8 kHz content, and stay close to its score
    # (8 kHz audio has nothing above 4 kHz, so its LFCC and score are those of another signal).
    ref = by_name["speech.flac"]["score"]
    for name in ("speech.ogg", "cd_44k.flac"):
        assert abs(by_name[name]["score"] - ref) < 0.01, (name, by_name[name]["score"], ref)
    assert by_name["long.wav"]["score"] != ref


def test_tsv_and_plain_output(tiny: TinyExperiment, inputs: dict[str, Path],
                              capsys: pytest.CaptureFixture) -> None:
    chosen = [inputs["speech.flac"], inputs["short.wav"]]
    code, out, _ = run(capsys, *chosen, "--model", tiny.packed, "--tsv")
    assert code == 0
    header, *rows = [line.split("\t") for line in out.strip().splitlines()]
    assert header == list(detect.TSV_COLUMNS)
    assert [row[0] for row in rows] == [str(p) for p in chosen]
    for row in rows:
        assert row[2] == ("bonafide" if float(row[1]) >= float(row[3]) else "spoof")
    assert float(rows[1][4]) == pytest.approx(0.3)

    code, out, _ = run(capsys, *chosen, "--model", tiny.packed)
    lines = out.strip().splitlines()
    assert lines[0].split() == ["name", "score", "decision", "threshold", "duration"]
    assert lines[1].split()[0] == str(chosen[0]) and lines[2].split()[-1] == "0.30s"
    assert float(lines[1].split()[1]) == pytest.approx(float(rows[0][1]), abs=1e-6)


def test_wav_scp_reproduces_stage4_scores(tiny: TinyExperiment, capsys: pytest.CaptureFixture) -> None:
    for name in ("dev", "eval"):
        code, out, err = run(capsys, "--wav-scp", tiny.data / name / "wav.scp", "--model", tiny.packed,
                             "--tsv", "--batch-size", "5")
        assert code == 0, err
        got = {row.split("\t")[0]: float(row.split("\t")[1]) for row in out.strip().splitlines()[1:]}
        expected = read_score_file(tiny.exp / "scores" / f"{name}.txt")
        assert sorted(got) == sorted(expected)
        assert max(abs(got[u] - expected[u]) for u in expected) < 1e-5


def test_directory_and_experiment_dir(tiny: TinyExperiment, capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run(capsys, tiny.root / "corpus" / "dev", "--model", tiny.exp, "--tsv")
    assert code == 0
    rows = [line.split("\t") for line in out.strip().splitlines()[1:]]
    assert [Path(r[0]).stem for r in rows] == [f"D_000{i}" for i in range(1, 9)]
    expected = read_score_file(tiny.exp / "scores" / "dev.txt")
    assert all(abs(float(r[1]) - expected[Path(r[0]).stem]) < 1e-5 for r in rows)


def test_threshold_override(tiny: TinyExperiment, inputs: dict[str, Path],
                            capsys: pytest.CaptureFixture) -> None:
    path = inputs["speech.flac"]
    _, out, _ = run(capsys, path, "--model", tiny.packed, "--json")
    score = json.loads(out)["results"][0]["score"]
    for threshold, decision in ((score - 1e-3, "bonafide"), (score + 1e-3, "spoof")):
        _, out, _ = run(capsys, path, "--model", tiny.packed, "--json", "--threshold", str(threshold))
        doc = json.loads(out)
        assert doc["threshold"]["name"] == "user" and doc["threshold"]["value"] == threshold
        assert doc["results"][0]["decision"] == decision
    _, out, _ = run(capsys, path, "--model", tiny.packed, "--json", "--threshold", "dev_min_tdcf")
    assert json.loads(out)["threshold"]["name"] == "dev_min_tdcf"
    code, _, err = run(capsys, path, "--model", tiny.packed, "--threshold", "lenient")
    assert code == 1 and "dev_eer" in err


def test_bad_inputs_are_reported_and_skipped(tiny: TinyExperiment, inputs: dict[str, Path], tmp_path: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    broken = tmp_path / "broken.flac"
    broken.write_bytes(b"fLaC" + bytes(100))
    code, out, err = run(capsys, inputs["speech.flac"], broken, tmp_path / "missing.wav", "--model",
                         tiny.packed, "--json")
    assert code == 1
    results = json.loads(out)["results"]
    assert results[0]["score"] is not None
    assert results[1]["score"] is None and "broken.flac" in results[1]["error"]
    assert "missing.wav: no such file" in results[2]["error"]
    assert "broken.flac" in err and "missing.wav" in err


def test_unusable_model_fails_clearly(tiny: TinyExperiment, inputs: dict[str, Path], tmp_path: Path,
                                      capsys: pytest.CaptureFixture) -> None:
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(tiny.packed.read_bytes()[:-300])
    code, out, err = run(capsys, inputs["speech.flac"], "--model", damaged)
    assert code == 1 and out == "" and "damaged.zip" in err
    with pytest.raises(SystemExit):
        detect.main(["--model", str(tiny.packed)])  # no input at all
    assert "give audio files" in capsys.readouterr().err


def test_module_entry_point(tiny: TinyExperiment, inputs: dict[str, Path]) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "ssd.bin.detect", str(inputs["short.wav"]), "--model",
                           str(tiny.packed), "--tsv"], capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1].startswith(str(inputs["short.wav"]) + "\t")


def test_calibrated_llr_and_posterior_under_a_stated_prior(tiny: TinyExperiment, inputs: dict[str, Path],
                                                           tmp_path: Path, capsys: pytest.CaptureFixture):
    """A model packed with stage 5's calibration prints LLR = scale * score + offset and, with
    --prior-spoof, P(bona fide) = sigmoid(LLR + log((1 - P) / P)); without one, --prior-spoof is refused."""
    import math
    import shutil

    from ssd.metrics.calibration import Calibration
    from ssd.packing import pack_experiment

    code, _, err = run(capsys, inputs["speech.flac"], "--model", tiny.packed, "--prior-spoof", "0.3")
    assert code == 1 and "carries no calibration" in err
    exp = tmp_path / "exp"
    shutil.copytree(tiny.exp, exp, ignore=shutil.ignore_patterns("packed"))
    Calibration(2.0, -0.5, 0.5, "scores/dev.txt", 4, 4).write(exp / "calibration.json")
    pack_experiment(exp, tmp_path / "cal.zip", data_root=tiny.data)
    code, out, err = run(capsys, inputs["speech.flac"], "--model", tmp_path / "cal.zip", "--json",
                         "--prior-spoof", "0.3")
    assert code == 0, err
    doc = json.loads(out)
    result = doc["results"][0]
    assert result["llr"] == pytest.approx(2.0 * result["score"] - 0.5, rel=1e-12)
    expected = 1 / (1 + math.exp(-(result["llr"] + math.log(0.7 / 0.3))))
    assert result["posterior_bonafide"] == pytest.approx(expected, rel=1e-12)
    assert doc["calibration"]["prior_spoof"] == 0.3 and doc["calibration"]["scale"] == 2.0
    code, out, _ = run(capsys, inputs["speech.flac"], "--model", tmp_path / "cal.zip", "--tsv")
    row = dict(zip(detect.TSV_COLUMNS, out.strip().splitlines()[1].split("\t"), strict=True))
    assert float(row["llr"]) == pytest.approx(result["llr"], rel=1e-6) and row["posterior_bonafide"] == "-"
    code, _, err = run(capsys, inputs["speech.flac"], "--model", tmp_path / "cal.zip", "--prior-spoof", "1")
    assert code == 1 and "between 0 and 1" in err

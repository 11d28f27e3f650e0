"""ssd.detector and ssd.packing: the Python API scores audio as the recipe does; archives load safely."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from detector_helpers import TinyExperiment, read_score_file, tiny_experiment
from scipy.signal import resample_poly

from ssd import Detector
from ssd.data.windows import eval_windows, window_starts
from ssd.detector import audio_files
from ssd.frontend.audio import AudioError, decode_audio
from ssd.metrics.eer import compute_eer
from ssd.packing.archive import CONFIG, FORMAT_VERSION, MANIFEST, WEIGHTS, PackError, read_packed, sha256_hex


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyExperiment:
    torch.set_num_threads(1)
    return tiny_experiment(tmp_path_factory)


@pytest.fixture(scope="module")
def det(tiny: TinyExperiment) -> Detector:
    return Detector.load(tiny.packed)


def wav_scp(tiny: TinyExperiment, name: str) -> list[tuple[str, str]]:
    return [tuple(line.split(maxsplit=1)) for line in (tiny.data / name / "wav.scp").read_text().splitlines()]


def rewrite(src: Path, dst: Path, replace: dict[str, bytes]) -> None:
    """Copy a zip archive, replacing some members' bytes (a valid zip: only the manifest can object)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, replace.get(info.filename, zin.read(info)))


def test_scores_reproduce_stage4(tiny: TinyExperiment, det: Detector) -> None:
    for name in ("dev", "eval"):
        expected = read_score_file(tiny.exp / "scores" / f"{name}.txt")
        results = det.score_files(wav_scp(tiny, name), batch_size=3)
        assert [r.name for r in results] == sorted(expected)
        for r in results:
            assert r.score == pytest.approx(expected[r.name], abs=1e-5)
            assert r.decision == ("bonafide" if r.score >= det.threshold else "spoof")
    # The experiment directory itself is a detector too, with the same thresholds.
    from_dir = Detector.load(tiny.exp)
    assert from_dir.threshold == det.threshold
    r = from_dir.score_files(wav_scp(tiny, "eval")[:1])[0]
    assert r.score == pytest.approx(read_score_file(tiny.exp / "scores" / "eval.txt")[r.name], abs=1e-5)


def test_threshold_is_the_dev_eer_threshold(tiny: TinyExperiment, det: Detector) -> None:
    lines = [line.split() for line in (tiny.exp / "scores" / "dev.txt").read_text().splitlines()]
    bona = np.array([float(f[3]) for f in lines if f[2] == "bonafide"])
    spoof = np.array([float(f[3]) for f in lines if f[2] == "spoof"])
    eer, threshold = compute_eer(bona, spoof)
    assert det.threshold_name == "dev_eer"
    assert det.threshold == pytest.approx(threshold)
    assert det.manifest["figures"]["dev"]["eer"] == pytest.approx(eer)
    assert "dev_min_tdcf" in det.thresholds  # the dev set has ASV scores
    assert det.decide(threshold) == "bonafide" and det.decide(np.nextafter(threshold, -np.inf)) == "spoof"
    assert det.decide(0.0, threshold=1.0) == "spoof"
    det2 = Detector.load(tiny.packed)
    assert det2.use_threshold("dev_min_tdcf") == det2.thresholds["dev_min_tdcf"]
    assert det2.use_threshold("0.25") == 0.25 and det2.threshold_name == "user"
    with pytest.raises(ValueError, match="dev_eer"):
        det2.use_threshold("median")


def test_waveform_api_matches_files(tiny: TinyExperiment, det: Detector) -> None:
    path = tiny.root / "corpus" / "eval" / "E_0003.flac"  # 5.5 s: several windows
    x, fs = sf.read(path, dtype="float64")
    by_file = det.score_files([str(path)])[0]
    assert det.score(x, fs) == pytest.approx(by_file.score, abs=1e-6)
    assert by_file.duration == pytest.approx(x.size / fs) and by_file.fs == fs and by_file.channels == 1


def test_long_input_is_the_mean_of_its_windows(tiny: TinyExperiment, det: Detector) -> None:
    x, fs = sf.read(tiny.root / "corpus" / "eval" / "E_0003.flac", dtype="float64")
    feats = det.features(x, fs)
    starts = window_starts(feats.shape[0], det.window, det.hop)
    assert len(starts) > 5
    windows = torch.from_numpy(np.stack([feats[s:s + det.window].T for s in starts]).copy())
    with torch.inference_mode():
        expected = det.model.score(windows).double().mean().item()
    assert det.score(x, fs) == pytest.approx(expected, abs=1e-6)


def test_short_input_is_repeat_padded(tiny: TinyExperiment, det: Detector) -> None:
    x, fs = sf.read(tiny.root / "corpus" / "eval" / "E_0001.flac", dtype="float64")
    short = x[: fs // 4]  # 0.25 s: 24 frames, under a quarter of the window
    feats = det.features(short, fs)
    assert feats.shape[0] == 24
    padded = np.concatenate([feats] * 5)[: det.window]
    with torch.inference_mode():
        expected = det.model.score(torch.from_numpy(padded.T.copy())[None]).item()
    assert det.score(short, fs) == pytest.approx(expected, abs=1e-6)
    windows = eval_windows(feats, det.window, det.hop)
    assert np.array_equal(det.window_batch(feats).numpy(), windows)
    # Below 0.1 s (here 50 samples, less than one LFCC frame) the waveform API refuses, as the file reader.
    with pytest.raises(AudioError, match=r"waveform: only 50 samples \(0\.003 s\); at least 0\.1 s"):
        det.score(x[:50], fs)


def test_stereo_is_the_mean_of_its_channels(tiny: TinyExperiment, det: Detector, tmp_path: Path) -> None:
    left, fs = sf.read(tiny.root / "corpus" / "dev" / "D_0001.flac", dtype="float64")
    right = np.roll(left, 800) * 0.5
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), fs, subtype="FLOAT")
    mono, read_fs, channels = decode_audio(str(path), mix=True)
    assert channels == 2 and read_fs == fs
    np.testing.assert_allclose(mono, (left + right) / 2, atol=1e-7)
    result = det.score_files([str(path)])[0]
    assert result.channels == 2
    assert result.score == pytest.approx(det.score((left + right) / 2, fs), abs=1e-5)
    assert det.score(np.stack([left, left], axis=1), fs) == pytest.approx(det.score(left, fs), abs=1e-9)
    with pytest.raises(ValueError, match=r"\(channels, samples\)"):
        det.score(np.stack([left, right]), fs)


@pytest.mark.parametrize("rate", [8000, 44100])
def test_other_rates_are_resampled_polyphase(tiny: TinyExperiment, det: Detector, rate: int) -> None:
    x16, fs = sf.read(tiny.root / "corpus" / "eval" / "E_0001.flac", dtype="float64")
    g = np.gcd(rate, fs)
    x = resample_poly(x16, rate // g, fs // g)
    back = resample_poly(x, fs // g, rate // g)  # the documented policy, applied by hand
    assert det.score(x, rate) == pytest.approx(det.score(back, fs), abs=1e-9)
    assert det.features(x, rate).shape[0] == det.features(back, fs).shape[0]


def test_audio_files_scans_directories(tmp_path: Path) -> None:
    for name in ("b.wav", "a.FLAC", "sub/c.ogg", "notes.txt", "sub/d.mp3.part"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert audio_files(tmp_path) == sorted(str(tmp_path / n) for n in ("a.FLAC", "b.wav", "sub/c.ogg"))


def test_unreadable_inputs_are_named(det: Detector, tmp_path: Path) -> None:
    bad = tmp_path / "not_audio.wav"
    bad.write_text("hello")
    with pytest.raises(ValueError, match="not_audio.wav"):
        det.score_files([str(bad)])
    results = det.score_files([str(bad), str(tmp_path / "missing.flac")], skip_errors=True)
    assert [r.score for r in results] == [None, None]
    assert "cannot decode" in results[0].error and "no such file" in results[1].error


def test_manifest_and_model_card(tiny: TinyExperiment) -> None:
    packed = read_packed(tiny.packed)
    m = packed.manifest
    assert m["format"] == "ssd-detector" and m["format_version"] == FORMAT_VERSION
    assert m["tag"] == "ocsoftmax_all" and m["frontend"]["fs"] == 16000
    assert m["eval"]["window"] == 100 and m["eval"]["hop"] == 50 and m["eval"]["policy"] == "windowed"
    assert m["corpus"]["path"] == str(tiny.root / "corpus")
    assert len(m["git"]["commit"]) == 40
    assert set(m["figures"]) == {"dev", "eval"} and m["figures"]["dev"]["min_tdcf"] is not None
    with zipfile.ZipFile(tiny.packed) as z:
        assert m["files"][WEIGHTS]["sha256"] == sha256_hex(z.read(WEIGHTS))
    # Only the scoring network is packed: the all-tasks checkpoint's auxiliary networks are dropped.
    assert packed.state_dict and all(k.startswith(("backbone.", "cm_loss.")) for k in packed.state_dict)
    assert packed.config["tasks"]["recon"]["weight"] == 0.04
    assert "# ocsoftmax_all" in packed.readme and "| dev | 4 | 4 |" in packed.readme


def test_corrupted_archives_are_refused(tiny: TinyExperiment, tmp_path: Path) -> None:
    data = tiny.packed.read_bytes()
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(PackError, match="not a readable zip"):
        Detector.load(truncated)

    # A flipped byte inside the (uncompressed) weights: the zip's own CRC catches it.
    with zipfile.ZipFile(tiny.packed) as z:
        info = z.getinfo(WEIGHTS)
        weights = z.read(WEIGHTS)
    flipped = bytearray(data)
    offset = data.index(weights[1000:1032]) + 8
    flipped[offset] ^= 0xFF
    bitrot = tmp_path / "bitrot.zip"
    bitrot.write_bytes(bytes(flipped))
    with pytest.raises(PackError, match="corrupted"):
        Detector.load(bitrot)
    assert info.compress_type == zipfile.ZIP_STORED

    # Weights replaced by other valid weights with a valid zip CRC: the manifest's sha256 catches it.
    other = dict(torch.load(io.BytesIO(weights), weights_only=True))
    first = next(iter(other))
    other[first] = other[first] + 1
    buffer = io.BytesIO()
    torch.save(other, buffer)
    swapped = tmp_path / "swapped.zip"
    rewrite(tiny.packed, swapped, {WEIGHTS: buffer.getvalue()})
    with pytest.raises(PackError, match="checksum mismatch for weights.pt"):
        Detector.load(swapped)

    not_zip = tmp_path / "model.zip"
    not_zip.write_text("{}")
    with pytest.raises(PackError, match="not a readable zip"):
        read_packed(not_zip)


def test_other_format_version_is_refused(tiny: TinyExperiment, tmp_path: Path) -> None:
    with zipfile.ZipFile(tiny.packed) as z:
        manifest = json.loads(z.read(MANIFEST))
    manifest["format_version"] = FORMAT_VERSION + 1
    manifest["ssd_version"] = "9.9.9"
    future = tmp_path / "future.zip"
    rewrite(tiny.packed, future, {MANIFEST: json.dumps(manifest).encode()})
    expected = rf"format version {FORMAT_VERSION + 1}.*ssd 9\.9\.9.*reads format version {FORMAT_VERSION}"
    with pytest.raises(PackError, match=expected):
        Detector.load(future)

    manifest["format_version"] = FORMAT_VERSION
    manifest["frontend"]["nfft"] = 1024
    other_frontend = tmp_path / "nfft.zip"
    rewrite(tiny.packed, other_frontend, {MANIFEST: json.dumps(manifest).encode()})
    with pytest.raises(PackError, match="front-end settings differ in nfft"):
        Detector.load(other_frontend)

    # Weights of another network size than the config describes (e.g. a hand-edited archive).
    manifest["frontend"]["nfft"] = 512
    with zipfile.ZipFile(tiny.packed) as z:
        config = yaml.safe_load(z.read(CONFIG))
    config["model"]["resnet"]["embedding_dim"] = 32
    text = yaml.safe_dump(config).encode()
    manifest["files"][CONFIG] = {"sha256": sha256_hex(text), "bytes": len(text)}
    resized = tmp_path / "resized.zip"
    rewrite(tiny.packed, resized, {MANIFEST: json.dumps(manifest).encode(), CONFIG: text})
    with pytest.raises(PackError, match=r"does not fit this model.*backbone\.fc\.weight"):
        Detector.load(resized)


class _Payload:
    """Unpickling this runs a shell command that creates a file: what a hostile archive would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_code_in_an_archive_is_never_executed(tiny: TinyExperiment, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for payload in (pickle.dumps({"backbone.x": _Payload(marker)}, protocol=2), None):
        if payload is None:  # the same object inside a torch.save zip container
            buffer = io.BytesIO()
            torch.save({"backbone.x": _Payload(marker)}, buffer)
            payload = buffer.getvalue()
        with zipfile.ZipFile(tiny.packed) as z:
            manifest = json.loads(z.read(MANIFEST))
        manifest["files"][WEIGHTS] = {"sha256": sha256_hex(payload), "bytes": len(payload)}
        hostile = tmp_path / "hostile.zip"
        rewrite(tiny.packed, hostile, {WEIGHTS: payload, MANIFEST: json.dumps(manifest).encode()})
        with pytest.raises(PackError, match="refused to load weights.pt"):
            Detector.load(hostile)
        assert not marker.exists()

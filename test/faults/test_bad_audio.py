"""Bad audio through the feature dump: every fault stops the job naming utterance and file, or with
--skip-bad-utts is skipped with a warning and listed in bad_utts, never silently dropped. Audio that is
odd but valid (digital silence, a clipped recording, exactly the 0.1 s minimum) gives features; audio
shorter than the minimum, or cut short of what its header declares, is a fault.

test/frontend/test_audio.py checks each message of read_audio; here the whole table goes through the
ssd-compute-lfcc job and the recipe's stage 2, across modules.
"""

from __future__ import annotations

import logging
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import soundfile as sf
from fault_helpers import make_la_corpus
from helpers import CLIPS, FS, link_recipe, run_python, run_recipe, speech, write_scp

from ssd.bin.compute_lfcc import main as compute_lfcc
from ssd.data.datadir import read_kv


def _corrupt_flac(path: Path) -> str:
    """Random bytes over the middle of a real flac's frames: its decoder fails half-way."""
    data = bytearray((CLIPS / "speech_16000.flac").read_bytes())
    middle = len(data) // 2
    data[middle:middle + 500] = np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return str(path)


def _write(path: Path, samples: np.ndarray, fs: int = FS, subtype: str = "PCM_16") -> str:
    sf.write(path, samples, fs, subtype=subtype)
    return str(path)


def _empty(path: Path) -> str:
    path.write_bytes(b"")
    return str(path)


def _clipped(path: Path) -> str:
    """Speech amplified 8 times into int16: a clipped recording, every peak at full scale."""
    pcm = np.clip(speech(0.5).astype(np.int32) * 8, -32768, 32767).astype(np.int16)
    assert np.count_nonzero(np.abs(pcm.astype(np.int32)) >= 32767) > 100
    return _write(path, pcm)


def _truncated_wav(path: Path) -> str:
    """A 2 s wav whose data stops after 0.67 s (a copy that was cut off)."""
    full = path.with_name("full_2s.wav")
    _write(full, speech(2.0))
    path.write_bytes(full.read_bytes()[:44 + 2 * 10720])
    return str(path)


def _float_wav_with(path: Path, value: float) -> str:
    x = speech(0.2).astype(np.float32) / 32768
    x[777] = value
    return _write(path, x, subtype="FLOAT")


# utterance -> (how its wav.scp entry is made, what the error says). Each is a data error of a corpus.
FAULTS = {
    "bad_corrupt": (_corrupt_flac, "cannot decode audio"),
    "bad_empty": (_empty, "file is empty (0 bytes)"),
    "bad_no_samples": (lambda p: _write(p.with_suffix(".wav"), np.zeros(0, np.int16)), "contains no samples"),
    "bad_missing": (lambda p: str(p.with_name("never_written.flac")), "no such file"),
    "bad_rate": (lambda p: _write(p, speech(0.5)[::2], fs=8000), "sampling rate is 8000 Hz, expected 16000"),
    "bad_stereo": (lambda p: _write(p, np.stack([speech(0.5)] * 2, axis=1)), "has 2 channels"),
    "bad_nan": (lambda p: _float_wav_with(p.with_suffix(".wav"), np.nan), "non-finite sample"),
    "bad_inf": (lambda p: _float_wav_with(p.with_suffix(".wav"), -np.inf), "non-finite sample"),
    "bad_overrange": (lambda p: _float_wav_with(p.with_suffix(".wav"), 1.5), "beyond full scale"),
    "bad_pipe": (lambda p: f"sox {p.with_name('never_written.flac')} -t wav - |", "exited with status"),
    "bad_truncated": (lambda p: _truncated_wav(p.with_suffix(".wav")),
                      "truncated: the header declares 32000 frames (2.000 s) but only 10720"),
    "bad_cut_pipe": (lambda p: f"head -c 100 {_write(p.with_suffix('.wav'), speech(0.5))} |",
                     "truncated: the header declares 8000 frames"),
    "bad_one_sample": (lambda p: _write(p, speech(1.0)[:1]), "only 1 samples"),
    "bad_short": (lambda p: _write(p, speech(1.0)[:1599]), "at least 0.1 s of audio is needed"),
}

# utterance -> (entry, expected number of frames): odd but valid audio must give features.
VALID = {
    "ok_speech": (lambda p: _write(p, speech(1.0)), 99),
    "ok_minimum": (lambda p: _write(p, speech(1.0)[:1600]), 9),  # exactly MIN_SECONDS
    "ok_silence": (lambda p: _write(p, np.zeros(1600, np.int16)), 9),
    "ok_clipped": (_clipped, 49),
    "ok_pipe": (lambda p: f"cat {_write(p, speech(0.3))} |", 29),
}


def _entries(tmp_path: Path, table: dict) -> dict[str, str]:
    (tmp_path / "audio").mkdir(exist_ok=True)
    return {utt: make(tmp_path / "audio" / f"{utt}.flac") for utt, (make, _) in table.items()}


def _outputs(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    out = tmp_path / "out"
    return out / "feats.1.ark", out / "feats.1.scp", out / "utt2num_frames.1", out / "bad_utts.1"


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_each_fault_stops_the_job_naming_utterance_and_source(tmp_path: Path, fault: str,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    entries = _entries(tmp_path, {"ok_speech": VALID["ok_speech"], fault: FAULTS[fault]})
    wav_scp = write_scp(tmp_path / "wav.scp", entries)
    ark, scp, frames, _ = _outputs(tmp_path)
    with caplog.at_level(logging.ERROR):
        status = compute_lfcc(["--write-utt2num-frames", str(frames), str(wav_scp), f"ark,scp:{ark},{scp}"])
    assert status == 1
    source = entries[fault].rstrip("| ") if entries[fault].endswith("|") else entries[fault]
    assert f"utterance '{fault}'" in caplog.text and source in caplog.text
    assert FAULTS[fault][1] in caplog.text
    # Nothing that a later stage could mistake for a finished job.
    assert not scp.exists() and not ark.exists() and not frames.exists()


def test_skip_bad_utts_lists_every_fault_and_keeps_every_valid_utterance(tmp_path: Path) -> None:
    table = {**VALID, **FAULTS}
    entries = _entries(tmp_path, table)
    wav_scp = write_scp(tmp_path / "wav.scp", sorted(entries.items()))
    ark, scp, frames, bad = _outputs(tmp_path)
    proc = run_python("ssd.bin.compute_lfcc", "--skip-bad-utts", str(bad), "--write-utt2num-frames",
                      str(frames), str(wav_scp), f"ark,scp:{ark},{scp}")
    assert proc.returncode == 0, proc.stderr
    reasons = read_kv(bad)
    assert sorted(reasons) == sorted(FAULTS)
    for utt, (_, message) in FAULTS.items():
        assert message in reasons[utt], (utt, reasons[utt])
        assert f"skipping: utterance '{utt}'" in proc.stderr  # a warning in the job's log, too
    assert f"wrote {len(VALID)} utterances" in proc.stderr and f"{len(FAULTS)} skipped" in proc.stderr
    feats = kaldiio.load_scp(str(scp))
    assert sorted(feats) == sorted(VALID) == sorted(read_kv(frames))
    for utt, (_, num_frames) in VALID.items():
        assert feats[utt].shape == (num_frames, 60), utt
        assert np.isfinite(feats[utt]).all(), utt
    # Digital silence hits the log floor: every static coefficient is finite and the deltas vanish (to
    # rounding: BLAS may round the last rows of a block's product differently, ~1e-15).
    assert np.max(np.abs(feats["ok_silence"][:, 20:])) < 1e-12


@pytest.fixture(scope="module")
def damaged_corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """An LA tree whose train set has an empty and a stereo flac, one in each half (one per job)."""
    la = make_la_corpus(tmp_path_factory.mktemp("damaged"), per_set=6)
    flac = la / "ASVspoof2019_LA_train" / "flac"
    (flac / "LA_T_1000002.flac").write_bytes(b"")
    sf.write(flac / "LA_T_1000005.flac", np.stack([speech(0.5)] * 2, axis=1), FS, subtype="PCM_16")
    return la, {"LA_T_1000002": "file is empty", "LA_T_1000005": "has 2 channels"}


def test_recipe_stage2_stops_then_skips_with_skip_bad_utts(
        tmp_path: Path, damaged_corpus: tuple[Path, dict[str, str]]) -> None:
    la, damage = damaged_corpus
    recipe = link_recipe(tmp_path / "recipe")
    only_train = ("--stage", "0", "--stop-stage", "2", "--dev-set", "train", "--test-sets", "train")
    dump = recipe / "dump" / "lfcc" / "train"

    failed = run_recipe(recipe, *only_train, corpus=la)
    assert failed.returncode != 0
    assert "run.pl" in failed.stderr and "lfcc." in failed.stderr  # names the failing job's log
    logs = "".join(p.read_text() for p in (dump / "log").glob("lfcc.*.log"))
    for utt, message in damage.items():
        assert utt in logs and f"{utt}.flac" in logs and message in logs
    assert not (dump / ".done").exists() and not (dump / "feats.scp").exists()

    skipped = run_recipe(recipe, *only_train, "--skip-bad-utts", "true", corpus=la)
    assert skipped.returncode == 0, skipped.stderr
    assert "warning: train: 2 utterances skipped, listed in dump/lfcc/train/bad_utts" in skipped.stderr
    reasons = read_kv(dump / "bad_utts")
    assert sorted(reasons) == sorted(damage)
    for utt, message in damage.items():
        assert message in reasons[utt]
    good = set(read_kv(recipe / "data" / "train" / "wav.scp")) - set(damage)
    assert set(kaldiio.load_scp(str(dump / "feats.scp"))) == good
    for table in ("utt2spk", "utt2label", "utt2attack", "utt2num_frames"):
        assert set(read_kv(dump / table)) == good, table  # the dump dir stays a consistent data dir
    assert sorted(" ".join(read_kv(dump / "spk2utt").values()).split()) == sorted(good)
    assert (dump / ".done").exists()


def test_pipe_whose_program_is_missing_is_named(tmp_path: Path) -> None:
    """A wav.scp pipe naming a program that is not installed: status 127 and the command, in bad_utts."""
    wav_scp = write_scp(tmp_path / "wav.scp", {"u1": "no-such-program-xyz in.wav |",
                                               "u2": str(CLIPS / "speech_1600.flac")})
    ark, scp, _, bad = _outputs(tmp_path)
    assert compute_lfcc(["--skip-bad-utts", str(bad), str(wav_scp), f"ark,scp:{ark},{scp}"]) == 0
    reason = read_kv(bad)["u1"]
    assert "exited with status 127" in reason and "no-such-program-xyz" in reason
    assert list(kaldiio.load_scp(str(scp))) == ["u2"]

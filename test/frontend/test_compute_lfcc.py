"""ssd-compute-lfcc end to end: real ark/scp read back by kaldiio, commit order, bad utterances."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import soundfile as sf

from ssd.bin.compute_lfcc import main
from ssd.frontend.audio import read_audio
from ssd.frontend.lfcc import lfcc

DATA = Path(__file__).resolve().parent / "data"
CLIPS = ["speech_1600", "speech_12347", "speech_16000"]  # at least MIN_SECONDS (0.1 s) each


def write_scp(path: Path, entries: list[tuple[str, str]]) -> Path:
    path.write_text("".join(f"{utt} {spec}\n" for utt, spec in entries))
    return path


@pytest.fixture
def wav_scp(tmp_path: Path) -> Path:
    """Three FLAC clips and one Kaldi pipe entry (the 1600-sample clip through cat)."""
    entries = [(f"utt_{name}", str(DATA / f"{name}.flac")) for name in CLIPS]
    entries.append(("utt_pipe", f"cat {DATA / 'speech_1600.flac'} |"))
    return write_scp(tmp_path / "wav.scp", entries)


def outputs(tmp_path: Path) -> tuple[Path, Path, Path]:
    out = tmp_path / "out"
    return out / "feats.1.ark", out / "feats.1.scp", out / "num_frames.1"


def run(wav_scp: Path, tmp_path: Path, *extra: str) -> int:
    ark, scp, frames = outputs(tmp_path)
    return main([*extra, "--write-utt2num-frames", str(frames), str(wav_scp), f"ark,scp:{ark},{scp}"])


def test_writes_float32_lfcc_readable_by_kaldiio(wav_scp, tmp_path):
    assert run(wav_scp, tmp_path) == 0
    ark, scp, frames = outputs(tmp_path)
    feats = kaldiio.load_scp(str(scp))
    assert list(feats) == [f"utt_{name}" for name in CLIPS] + ["utt_pipe"]
    for line in scp.read_text().splitlines():
        assert line.split()[1].startswith(f"{ark}:")
    num_frames = dict(line.split() for line in frames.read_text().splitlines())
    for utt, spec in (line.split(maxsplit=1) for line in wav_scp.read_text().splitlines()):
        mat = feats[utt]
        expected = lfcc(read_audio(spec)[0], 16000).astype(np.float32)
        assert mat.dtype == np.float32 and mat.shape == (expected.shape[0], 60)
        assert np.array_equal(mat, expected)
        assert int(num_frames[utt]) == mat.shape[0]
    assert np.array_equal(feats["utt_pipe"], feats["utt_speech_1600"])


def test_clips_under_the_minimum_are_refused(tmp_path, caplog):
    """100 and 161 samples are under 0.1 s: refused by the reader (the LFCC itself would give 1 frame)."""
    for name in ("speech_100", "speech_161"):
        wav_scp = write_scp(tmp_path / "wav.scp", [(f"utt_{name}", str(DATA / f"{name}.flac"))])
        with caplog.at_level(logging.ERROR):
            assert run(wav_scp, tmp_path) == 1
        assert f"'utt_{name}'" in caplog.text and "at least 0.1 s of audio is needed" in caplog.text


def test_console_script_runs_as_a_process(wav_scp, tmp_path):
    ark, scp, _ = outputs(tmp_path)
    command = [sys.executable, "-m", "ssd.bin.compute_lfcc", str(wav_scp), f"ark,scp:{ark},{scp}"]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {len(CLIPS) + 1} utterances" in proc.stderr
    assert len(kaldiio.load_scp(str(scp))) == len(CLIPS) + 1


def test_failure_names_utterance_and_leaves_no_scp(wav_scp, tmp_path, caplog):
    assert run(wav_scp, tmp_path) == 0
    ark, scp, frames = outputs(tmp_path)
    assert scp.exists() and frames.exists()
    entries = [line.split(maxsplit=1) for line in wav_scp.read_text().splitlines()]
    entries.insert(2, ["utt_missing", str(tmp_path / "gone.flac")])
    write_scp(wav_scp, [(u, s) for u, s in entries])

    with caplog.at_level(logging.ERROR):
        assert run(wav_scp, tmp_path) == 1
    assert "utt_missing" in caplog.text and "gone.flac" in caplog.text
    # The previous run's scp pointed into the ark being rewritten: it must be gone, as must the
    # partial ark and the stale utt2num_frames.
    assert not scp.exists() and not ark.exists() and not frames.exists()
    assert not [p for p in ark.parent.iterdir() if p.name.endswith(".tmp")]


def test_skip_bad_utts_lists_every_skipped_utterance(wav_scp, tmp_path, caplog):
    eight_khz = tmp_path / "eight.flac"
    sf.write(eight_khz, np.zeros(800, dtype=np.int16), 8000)
    entries = [line.split(maxsplit=1) for line in wav_scp.read_text().splitlines()]
    entries += [["bad_missing", str(tmp_path / "gone.flac")], ["bad_rate", str(eight_khz)],
                ["bad_pipe", "false |"]]
    write_scp(wav_scp, [(u, s) for u, s in entries])
    skipped = tmp_path / "out" / "bad_utts.1"

    with caplog.at_level(logging.WARNING):
        assert run(wav_scp, tmp_path, "--skip-bad-utts", str(skipped)) == 0
    _, scp, frames = outputs(tmp_path)
    reasons = dict(line.split(maxsplit=1) for line in skipped.read_text().splitlines())
    assert list(reasons) == ["bad_missing", "bad_rate", "bad_pipe"]
    assert "no such file" in reasons["bad_missing"]
    assert "8000 Hz, expected 16000 Hz" in reasons["bad_rate"]
    assert "status 1" in reasons["bad_pipe"]
    assert all(f"'{utt}'" in caplog.text for utt in reasons)
    feats = kaldiio.load_scp(str(scp))
    assert len(feats) == len(CLIPS) + 1 and not set(reasons) & set(feats)
    assert len(frames.read_text().splitlines()) == len(CLIPS) + 1


def test_skip_list_is_empty_when_nothing_is_bad(wav_scp, tmp_path):
    skipped = tmp_path / "out" / "bad_utts.1"
    assert run(wav_scp, tmp_path, "--skip-bad-utts", str(skipped)) == 0
    assert skipped.read_text() == ""


def test_all_utterances_bad_is_a_failure(tmp_path):
    wav_scp = write_scp(tmp_path / "wav.scp", [("a", "false |"), ("b", str(tmp_path / "x.flac"))])
    skipped = tmp_path / "out" / "bad_utts.1"
    assert run(wav_scp, tmp_path, "--skip-bad-utts", str(skipped)) == 1
    assert len(skipped.read_text().splitlines()) == 2
    assert not outputs(tmp_path)[1].exists()


def test_sampling_rate_option_is_enforced(wav_scp, tmp_path, caplog):
    with caplog.at_level(logging.ERROR):
        assert run(wav_scp, tmp_path, "--fs", "8000") == 1
    assert "16000 Hz, expected 8000 Hz" in caplog.text


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "no utterances"), ("a x.flac\na y.flac\n", "listed twice"), ("lonely\n", "expected 'key value'")],
)
def test_bad_wav_scp(tmp_path, caplog, content, message):
    wav_scp = tmp_path / "wav.scp"
    wav_scp.write_text(content)
    with caplog.at_level(logging.ERROR):
        assert run(wav_scp, tmp_path) == 1
    assert message in caplog.text and str(wav_scp) in caplog.text


def test_bad_wspecifier(wav_scp, tmp_path, caplog):
    with caplog.at_level(logging.ERROR):
        assert main([str(wav_scp), f"scp:{tmp_path / 'f.scp'}"]) == 1
    assert "bad wspecifier" in caplog.text



def test_segments_cut_utterances_from_the_recordings(tmp_path, caplog):
    """--segments: each utterance is its cut of a wav.scp recording (Kaldi's convention), features equal
    to those of the cut samples; a segment past its recording's end or of an unknown recording fails."""
    recording, fs = read_audio(str(DATA / "speech_16000.flac"))
    wav_scp = write_scp(tmp_path / "wav.scp", [("rec1", str(DATA / "speech_16000.flac"))])
    segments = tmp_path / "segments"
    segments.write_text("s1 rec1 0.00 0.40\ns2 rec1 0.25 -1\n")
    assert run(wav_scp, tmp_path, "--segments", str(segments)) == 0
    ark, scp, frames = outputs(tmp_path)
    feats = dict(kaldiio.load_scp_sequential(str(scp)))
    assert sorted(feats) == ["s1", "s2"]
    np.testing.assert_array_equal(feats["s1"], lfcc(recording[:6400], fs).astype(np.float32))
    np.testing.assert_array_equal(feats["s2"], lfcc(recording[4000:], fs).astype(np.float32))
    for content, message in (("s1 rec1 0.5 1.8\n", "lies beyond its end"),
                             ("s1 rec9 0 0.5\n", "recording 'rec9' of s1 is not in"),
                             ("s1 rec1 0.5 0.2\n", "segments:1: segment s1 from 0.5 to 0.2 s is empty"),
                             ("s1 rec1 0.5\n", "segments:1: expected 'utt recording start end'")):
        segments.write_text(content)
        caplog.clear()
        with caplog.at_level(logging.ERROR):
            assert run(wav_scp, tmp_path, "--segments", str(segments)) == 1
        assert message in caplog.text


def test_resample_option(tmp_path, caplog):
    eight = tmp_path / "eight.wav"
    clip, _ = sf.read(DATA / "speech_16000.flac", dtype="int16")
    sf.write(eight, clip[::2], 8000, subtype="PCM_16")
    wav_scp = write_scp(tmp_path / "wav.scp", [("u", str(eight))])
    with caplog.at_level(logging.ERROR):
        assert run(wav_scp, tmp_path) == 1
    assert "8000 Hz, expected 16000 Hz" in caplog.text
    assert run(wav_scp, tmp_path, "--resample") == 0
    _, scp, _ = outputs(tmp_path)
    expected = lfcc(read_audio(str(eight), expected_fs=16000, resample_to_expected=True)[0], 16000)
    got = dict(kaldiio.load_scp_sequential(str(scp)))["u"]
    np.testing.assert_array_equal(got, expected.astype(np.float32))

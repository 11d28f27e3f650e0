"""read_audio: MATLAB audioread scaling, Kaldi pipes, and a clear error for every bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ssd.frontend.audio import AudioError, read_audio

CLIP = Path(__file__).resolve().parent / "data" / "speech_1600.flac"


@pytest.fixture
def clip_wav(tmp_path: Path) -> Path:
    """The FLAC fixture re-encoded as 16-bit WAV."""
    samples, fs = sf.read(CLIP, dtype="int16")
    path = tmp_path / "clip.wav"
    sf.write(path, samples, fs, subtype="PCM_16")
    return path


def test_flac_is_scaled_like_matlab_audioread():
    x, fs = read_audio(str(CLIP))
    pcm, _ = sf.read(CLIP, dtype="int16")
    assert fs == 16000
    assert x.dtype == np.float64 and x.ndim == 1 and x.size == 1600
    assert np.array_equal(x, pcm / 32768.0)


def test_int16_extremes_map_to_minus_one_and_just_below_one(tmp_path):
    path = tmp_path / "extremes.wav"
    sf.write(path, np.array([-32768, 0, 1, 32767], dtype=np.int16), 16000, subtype="PCM_16")
    x, _ = read_audio(str(path))
    assert x.tolist() == [-1.0, 0.0, 1 / 32768, 32767 / 32768]


def test_24_bit_is_scaled_by_two_to_the_23(tmp_path):
    path = tmp_path / "pcm24.flac"
    sf.write(path, np.array([-(2**23), 3, 2**23 - 1], dtype=np.int32) * 256, 16000, subtype="PCM_24")
    x, _ = read_audio(str(path))
    assert x.tolist() == [-1.0, 3 / 2**23, (2**23 - 1) / 2**23]


def test_cat_pipe_equals_file(clip_wav):
    from_file, _ = read_audio(str(clip_wav))
    from_pipe, fs = read_audio(f"cat {clip_wav} |", utt="u1", expected_fs=16000)
    assert fs == 16000
    assert np.array_equal(from_pipe, from_file)


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox not installed")
def test_sox_pipe_from_flac_equals_flac():
    from_pipe, _ = read_audio(f"sox {CLIP} -t wav - |")
    assert np.array_equal(from_pipe, read_audio(str(CLIP))[0])


def test_missing_file_names_utterance_and_path(tmp_path):
    missing = tmp_path / "nope.flac"
    with pytest.raises(AudioError, match=r"utterance 'LA_T_1'.*nope\.flac.*no such file"):
        read_audio(str(missing), utt="LA_T_1")


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.flac"
    path.touch()
    with pytest.raises(AudioError, match=r"'u0'.*empty\.flac.*empty \(0 bytes\)"):
        read_audio(str(path), utt="u0")


def test_truncated_flac_is_undecodable(tmp_path):
    path = tmp_path / "truncated.flac"
    data = (CLIP.parent / "speech_16000.flac").read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioError, match=r"'u1'.*truncated\.flac.*cannot decode"):
        read_audio(str(path), utt="u1")


def test_non_audio_bytes_are_undecodable(tmp_path):
    path = tmp_path / "text.wav"
    path.write_text("this is not audio\n")
    with pytest.raises(AudioError, match="cannot decode"):
        read_audio(str(path), utt="u2")


def test_file_without_samples(tmp_path):
    path = tmp_path / "nosamples.wav"
    sf.write(path, np.zeros(0, dtype=np.int16), 16000)
    with pytest.raises(AudioError, match=r"'u3'.*no samples"):
        read_audio(str(path), utt="u3")


def test_wrong_sampling_rate(tmp_path):
    path = tmp_path / "eight.flac"
    sf.write(path, np.zeros(800, dtype=np.int16), 8000)
    assert read_audio(str(path))[1] == 8000
    with pytest.raises(AudioError, match=r"'u4'.*eight\.flac.*8000 Hz, expected 16000 Hz"):
        read_audio(str(path), utt="u4", expected_fs=16000)


def test_stereo_is_a_data_error(tmp_path):
    path = tmp_path / "stereo.flac"
    sf.write(path, np.zeros((1600, 2), dtype=np.int16), 16000)
    with pytest.raises(AudioError, match=r"'u5'.*2 channels.*mono"):
        read_audio(str(path), utt="u5")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_samples(tmp_path, bad):
    path = tmp_path / "float.wav"
    x = np.zeros(100, dtype=np.float32)
    x[37] = bad
    sf.write(path, x, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"'u6'.*non-finite sample.*index 37"):
        read_audio(str(path), utt="u6")


def test_failing_pipe_reports_status_and_stderr():
    with pytest.raises(AudioError, match=r"'u7'.*exited with status 3; stderr: corpus disk gone"):
        read_audio("echo corpus disk gone >&2; exit 3 |", utt="u7")


def test_false_pipe():
    with pytest.raises(AudioError, match=r"pipe 'false \|'.*status 1"):
        read_audio("false |", utt="u8")


def test_failure_early_in_a_pipeline_is_caught(clip_wav):
    with pytest.raises(AudioError, match="status 1"):
        read_audio(f"false | cat {clip_wav} |", utt="u9")


def test_pipe_without_output():
    with pytest.raises(AudioError, match="wrote no audio"):
        read_audio("true |", utt="u10")


def test_pipe_with_garbage_output():
    with pytest.raises(AudioError, match=r"'u11'.*pipe.*cannot decode"):
        read_audio("echo not a wav |", utt="u11")


def test_audio_error_is_a_value_error():
    assert issubclass(AudioError, ValueError)

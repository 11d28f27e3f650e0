"""The one audio reader: MATLAB audioread scaling, Kaldi pipes (trusted, switchable, timed out), and a
clear error for every bad input (truncated, too short, not a file, beyond full scale)."""

from __future__ import annotations

import io
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ssd.frontend.audio import MIN_SECONDS, AudioError, decode_audio, read_audio

DATA = Path(__file__).resolve().parent / "data"
CLIP = DATA / "speech_1600.flac"


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
    pcm = np.zeros(1600, dtype=np.int16)
    pcm[:4] = [-32768, 0, 1, 32767]
    sf.write(path, pcm, 16000, subtype="PCM_16")
    x, _ = read_audio(str(path))
    assert x[:4].tolist() == [-1.0, 0.0, 1 / 32768, 32767 / 32768]


def test_24_bit_is_scaled_by_two_to_the_23(tmp_path):
    path = tmp_path / "pcm24.flac"
    pcm = np.zeros(1600, dtype=np.int32)
    pcm[:3] = [-(2**23), 3, 2**23 - 1]
    sf.write(path, pcm * 256, 16000, subtype="PCM_24")
    x, _ = read_audio(str(path))
    assert x[:3].tolist() == [-1.0, 3 / 2**23, (2**23 - 1) / 2**23]


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
    x = np.zeros(1600, dtype=np.float32)
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


# --- truncation, short input, things that are not files, pipes under control -------------------------

def _cut(data: bytes, path: Path, keep: int) -> str:
    path.write_bytes(data[:keep])
    return str(path)


def test_truncated_wav_file_and_pipe_are_errors(clip_wav: Path, tmp_path: Path) -> None:
    """The header says 0.1 s; libsndfile alone would quietly decode what is left."""
    data = clip_wav.read_bytes()
    cut = _cut(data, tmp_path / "cut.wav", 44 + 2 * 1000)
    assert sf.info(cut).frames == 1000  # what libsndfile reports: the header's size is not its concern
    with pytest.raises(AudioError, match=r"'u1'.*cut\.wav.*truncated: the header declares 1600 frames "
                       r"\(0\.100 s\) but only 1000 \(0\.062 s\)"):
        read_audio(cut, "u1")
    with pytest.raises(AudioError, match=r"'u2'.*pipe 'head -c 1000 .*truncated.*1600 frames.*only 478"):
        read_audio(f"head -c 1000 {clip_wav} |", "u2")


def test_flac_cut_at_a_frame_boundary_is_truncated(tmp_path: Path) -> None:
    """A FLAC that ends cleanly after a frame: STREAMINFO's total says it is cut."""
    data = (CLIP.parent / "speech_16000.flac").read_bytes()
    last_frame = data.rindex(b"\xff\xf8")  # the sync code of the last frame (16-bit, fixed blocksize)
    cut = _cut(data, tmp_path / "cut.flac", last_frame)
    with pytest.raises(AudioError, match=r"'u3'.*cannot decode audio \(truncated or damaged: the header "
                       r"declares 16000 frames\)"):
        read_audio(cut, "u3")


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox not installed")
def test_streamed_wav_of_unknown_length_is_read_whole(clip_wav: Path, tmp_path: Path) -> None:
    """Writers that cannot seek back put a placeholder size in the header (sox: 0x7ffff000)."""
    raw = tmp_path / "clip.raw"
    raw.write_bytes(clip_wav.read_bytes()[44:])
    x, _ = read_audio(f"cat {raw} | sox -t raw -r 16000 -e signed -b 16 -c 1 - -t wav - |", "u4")
    assert np.array_equal(x, read_audio(str(clip_wav))[0])


def test_placeholder_sizes_of_streaming_writers_are_not_truncation(clip_wav: Path, tmp_path: Path) -> None:
    data = bytearray(clip_wav.read_bytes())
    assert data[36:40] == b"data"
    for size in (0xFFFFFFFF, 0x7FFFF000):
        data[40:44] = size.to_bytes(4, "little")
        path = tmp_path / f"stream_{size:x}.wav"
        path.write_bytes(bytes(data))
        assert read_audio(str(path))[0].size == 1600


def test_shorter_than_the_minimum_is_refused(tmp_path: Path) -> None:
    for n in (1, int(MIN_SECONDS * 16000) - 1):
        path = tmp_path / f"n{n}.wav"
        sf.write(path, np.full(n, 1000, dtype=np.int16), 16000)
        with pytest.raises(AudioError, match=rf"'u5'.*n{n}\.wav.*only {n} samples.*at least 0\.1 s"):
            read_audio(str(path), "u5")
    sf.write(tmp_path / "ok.wav", np.full(1600, 1000, dtype=np.int16), 16000)
    assert read_audio(str(tmp_path / "ok.wav"))[0].size == 1600


def test_directory_and_fifo_are_not_audio_files(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match=r"'u6'.*is a directory"):
        read_audio(str(tmp_path), "u6")
    fifo = tmp_path / "fifo.wav"
    os.mkfifo(fifo)
    with pytest.raises(AudioError, match=r"'u7'.*fifo\.wav.*is not a regular file"):
        read_audio(str(fifo), "u7")  # and does not block opening it


def test_stereo_is_mixed_by_the_mean_when_asked(tmp_path: Path) -> None:
    left = np.linspace(-0.5, 0.5, 1600)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, -left / 2], axis=1), 16000, subtype="FLOAT")
    audio = decode_audio(str(path), mix=True)
    assert audio.channels == 2 and audio.fs == 16000
    np.testing.assert_allclose(audio.samples, left / 4, atol=1e-7)
    over = np.stack([left, left * 3], axis=1)  # one channel beyond full scale, its mean is not
    sf.write(path, over, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="beyond full scale"):
        decode_audio(str(path), mix=True)


def test_a_literal_path_is_never_run(clip_wav: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    named = tmp_path / "x.wav; touch PWNED |"
    shutil.copy(clip_wav, named)
    audio = decode_audio(str(named), literal=True)
    assert audio.samples.size == 1600 and not (tmp_path / "PWNED").exists()


def test_pipes_can_be_refused(clip_wav: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "ran"
    entry = f"touch {marker}; cat {clip_wav} |"
    with pytest.raises(AudioError, match=r"'u8'.*pipe entries are refused \(SSD_ALLOW_PIPES=0"):
        read_audio(entry, "u8", pipes=False)
    monkeypatch.setenv("SSD_ALLOW_PIPES", "0")
    with pytest.raises(AudioError, match="refused"):
        read_audio(entry, "u8")
    assert not marker.exists()
    assert read_audio(entry, "u8", pipes=True)[0].size == 1600 and marker.exists()
    monkeypatch.setenv("SSD_ALLOW_PIPES", "no")
    with pytest.raises(ValueError, match=r"SSD_ALLOW_PIPES='no': expected 1 .* or 0"):
        read_audio(entry, "u8")


def test_a_pipe_that_never_ends_is_killed_with_its_children(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    pid_file = tmp_path / "pid"
    monkeypatch.setenv("SSD_PIPE_TIMEOUT", "0.5")
    start = time.monotonic()
    with pytest.raises(AudioError, match=r"'u9'.*did not finish within 0\.5 s and was killed"):
        read_audio(f"sleep 60 & echo $! > {pid_file}; wait | cat |", "u9")
    assert time.monotonic() - start < 5
    stat = Path(f"/proc/{pid_file.read_text().strip()}/stat")
    for _ in range(100):  # the grandchild went with the group (gone, or a zombie nobody has reaped yet)
        if not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
            break
        time.sleep(0.02)
    else:
        pytest.fail("the pipe's background process survived the time-out")
    monkeypatch.setenv("SSD_PIPE_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="SSD_PIPE_TIMEOUT='soon'"):
        read_audio("true |", "u9")


def _wav_bytes(samples: np.ndarray, fs: int) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, fs, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def test_kaldi_wav_ark_entries_read_like_the_files(tmp_path: Path) -> None:
    """'utt wav.ark:offset' as Kaldi's wav-copy writes it: 'utt ' then the RIFF object, back to back."""
    clip, fs = sf.read(DATA / "speech_16000.flac", dtype="int16")
    ark, offsets = tmp_path / "wav.ark", []
    with ark.open("wb") as f:
        for utt, part in (("a", clip[:8000]), ("b", clip[8000:])):
            f.write(f"{utt} ".encode())
            offsets.append(f.tell())
            f.write(_wav_bytes(part, fs))
    for offset, part in zip(offsets, (clip[:8000], clip[8000:]), strict=True):
        samples, rate = read_audio(f"{ark}:{offset}", "x", expected_fs=16000)
        assert rate == fs and np.array_equal(samples, part / 32768.0)
    with pytest.raises(AudioError, match=r"no WAV data at byte 1 of .*wav.ark"):
        read_audio(f"{ark}:1", "x")
    cut = tmp_path / "cut.ark"
    cut.write_bytes(ark.read_bytes()[: offsets[1] + 1000])
    with pytest.raises(AudioError, match=r"truncated: the WAV object at byte \d+ declares"):
        read_audio(f"{cut}:{offsets[1]}", "x")
    literal = tmp_path / "odd:12"  # a file whose name looks like an ark entry is a file
    sf.write(literal, clip[:3200], fs, format="WAV")
    assert read_audio(str(literal))[0].size == 3200


def test_resampling_on_request_matches_the_polyphase_resampler(tmp_path: Path) -> None:
    from scipy.signal import resample_poly

    path = tmp_path / "eight.wav"
    clip, _ = sf.read(DATA / "speech_16000.flac", dtype="int16")
    sf.write(path, clip[::2], 8000, subtype="PCM_16")
    with pytest.raises(AudioError, match="8000 Hz, expected 16000 Hz .*--resample true"):
        read_audio(str(path), "u", expected_fs=16000)
    samples, fs = read_audio(str(path), "u", expected_fs=16000, resample_to_expected=True)
    assert fs == 16000 and np.array_equal(samples, resample_poly(clip[::2] / 32768.0, 2, 1))

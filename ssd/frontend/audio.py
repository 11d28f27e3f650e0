"""The one audio reader: a file path or a ``wav.scp`` entry (a path or a Kaldi pipe ``cmd |``) into float64
samples in [-1, 1], with the same rules and messages for stage 2 and for ``ssd-detect``/``Detector``.

Samples are scaled exactly as MATLAB's ``audioread`` does (int16 / 32768), which the official LFCC
assumes. Every data problem is raised as :class:`AudioError` naming the utterance and its source, so a
feature-dump job can either stop on it or list it as a skipped utterance. The rules:

- a path must be a regular, non-empty file ("is a directory", "is not a regular file" otherwise);
- decoding must yield every frame the header declares (RIFF ``data`` chunk size for WAV, STREAMINFO
  total samples for FLAC; a streaming writer's "unknown length" placeholder skips the check): a cut
  file or pipe is "truncated", never silently shorter;
- at least :data:`MIN_SECONDS` of audio (shorter input gives no meaningful score);
- finite samples within full scale [-1, 1] (only float audio can break it);
- channels: ``mix=False`` (the recipe's contract) requires mono, ``mix=True`` averages the channels.

Trust model: a *path* (``literal=True``, e.g. an ``ssd-detect`` argument) is only ever opened, whatever
its name. A ``wav.scp`` entry ending in ``|`` is a command run by bash, as in Kaldi: a wav.scp is a
script, so only use wav.scp files you would execute yourself. ``SSD_ALLOW_PIPES=0`` (or ``pipes=False``,
``--no-pipes`` on the command-line tools) refuses pipe entries; every pipe is killed, with its whole
process group, after ``SSD_PIPE_TIMEOUT`` seconds (default 600).
"""

from __future__ import annotations

import io
import os
import re
import signal
import stat
import subprocess
from typing import BinaryIO, NamedTuple

import numpy as np
import soundfile as sf

STDERR_TAIL_CHARS = 600
MIN_SECONDS = 0.1
PIPES_ENV = "SSD_ALLOW_PIPES"
TIMEOUT_ENV = "SSD_PIPE_TIMEOUT"
DEFAULT_PIPE_TIMEOUT = 600.0
BLOCK_FRAMES = 1 << 20
# WAV data sizes that streaming writers put in a header they cannot rewrite: 0, ffmpeg's 0xFFFFFFFF,
# sox's 0x7FFFF000. A real WAV this large is RF64 or W64 (not checked here).
UNKNOWN_WAV_SIZE = 0x7FFFF000
# WAV encodings whose frames are exactly data bytes / block_align (PCM, float, A-law, mu-law, extensible).
PLAIN_WAV_TAGS = frozenset({1, 3, 6, 7, 0xFFFE})


class AudioError(ValueError):
    """An utterance's audio is missing, undecodable, truncated, too short or outside the recipe's
    format (channels, rate, finite, within full scale)."""


class Audio(NamedTuple):
    """Decoded audio: mono float64 samples, sampling rate, and the channel count of the source."""

    samples: np.ndarray
    fs: int
    channels: int


def _who(utt: str, kind: str, source: str) -> str:
    """How messages name an input: the utterance id (unless it is the source itself) and its source."""
    return f"utterance {utt!r} ({kind} {source})" if utt and utt != source else f"{kind} {source}"


def pipes_allowed(pipes: bool | None = None) -> bool:
    """Whether wav.scp pipe entries may run: ``pipes`` when given, else ``SSD_ALLOW_PIPES`` (default 1)."""
    if pipes is not None:
        return pipes
    value = os.environ.get(PIPES_ENV, "1").strip()
    if value not in ("0", "1"):
        raise ValueError(f"{PIPES_ENV}={value!r}: expected 1 (run wav.scp pipes) or 0 (refuse them)")
    return value == "1"


def pipe_timeout(seconds: float | None = None) -> float:
    """Seconds a pipe may run: ``seconds`` when given, else ``SSD_PIPE_TIMEOUT`` (default 600)."""
    if seconds is None:
        value = os.environ.get(TIMEOUT_ENV, "")
        try:
            seconds = float(value) if value.strip() else DEFAULT_PIPE_TIMEOUT
        except ValueError:
            raise ValueError(f"{TIMEOUT_ENV}={value!r}: expected a number of seconds") from None
    if not seconds > 0 or not np.isfinite(seconds):
        raise ValueError(f"pipe time-out must be a positive number of seconds, got {seconds!r}")
    return float(seconds)


def _run_pipe(command: str, who: str, timeout: float) -> bytes:
    """Run a wav.scp pipe command and return its stdout; a failing stage of the pipeline is an error.

    ``pipefail`` makes a failure anywhere in ``a | b`` count, not only in the last command. The command
    runs in its own session so that a time-out kills every process it started.
    """
    proc = subprocess.Popen(["bash", "-o", "pipefail", "-c", command], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AudioError(f"{who}: pipe command did not finish within {timeout:g} s and was killed "
                         f"({TIMEOUT_ENV} sets the limit)") from None
    if proc.returncode != 0:
        tail = err.decode("utf-8", "replace").strip()[-STDERR_TAIL_CHARS:]
        raise AudioError(f"{who}: pipe command exited with status {proc.returncode}; stderr: "
                         f"{tail or '(empty)'}")
    if not out:
        raise AudioError(f"{who}: pipe command wrote no audio to stdout")
    return out


_ARK_ENTRY = re.compile(r"^(?P<path>.+):(?P<offset>\d+)$")


def _ark_entry(spec: str) -> tuple[str, int] | None:
    """(ark, offset) of a Kaldi ``wav.ark:offset`` entry; None otherwise (a file of that name wins)."""
    match = _ARK_ENTRY.match(spec)
    if match is None or os.path.exists(spec) or not os.path.isfile(match["path"]):
        return None
    return match["path"], int(match["offset"])


def _read_ark_wav(ark: str, offset: int, who: str) -> io.BytesIO:
    """The RIFF/WAVE object at ``offset`` of a Kaldi wav ark (as ``wav-copy`` writes them), read no further
    than its RIFF size, which must fit in the file."""
    size = os.path.getsize(ark)
    with open(ark, "rb") as f:
        f.seek(offset)
        head = f.read(8)
        if len(head) < 8 or head[:4] != b"RIFF":
            raise AudioError(f"{who}: no WAV data at byte {offset} of {ark} (a Kaldi wav ark holds RIFF "
                             "objects; feature arks belong in feats.scp)")
        total = int.from_bytes(head[4:8], "little") + 8
        if offset + total > size:
            raise AudioError(f"{who}: truncated: the WAV object at byte {offset} declares {total} bytes, the "
                             f"ark ends {size - offset} bytes after it")
        return io.BytesIO(head + f.read(total - 8))


def _check_file(path: str, who: str) -> None:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise AudioError(f"{who}: no such file") from None
    except OSError as err:
        raise AudioError(f"{who}: cannot open: {err.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise AudioError(f"{who}: is a directory, not an audio file")
    if not stat.S_ISREG(info.st_mode):
        raise AudioError(f"{who}: is not a regular file (a FIFO, socket or device); give an audio file")
    if info.st_size == 0:
        raise AudioError(f"{who}: file is empty (0 bytes)")


def _wav_declared_frames(f: BinaryIO) -> int | None:
    """Frames a RIFF/WAVE header declares (data chunk size / block align); None when it cannot say."""
    f.seek(0)
    head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    block_align = None
    while True:
        chunk = f.read(8)
        if len(chunk) < 8:
            return None
        size = int.from_bytes(chunk[4:8], "little")
        if chunk[:4] == b"fmt ":
            fmt = f.read(size)
            if len(fmt) < 14 or int.from_bytes(fmt[0:2], "little") not in PLAIN_WAV_TAGS:
                return None
            block_align = int.from_bytes(fmt[12:14], "little")
            f.seek(size & 1, io.SEEK_CUR)
        elif chunk[:4] == b"data":
            if not block_align or size == 0 or size >= UNKNOWN_WAV_SIZE:
                return None
            return size // block_align
        else:
            f.seek(size + (size & 1), io.SEEK_CUR)


def _decode(source: str | io.BytesIO, who: str) -> tuple[np.ndarray, int, int | None]:
    """(samples (frames, channels), fs, frames the header declares or None), read block by block (a
    streamed FLAC declares no length, which libsndfile reports as 2**63 - 1 frames)."""
    declared = None
    try:
        with sf.SoundFile(source) as f:
            declared = f.frames if f.format == "FLAC" and 0 < f.frames < 2**62 else None
            blocks = []
            while True:
                block = f.read(BLOCK_FRAMES, dtype="float64", always_2d=True)
                if not len(block):
                    break
                blocks.append(block)
            samples = np.concatenate(blocks) if blocks else np.zeros((0, f.channels))
            fs = int(f.samplerate)
    except (sf.SoundFileError, RuntimeError) as err:
        # libsndfile fails on a FLAC that ends early, even cleanly after a frame.
        damage = f" (truncated or damaged: the header declares {declared} frames)" if declared else ""
        raise AudioError(f"{who}: cannot decode audio{damage}: {err}") from err
    if declared is None:
        if isinstance(source, io.BytesIO):
            declared = _wav_declared_frames(source)
        else:
            with open(source, "rb") as raw:
                declared = _wav_declared_frames(raw)
    return samples, fs, declared


def check_samples(samples: np.ndarray, fs: int, who: str) -> None:
    """The rules audio obeys before it is scored, (frames,) or (frames, channels): long enough, finite,
    within full scale (checked per channel, before any mixing)."""
    if len(samples) == 0:
        raise AudioError(f"{who}: contains no samples")
    frames = samples.reshape(len(samples), -1)
    if frames.shape[0] < MIN_SECONDS * fs:
        raise AudioError(f"{who}: only {frames.shape[0]} samples ({frames.shape[0] / fs:.3f} s); at least "
                         f"{MIN_SECONDS} s of audio is needed for a meaningful score")
    bad = ~np.isfinite(frames).all(axis=1)
    if bad.any():
        raise AudioError(f"{who}: non-finite sample (NaN or inf) at index {int(np.flatnonzero(bad)[0])}")
    # Integer PCM always decodes into [-1, 1); only float audio can exceed full scale (clipped floats).
    peak = np.abs(frames).max(axis=1)
    over = np.flatnonzero(peak > 1.0)
    if over.size:
        raise AudioError(f"{who}: {over.size} sample(s) beyond full scale, first {peak[over[0]]:.6g} "
                         f"(absolute) at index {int(over[0])}; float audio must lie in [-1, 1]")


def resample(waveform: np.ndarray, fs: int, target_fs: int) -> np.ndarray:
    """Polyphase resampling of a mono waveform from ``fs`` to ``target_fs`` (identity when equal)."""
    if fs == target_fs:
        return waveform
    if fs <= 0 or target_fs <= 0:
        raise ValueError(f"sampling rates must be positive, got {fs} -> {target_fs}")
    try:  # imported here so that audio at the model's rate needs no scipy
        from scipy.signal import resample_poly
    except ImportError as err:
        raise ImportError(f"resampling {fs} Hz to {target_fs} Hz needs scipy (pip install scipy)") from err
    g = int(np.gcd(fs, target_fs))
    return resample_poly(waveform, target_fs // g, fs // g)


def decode_audio(spec: str, utt: str = "", expected_fs: int | None = None, *, mix: bool = False,
                 literal: bool = False, pipes: bool | None = None, timeout: float | None = None,
                 resample_to_expected: bool = False) -> Audio:
    """Decode a wav.scp entry (``literal=False``: a path, a Kaldi ``wav.ark:offset`` entry, or a pipe
    ``cmd |``) or a path taken as it is (``literal=True``: never run, whatever its name); see the module
    docstring for the rules. ``resample_to_expected``: audio at another rate than ``expected_fs`` is
    resampled (:func:`resample`) instead of refused."""
    if not literal and spec.strip().endswith("|"):
        command = spec.strip()[:-1].strip()
        who = _who(utt, "pipe", f"'{command} |'")
        if not pipes_allowed(pipes):
            raise AudioError(f"{who}: wav.scp pipe entries are refused ({PIPES_ENV}=0 or --no-pipes)")
        source: str | io.BytesIO = io.BytesIO(_run_pipe(command, who, pipe_timeout(timeout)))
    elif not literal and (entry := _ark_entry(spec.strip())) is not None:
        who = _who(utt, "ark entry", spec.strip())
        source = _read_ark_wav(*entry, who)
    else:
        path = spec if literal else spec.strip()
        who = _who(utt, "file", path)
        _check_file(path, who)
        source = path

    samples, fs, declared = _decode(source, who)
    if declared is not None and samples.shape[0] < declared:
        raise AudioError(f"{who}: truncated: the header declares {declared} frames ({declared / fs:.3f} s) "
                         f"but only {samples.shape[0]} ({samples.shape[0] / fs:.3f} s) could be decoded")
    channels = samples.shape[1]
    if channels != 1 and not mix:
        raise AudioError(f"{who}: has {channels} channels; the recipe expects mono audio")
    if expected_fs is not None and fs != expected_fs and not resample_to_expected:
        raise AudioError(f"{who}: sampling rate is {fs} Hz, expected {expected_fs} Hz (stage 2's "
                         "--resample true resamples instead)")
    check_samples(samples, fs, who)
    mono = samples[:, 0] if channels == 1 else samples.mean(axis=1)
    if expected_fs is not None and fs != expected_fs:
        return Audio(resample(mono, fs, expected_fs), expected_fs, channels)
    return Audio(mono, fs, channels)


def read_audio(spec: str, utt: str = "", expected_fs: int | None = None, *, pipes: bool | None = None,
               timeout: float | None = None, resample_to_expected: bool = False) -> tuple[np.ndarray, int]:
    """Stage 2's view of :func:`decode_audio`: a mono wav.scp entry -> (float64 samples, fs)."""
    audio = decode_audio(spec, utt, expected_fs, pipes=pipes, timeout=timeout,
                         resample_to_expected=resample_to_expected)
    return audio.samples, audio.fs

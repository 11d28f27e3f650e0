"""Reading one ``wav.scp`` entry (a file path or a Kaldi pipe ``cmd |``) into float64 samples in [-1, 1].

Samples are scaled exactly as MATLAB's ``audioread`` does (int16 / 32768), which the official LFCC
assumes. Every data problem is raised as :class:`AudioError` naming the utterance and its source, so a
feature-dump job can either stop on it or list it as a skipped utterance.

Pipe entries are executed by bash as trusted commands, as Kaldi does: a wav.scp is a script, so only
run recipes on wav.scp files you would execute yourself.
"""

from __future__ import annotations

import io
import os
import subprocess

import numpy as np
import soundfile as sf

STDERR_TAIL_CHARS = 600


class AudioError(ValueError):
    """An utterance's audio is missing, undecodable or violates the recipe's format (mono, rate, finite,
    within full scale)."""


def _who(utt: str, source: str) -> str:
    return f"utterance {utt!r} ({source})" if utt else source


def _run_pipe(command: str, who: str) -> bytes:
    """Run a wav.scp pipe command and return its stdout; a failing stage of the pipeline is an error.

    wav.scp entries are trusted shell commands, as in Kaldi. ``pipefail`` makes a failure anywhere in
    ``a | b`` count, not only in the last command.
    """
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, check=False)
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip()[-STDERR_TAIL_CHARS:]
        raise AudioError(
            f"{who}: pipe command exited with status {proc.returncode}; stderr: {tail or '(empty)'}"
        )
    if not proc.stdout:
        raise AudioError(f"{who}: pipe command wrote no audio to stdout")
    return proc.stdout


def read_audio(spec: str, utt: str = "", expected_fs: int | None = None) -> tuple[np.ndarray, int]:
    """Decode a path (any format libsndfile reads) or a pipe ``cmd |``; return (mono float64 samples, fs)."""
    spec = spec.strip()
    if spec.endswith("|"):
        command = spec[:-1].strip()
        who = _who(utt, f"pipe '{command} |'")
        source: str | io.BytesIO = io.BytesIO(_run_pipe(command, who))
    else:
        who = _who(utt, f"file {spec}")
        if not os.path.isfile(spec):
            raise AudioError(f"{who}: no such file")
        if os.path.getsize(spec) == 0:
            raise AudioError(f"{who}: file is empty (0 bytes)")
        source = spec

    try:
        samples, fs = sf.read(source, dtype="float64", always_2d=True)
    except sf.SoundFileError as err:
        raise AudioError(f"{who}: cannot decode audio: {err}") from err

    if samples.shape[1] != 1:
        raise AudioError(f"{who}: has {samples.shape[1]} channels; the recipe expects mono audio")
    if samples.shape[0] == 0:
        raise AudioError(f"{who}: contains no samples")
    if expected_fs is not None and fs != expected_fs:
        raise AudioError(f"{who}: sampling rate is {fs} Hz, expected {expected_fs} Hz")
    waveform = samples[:, 0]
    if not np.isfinite(waveform).all():
        bad = int(np.flatnonzero(~np.isfinite(waveform))[0])
        raise AudioError(f"{who}: non-finite sample (NaN or inf) at index {bad}")
    # Integer PCM always decodes into [-1, 1); only float audio can exceed full scale (clipped floats).
    over = np.flatnonzero(np.abs(waveform) > 1.0)
    if over.size:
        raise AudioError(f"{who}: {over.size} sample(s) beyond full scale, first {waveform[over[0]]:.6g} at "
                         f"index {int(over[0])}; float audio must lie in [-1, 1]")
    return waveform, fs

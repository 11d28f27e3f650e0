"""One feature-dump job: ``wav.scp`` -> official LFCC in a Kaldi ark/scp, plus ``utt2num_frames``.

This is the library behind ``ssd-compute-lfcc``; the recipe runs one job per ``wav.scp`` split.
Files are published in commit order: the optional skip list and ``utt2num_frames`` first, the scp
last, so a job that fails leaves no scp (nor utt2num_frames) and its split is simply re-run.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ssd.data.ark_writer import ArkScpWriter, remove_if_exists
from ssd.data.datadir import read_wav_scp
from ssd.frontend.audio import AudioError, pipe_timeout, pipes_allowed, read_audio
from ssd.frontend.lfcc import frame_geometry, lfcc
from ssd.utils.fileio import atomic_write
from ssd.utils.progress import Progress

logger = logging.getLogger(__name__)

@dataclass
class DumpStats:
    """What a job did: counts, audio duration and wall time (for the log and the benchmark)."""

    utterances: int = 0
    skipped: int = 0
    frames: int = 0
    audio_seconds: float = 0.0
    elapsed_seconds: float = 0.0

    @property
    def real_time_factor(self) -> float:
        """Seconds of audio processed per second of wall time."""
        return self.audio_seconds / self.elapsed_seconds if self.elapsed_seconds > 0 else float("inf")


def _write_pairs(path: str | os.PathLike, pairs: Iterable[tuple[str, object]]) -> None:
    with atomic_write(path) as f:
        for key, value in pairs:
            f.write(f"{key} {value}\n")


def dump_lfcc(
    wav_scp: str | os.PathLike,
    wspecifier: str,
    fs: int = 16000,
    utt2num_frames: str | os.PathLike | None = None,
    skip_bad_utts: str | os.PathLike | None = None,
    log_interval_s: float = 30.0,
    pipes: bool | None = None,
) -> DumpStats:
    """Compute float32 (frames, 60) LFCCs for every wav.scp entry and write them to ``wspecifier``.

    A bad utterance (see :mod:`ssd.frontend.audio` for the rules) raises :class:`AudioError` naming it,
    unless ``skip_bad_utts`` is given: then it is logged as a warning and listed there as ``utt reason``.
    ``pipes=False`` refuses pipe entries (default: ``SSD_ALLOW_PIPES``, which allows them).
    """
    frame_geometry(fs)
    pipes, timeout = pipes_allowed(pipes), pipe_timeout()  # a bad setting fails before any work
    entries = read_wav_scp(wav_scp)
    for stale in (utt2num_frames, skip_bad_utts):
        if stale is not None:
            remove_if_exists(stale)

    stats = DumpStats()
    num_frames: list[tuple[str, int]] = []
    bad: list[tuple[str, str]] = []
    progress = Progress(len(entries), f"LFCC {wav_scp}", logger, interval=log_interval_s)
    start = time.perf_counter()
    try:
        with ArkScpWriter(wspecifier) as writer:
            for utt, spec in entries:
                try:
                    waveform, _ = read_audio(spec, utt, expected_fs=fs, pipes=pipes, timeout=timeout)
                except AudioError as err:
                    if skip_bad_utts is None:
                        raise
                    logger.warning("skipping: %s", err)
                    bad.append((utt, " ".join(str(err).split())))
                    progress.update()
                    continue
                feats = lfcc(waveform, fs).astype(np.float32)
                writer.write(utt, feats)
                num_frames.append((utt, feats.shape[0]))
                stats.frames += feats.shape[0]
                stats.audio_seconds += waveform.size / fs
                progress.update()

            stats.utterances, stats.skipped = len(num_frames), len(bad)
            if skip_bad_utts is not None:
                _write_pairs(skip_bad_utts, bad)
            if not num_frames:
                raise AudioError(f"{wav_scp}: all {len(bad)} utterances failed; see {skip_bad_utts}")
            if utt2num_frames is not None:
                _write_pairs(utt2num_frames, num_frames)
    except BaseException:
        # The ark was not committed (an error, or a full disk when it was flushed): the
        # utt2num_frames written just before it must not outlive it.
        if utt2num_frames is not None:
            remove_if_exists(utt2num_frames)
        raise
    stats.elapsed_seconds = time.perf_counter() - start
    return stats

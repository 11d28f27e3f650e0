"""One feature-dump job: ``wav.scp`` -> a front end's features (the official LFCC, or a log power
spectrogram) in a Kaldi ark/scp, plus ``utt2num_frames``.

This is the library behind ``ssd-compute-lfcc``; the recipe runs one job per ``wav.scp`` split (or per
``segments`` split: utterances cut from the recordings of wav.scp, Kaldi's convention).
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
from ssd.data.datadir import Segment, read_segments, read_wav_scp
from ssd.frontend.audio import MIN_SECONDS, AudioError, pipe_timeout, pipes_allowed, read_audio
from ssd.frontend.registry import build_frontend, dumped_frontends
from ssd.utils.fileio import atomic_write
from ssd.utils.progress import Progress

logger = logging.getLogger(__name__)
MAX_OVERSHOOT_S = 0.5  # a segment may end this far past its recording (cut there), as in Kaldi


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


def _utterances(wav_scp: str | os.PathLike, segments: str | os.PathLike | None,
                ) -> list[tuple[str, str, Segment | None]]:
    """(utt, audio spec, segment or None) of every utterance to compute, in order."""
    entries = read_wav_scp(wav_scp)
    if segments is None:
        return [(utt, spec, None) for utt, spec in entries]
    recordings = dict(entries)
    out = []
    for seg in read_segments(segments):
        if seg.recording not in recordings:
            raise ValueError(f"{segments}: recording {seg.recording!r} of {seg.utt} is not in {wav_scp}")
        out.append((seg.utt, recordings[seg.recording], seg))
    return out


class _SegmentReader:
    """Reads an utterance: a whole wav.scp entry, or a segment of one (the last recording is kept, as
    segments of one recording come together)."""

    def __init__(self, fs: int, pipes: bool, timeout: float, resample: bool) -> None:
        self.fs, self.pipes, self.timeout, self.resample = fs, pipes, timeout, resample
        self._last: tuple[str, np.ndarray] | None = None

    def __call__(self, utt: str, spec: str, span: Segment | None) -> np.ndarray:
        if span is None:
            return self._read(spec, utt)
        if self._last is None or self._last[0] != spec:
            self._last = (spec, self._read(spec, span.recording))
        samples = self._last[1]
        start = round(span.start * self.fs)
        end = samples.size if span.end is None else round(span.end * self.fs)
        if end > samples.size + round(MAX_OVERSHOOT_S * self.fs) or start >= samples.size:
            raise AudioError(f"utterance {utt!r}: segment {span.start:g}-{span.end if span.end else 'end'} "
                             f"s of recording {span.recording} ({samples.size / self.fs:.3f} s) lies beyond "
                             "its end")
        piece = samples[start:min(end, samples.size)]
        if piece.size < MIN_SECONDS * self.fs:
            raise AudioError(f"utterance {utt!r}: segment of {piece.size / self.fs:.3f} s, shorter than "
                             f"{MIN_SECONDS} s")
        return piece

    def _read(self, spec: str, who: str) -> np.ndarray:
        return read_audio(spec, who, expected_fs=self.fs, pipes=self.pipes, timeout=self.timeout,
                          resample_to_expected=self.resample)[0]


def dump_features(
    wav_scp: str | os.PathLike,
    wspecifier: str,
    fs: int = 16000,
    frontend: str = "lfcc",
    utt2num_frames: str | os.PathLike | None = None,
    skip_bad_utts: str | os.PathLike | None = None,
    log_interval_s: float = 30.0,
    pipes: bool | None = None,
    segments: str | os.PathLike | None = None,
    resample: bool = False,
) -> DumpStats:
    """Compute the float32 (frames, dim) features of ``frontend`` for every wav.scp entry and write them to
    ``wspecifier``.

    A bad utterance (see :mod:`ssd.frontend.audio` for the rules) raises :class:`AudioError` naming it,
    unless ``skip_bad_utts`` is given: then it is logged as a warning and listed there as ``utt reason``.
    ``pipes=False`` refuses pipe entries (default: ``SSD_ALLOW_PIPES``, which allows them). With
    ``segments`` (Kaldi's ``utt recording start end``) the utterances are those segments of the wav.scp
    recordings; ``resample`` resamples audio at another rate to ``fs`` instead of refusing it.
    """
    dumped = dumped_frontends()
    if frontend not in dumped:
        raise ValueError(f"front end {frontend!r} has no features to dump; dumped: {', '.join(dumped)}")
    fe = build_frontend(frontend)
    fe.length(0, fs)  # a bad rate fails before any work
    pipes, timeout = pipes_allowed(pipes), pipe_timeout()  # a bad setting fails before any work
    utterances = _utterances(wav_scp, segments)
    for stale in (utt2num_frames, skip_bad_utts):
        if stale is not None:
            remove_if_exists(stale)

    stats = DumpStats()
    num_frames: list[tuple[str, int]] = []
    bad: list[tuple[str, str]] = []
    progress = Progress(len(utterances), f"{fe.name} {segments or wav_scp}", logger, interval=log_interval_s)
    read = _SegmentReader(fs, pipes, timeout, resample)
    start = time.perf_counter()
    try:
        with ArkScpWriter(wspecifier) as writer:
            for utt, spec, span in utterances:
                try:
                    waveform = read(utt, spec, span)
                except AudioError as err:
                    if skip_bad_utts is None:
                        raise
                    logger.warning("skipping: %s", err)
                    bad.append((utt, " ".join(str(err).split())))
                    progress.update()
                    continue
                feats = fe.features(waveform, fs)
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

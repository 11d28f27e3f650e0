"""A deliberately simple, real ASV system for the mini corpus, and the official score-file formats.

The t-DCF needs an ASV system's scores on target, nontarget and spoof trials. The mini corpus has no
organisers' ASV, so it scores its own trials with a plain cepstral system: an utterance is the mean and
standard deviation of its static LFCCs over speech frames, normalised with statistics of the training
set's bona fide speech; a speaker model is the mean of 2-3 enrolment utterances that are never trials;
a trial's score is the cosine between model and utterance. It is weak (no channel compensation, no
learned embedding) but honest: its figures are whatever it measures, reported in the corpus README.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from ssd.frontend.lfcc import NUM_CEPS
from ssd.utils.fileio import atomic_write

# Frames whose c0 is more than this many dB below the loudest frame's are silence. c0 is the
# orthonormal DCT's mean term, sqrt(NUM_CEPS) times the mean log10 filter energy.
VAD_RANGE_DB = 30.0


def embedding(cepstra: np.ndarray) -> np.ndarray:
    """Mean and standard deviation of the static LFCCs over speech frames (2 * 20 values), from an
    utterance's (frames, 60) LFCC matrix (:func:`ssd.frontend.lfcc.lfcc`)."""
    static = np.asarray(cepstra)[:, :NUM_CEPS]
    c0 = static[:, 0]
    speech = static[c0 >= c0.max() - VAD_RANGE_DB / 10.0 * np.sqrt(NUM_CEPS)]
    return np.concatenate([speech.mean(axis=0), speech.std(axis=0)])


@dataclass(frozen=True)
class Backend:
    """Per-dimension mean and scale of background (training bona fide) embeddings."""

    mean: np.ndarray
    scale: np.ndarray

    def normalise(self, emb: np.ndarray) -> np.ndarray:
        z = (np.asarray(emb) - self.mean) / self.scale
        return z / max(float(np.linalg.norm(z)), 1e-12)


def fit_backend(background: Iterable[np.ndarray]) -> Backend:
    """Standardisation statistics from background embeddings (needs at least two)."""
    data = np.stack(list(background))
    if len(data) < 2:
        raise ValueError("the ASV back end needs at least two background utterances")
    return Backend(mean=data.mean(axis=0), scale=np.maximum(data.std(axis=0), 1e-6))


def speaker_models(backend: Backend, enrolment: Mapping[str, list[np.ndarray]]) -> dict[str, np.ndarray]:
    """One unit-length model per speaker: the normalised mean of its normalised enrolment embeddings."""
    models = {}
    for speaker, embs in enrolment.items():
        if not embs:
            raise ValueError(f"speaker {speaker} has no enrolment utterance")
        mean = np.mean([backend.normalise(e) for e in embs], axis=0)
        models[speaker] = mean / max(float(np.linalg.norm(mean)), 1e-12)
    return models


@dataclass(frozen=True)
class Trial:
    """One ASV trial: claimed speaker, test utterance, its source (bonafide or attack) and key."""

    speaker: str
    utt: str
    source: str
    key: str
    score: float


def score_trials(backend: Backend, models: Mapping[str, np.ndarray],
                 utterances: Iterable[tuple[str, str, str, np.ndarray]]) -> list[Trial]:
    """Trials for ``(utt, speaker, attack, embedding)`` tuples, as in the ASVspoof protocols.

    A bona fide utterance is a target trial against its own speaker and a nontarget trial against each
    other enrolled speaker; a spoof is a spoof trial against the speaker it claims to be.
    """
    trials = []
    for utt, speaker, attack, emb in utterances:
        if speaker not in models:
            raise ValueError(f"utterance {utt}: speaker {speaker} has no enrolment model")
        z = backend.normalise(emb)
        if attack == "-":
            for claimed, model in models.items():
                key = "target" if claimed == speaker else "nontarget"
                trials.append(Trial(claimed, utt, "bonafide", key, float(np.dot(model, z))))
        else:
            trials.append(Trial(speaker, utt, attack, "spoof", float(np.dot(models[speaker], z))))
    return trials


def write_scores(path: str | os.PathLike, trials: list[Trial]) -> None:
    """The organisers' score-file format: ``source key score`` per trial."""
    with atomic_write(path) as f:
        for t in trials:
            f.write(f"{t.source} {t.key} {t.score:.6f}\n")


def write_trial_list(path: str | os.PathLike, trials: list[Trial]) -> None:
    """The ASV trial protocol, line-aligned with the score file: ``speaker utt source key``."""
    with atomic_write(path) as f:
        for t in trials:
            f.write(f"{t.speaker} {t.utt} {t.source} {t.key}\n")


def write_enrolment(path: str | os.PathLike, enrolment: Mapping[str, list[str]]) -> None:
    """The ASV enrolment protocol: ``speaker utt1,utt2,...`` per speaker."""
    with atomic_write(path) as f:
        for speaker in sorted(enrolment):
            f.write(f"{speaker} {','.join(enrolment[speaker])}\n")

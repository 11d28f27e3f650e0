"""Score-level fusion: the scores several detectors gave the same trials, combined into one score.

Each system's scores are standardised by the mean and standard deviation of its own scores on a
normalisation set (dev, never the set being reported), then averaged with equal weights. Equal weights
rather than weights fitted on dev, on purpose: dev holds the attacks seen in training, and a fusion fitted
there learns to trust the detector that knows those best and to discard what another one adds on attacks
never seen (README "Fusing each variant with the LFCC-GMM"). Standardising makes scores of different
kinds (cosine scores, logits, log-likelihood ratios) commensurable, and higher still means bona fide.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ssd.metrics.scorefiles import BONAFIDE, SPOOF, CmScores, ScoreFileError

FUSION_FILE = "fusion.json"  # what a fused experiment directory holds in place of a training config


@dataclass(frozen=True)
class Standardiser:
    """The affine map that gives one system's normalisation-set scores zero mean and unit variance."""

    source: str  # the score file the statistics come from
    mean: float
    std: float

    def apply(self, scores: np.ndarray) -> np.ndarray:
        return (scores - self.mean) / self.std


def standardiser(norm: CmScores) -> Standardiser:
    """Statistics of a normalisation-set score file; constant scores cannot be standardised."""
    if norm.scores.size < 2:
        raise ScoreFileError(f"{norm.path}: {norm.scores.size} score(s); standardising needs at least 2")
    std = float(np.std(norm.scores))
    if not std > 0:
        raise ScoreFileError(f"{norm.path}: every score is {norm.scores[0]:.9g}; nothing to standardise")
    return Standardiser(norm.path, float(np.mean(norm.scores)), std)


def _aligned(first: CmScores, other: CmScores) -> np.ndarray:
    """Positions in ``other`` of ``first``'s utterances; both must list the same trials, labelled alike."""
    position = {utt: i for i, utt in enumerate(other.utts)}
    missing = [utt for utt in first.utts if utt not in position]
    extra = len(other.utts) - (len(first.utts) - len(missing))
    if missing or extra:
        example = missing[0] if missing else next(u for u in other.utts if u not in set(first.utts))
        raise ScoreFileError(f"{other.path} and {first.path} do not score the same trials "
                             f"({len(missing)} missing from the first, {extra} extra; e.g. {example})")
    order = np.fromiter((position[utt] for utt in first.utts), np.int64, len(first.utts))
    if first.labels is not None and other.labels is not None:
        theirs = other.labels.take(order)
        for i in range(len(first.utts)):
            mine = (bool(first.labels.is_bonafide[i]), first.labels.attack_of(i))
            if mine != (bool(theirs.is_bonafide[i]), theirs.attack_of(i)):
                raise ScoreFileError(f"{other.path} line {other.line(int(order[i]))}: utterance "
                                     f"{first.utts[i]} is labelled differently in {first.path}")
    return order


def fuse(systems: list[CmScores], norms: list[Standardiser]) -> np.ndarray:
    """The mean of the standardised scores of ``systems``, in the trial order of the first."""
    if len(systems) < 2 or len(systems) != len(norms):
        raise ValueError(f"fusion needs at least two systems, each with its standardiser "
                         f"(got {len(systems)} and {len(norms)})")
    fused = np.zeros(len(systems[0].utts))
    for system, norm in zip(systems, norms, strict=True):
        fused += norm.apply(system.scores[_aligned(systems[0], system)])
    return fused / len(systems)


def score_lines(reference: CmScores, scores: np.ndarray) -> list[str]:
    """``utt attack key score`` lines of ``scores`` (in ``reference``'s order), with its labels; bona fide
    lines carry ``-`` as stage 4 writes them, also where the reference wrote ``A00``."""
    if reference.labels is None:
        raise ScoreFileError(f"{reference.path}: a two-column score file has no keys to carry over")
    labels = reference.labels
    return [f"{utt} {labels.attack_of(i)} {BONAFIDE if labels.is_bonafide[i] else SPOOF} {score:.9g}\n"
            for i, (utt, score) in enumerate(zip(reference.utts, scores.tolist(), strict=True))]

"""Pooled and per-attack EER / min t-DCF of a set of scored trials, as a table and as JSON.

The trials are sorted once; each attack's figures come from the bona fide trials against that
attack's spoofs (a boolean mask keeps the sort), with that attack's ASV spoof scores for the t-DCF.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ssd.metrics.eer import DetCurve, det_curve_sorted, eer_from_det
from ssd.metrics.scorefiles import AsvScores, ScoreFileError, Trials
from ssd.metrics.tdcf import (
    TDCF_VARIANTS,
    AsvOperatingPoint,
    TdcfUndefinedError,
    asv_operating_point,
    min_tdcf_from_det,
)

TDCF_NAMES = {"legacy": "ASVspoof 2019 (legacy) min t-DCF", "revised": "ASVspoof 2021 (revised) min t-DCF"}
EER_WARNING_LEVEL = 0.5


@dataclass(frozen=True)
class Figures:
    """EER (a fraction) and min t-DCF (None when not computed) of bona fide trials against some spoofs."""

    eer: float
    eer_threshold: float
    min_tdcf: float | None
    n_bonafide: int
    n_spoof: int


@dataclass
class ScoreReport:
    """Everything ``ssd-score`` and stage 5 print: pooled and per-attack figures plus how they were made."""

    pooled: Figures
    per_attack: dict[str, Figures]
    n_bonafide: int
    n_spoof: int
    tdcf_variant: str | None
    asv: AsvOperatingPoint | None
    cm_source: str
    asv_source: str | None
    notes: list[str] = field(default_factory=list)

    @property
    def inverted_warning(self) -> str | None:
        """A loud message when the pooled EER says the score sign is probably inverted."""
        if self.pooled.eer <= EER_WARNING_LEVEL:
            return None
        return (
            f"pooled EER is {100 * self.pooled.eer:.3f} % (> 50 %): the score sign is almost "
            "certainly inverted. Scores must be higher for bona fide; if higher means spoof in this file, "
            "rerun with --higher-is-spoof (or drop it if it was given)."
        )

    def to_json(self) -> dict:
        """The documented JSON schema: fractions for EER, null where a figure was not computed."""

        def entry(fig: Figures) -> dict:
            return {
                "eer": fig.eer,
                "eer_threshold": fig.eer_threshold,
                "min_tdcf": fig.min_tdcf,
                "n_bonafide": fig.n_bonafide,
                "n_spoof": fig.n_spoof,
            }

        asv = None
        if self.asv is not None:
            asv = {
                "threshold": self.asv.threshold,
                "p_fa": self.asv.p_fa,
                "p_miss": self.asv.p_miss,
                "p_miss_spoof": self.asv.p_miss_spoof,
            }
        return {
            "cm_scores": self.cm_source,
            "asv_scores": self.asv_source,
            "pooled": entry(self.pooled),
            "per_attack": {name: entry(fig) for name, fig in self.per_attack.items()},
            "n_bonafide": self.n_bonafide,
            "n_spoof": self.n_spoof,
            "tdcf": self.tdcf_variant,
            "asv_operating_point": asv,
            "notes": list(self.notes),
            "warnings": [self.inverted_warning] if self.inverted_warning else [],
        }


@dataclass(frozen=True)
class SortedTrials:
    """Trials sorted by score once, so that every subset's DET curve needs only a mask."""

    scores: np.ndarray
    is_bonafide: np.ndarray
    attack_index: np.ndarray
    attack_names: tuple[str, ...]

    @classmethod
    def of(cls, trials: Trials) -> SortedTrials:
        order = np.argsort(trials.scores)
        return cls(
            trials.scores[order], trials.is_bonafide[order], trials.attack_index[order], trials.attack_names
        )

    def det(self, attack: str | None = None) -> DetCurve:
        """DET curve of all bona fide trials against all spoofs, or against one attack's spoofs."""
        if attack is None:
            return det_curve_sorted(self.scores, self.is_bonafide)
        keep = self.is_bonafide | (self.attack_index == self.attack_names.index(attack))
        return det_curve_sorted(self.scores[keep], self.is_bonafide[keep])


def _asv_spoof_for(trials: Trials, asv: AsvScores, notes: list[str]) -> np.ndarray:
    """ASV spoof scores matching the CM trials' spoofs: only the attacks the trials contain."""
    missing = [name for name in trials.attack_names if name not in asv.spoof]
    if missing:
        have = ", ".join(asv.spoof) or "none"
        raise ScoreFileError(
            f"{asv.path} has no ASV spoof scores for attack(s) {', '.join(missing)} of {trials.source} "
            f"(it has: {have}); is it the ASV file of another set?"
        )
    if trials.n_unknown_attack:
        notes.append(
            f"{trials.n_unknown_attack} spoof trial(s) have no attack label: the pooled t-DCF uses the ASV "
            "spoof scores of every attack in the ASV file"
        )
        return np.concatenate(list(asv.spoof.values()))
    unused = [name for name in asv.spoof if name not in trials.attack_names]
    if unused:
        notes.append(
            f"ASV spoof scores of attack(s) {', '.join(unused)} are ignored: no CM trial carries them"
        )
    return np.concatenate([asv.spoof[name] for name in trials.attack_names])


def evaluate(
    trials: Trials,
    asv: AsvScores | None = None,
    tdcf: str = "legacy",
    no_asv_reason: str = "no ASV scores given",
) -> ScoreReport:
    """Pooled and per-attack EER, plus min t-DCF (``tdcf`` = legacy|revised) when ASV scores are given.

    ``no_asv_reason`` says in the report's notes why there are no ASV scores, when there are none.
    """
    if tdcf not in TDCF_VARIANTS:
        raise ValueError(f"unknown t-DCF variant {tdcf!r}; choose one of {', '.join(TDCF_VARIANTS)}")
    notes: list[str] = []
    ranked = SortedTrials.of(trials)
    asv_point: AsvOperatingPoint | None = None
    if asv is None:
        notes.append(
            f"min t-DCF not computed: {no_asv_reason} (the t-DCF needs the ASV system's target, nontarget "
            "and spoof scores for this set)"
        )
    else:
        asv_point = asv_operating_point(asv.target, asv.nontarget, _asv_spoof_for(trials, asv, notes))
    if trials.n_unknown_attack and trials.attack_names:
        notes.append(
            f"{trials.n_unknown_attack} spoof trial(s) without an attack label are only in the pooled row"
        )
    elif not trials.attack_names:
        notes.append("no attack labels: per-attack figures not computed")

    known = trials.attack_index[trials.attack_index >= 0]
    n_spoof = dict(
        zip(trials.attack_names, np.bincount(known, minlength=len(trials.attack_names)).tolist(), strict=True)
    )
    n_spoof[None] = trials.n_spoof

    def figures(attack: str | None, point: AsvOperatingPoint | None) -> Figures:
        det = ranked.det(attack)
        eer, threshold = eer_from_det(det)
        value = None
        if point is not None:
            try:
                value = min_tdcf_from_det(det, point, tdcf)[0]
            except TdcfUndefinedError as err:
                notes.append(f"{attack or 'pooled'}: {err}")
        return Figures(eer, threshold, value, trials.n_bonafide, n_spoof[attack])

    pooled = figures(None, asv_point)
    per_attack = {}
    for name in trials.attack_names:
        point = None
        if asv is not None and asv_point is not None:
            rejected = float(np.mean(asv.spoof[name] < asv_point.threshold))
            point = replace(asv_point, p_miss_spoof=rejected)
        per_attack[name] = figures(name, point)
    return ScoreReport(
        pooled=pooled,
        per_attack=per_attack,
        n_bonafide=trials.n_bonafide,
        n_spoof=trials.n_spoof,
        tdcf_variant=tdcf if asv is not None else None,
        asv=asv_point,
        cm_source=trials.source,
        asv_source=asv.path if asv is not None else None,
        notes=notes,
    )


def format_report(report: ScoreReport) -> str:
    """Human-readable pooled line and per-attack table (EER in %, t-DCF to 4 decimals)."""

    def tdcf_text(value: float | None) -> str:
        return f"{value:.4f}" if value is not None else "-"

    what = TDCF_NAMES[report.tdcf_variant] if report.tdcf_variant else "min t-DCF"
    lines = [
        f"CM scores: {report.cm_source} ({report.n_bonafide} bona fide, {report.n_spoof} spoof trials, "
        f"{len(report.per_attack)} attacks)"
    ]
    op = report.asv
    if op is not None:
        lines.append(
            f"ASV scores: {report.asv_source} (EER threshold {op.threshold:.4f}: Pfa {op.p_fa:.4f}, "
            f"Pmiss {op.p_miss:.4f}, spoofs rejected {op.p_miss_spoof:.4f})"
        )
    lines.append(f"pooled: EER {100 * report.pooled.eer:.3f} %  {what} {tdcf_text(report.pooled.min_tdcf)}")
    if report.per_attack:
        lines += ["", f"{'attack':<8} {'#spoof':>7} {'EER (%)':>8} {'min t-DCF':>10}"]
        for name, fig in report.per_attack.items():
            lines.append(f"{name:<8} {fig.n_spoof:>7} {100 * fig.eer:>8.3f} {tdcf_text(fig.min_tdcf):>10}")
    if report.notes:
        lines += [""] + [f"note: {note}" for note in report.notes]
    return "\n".join(lines)

"""Pooled and per-attack figures of a set of scored trials, as a table and as JSON.

Metric sets (``METRIC_SETS``): ``asvspoof2019`` gives EER and min t-DCF (legacy or revised);
``asvspoof5`` adds minDCF, actDCF and Cllr. The trials are sorted once (official order); each attack's
figures come from the bona fide trials against that attack's spoofs (a boolean mask keeps the sort),
with that attack's ASV spoof scores for the t-DCF.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ssd.metrics.bootstrap import BootstrapIntervals, bootstrap_intervals
from ssd.metrics.cllr import cllr
from ssd.metrics.dcf import act_dcf, min_dcf_from_det
from ssd.metrics.eer import DetCurve, check_det_points, det_curve_sorted, eer_from_det, official_order
from ssd.metrics.sasv import a_dcf, t_eer
from ssd.metrics.scorefiles import (
    AsvScores,
    KeyedTrialScores,
    ScoreFileError,
    Trials,
    cm_scores_of_trials,
)
from ssd.metrics.tdcf import (
    TDCF_VARIANTS,
    AsvOperatingPoint,
    TdcfUndefinedError,
    asv_operating_point,
    min_tdcf_from_det,
    tdcf_weights,
)

TDCF_NAMES = {"legacy": "ASVspoof 2019 (legacy) min t-DCF", "revised": "ASVspoof 2021 (revised) min t-DCF"}
METRIC_SETS = ("asvspoof2019", "asvspoof5")
SASV_NAMES = {"a_dcf": "a-DCF", "t_eer": "t-EER"}
EER_WARNING_LEVEL = 0.5


@dataclass(frozen=True)
class Figures:
    """EER (a fraction) and the other figures (None when not computed) of bona fide against some spoofs."""

    eer: float
    eer_threshold: float
    min_tdcf: float | None
    n_bonafide: int
    n_spoof: int
    min_dcf: float | None = None
    act_dcf: float | None = None
    cllr: float | None = None
    min_tdcf_threshold: float | None = None  # the CM threshold reaching min_tdcf

    def to_json(self) -> dict:
        entry = {
            "eer": self.eer,
            "eer_threshold": self.eer_threshold,
            "min_tdcf": self.min_tdcf,
            "min_tdcf_threshold": self.min_tdcf_threshold,
            "n_bonafide": self.n_bonafide,
            "n_spoof": self.n_spoof,
        }
        if self.min_dcf is not None:
            entry.update(min_dcf=self.min_dcf, act_dcf=self.act_dcf, cllr=self.cllr)
        return entry


def _asv_json(point: AsvOperatingPoint | None) -> dict | None:
    if point is None:
        return None
    return {
        "threshold": point.threshold,
        "p_fa": point.p_fa,
        "p_miss": point.p_miss,
        "p_miss_spoof": point.p_miss_spoof,
    }


@dataclass(frozen=True)
class ConditionFigures:
    """One condition of a keys file (e.g. LA 2021 C2, codec alaw): its figures and its grid row.

    ``figures``: the condition's bona fide trials against all its spoofs; ``rows``: against the spoofs
    of one attack (LA) or vocoder family (DF) of the condition; ``asv``: the ASV operating point fixed on
    the condition's own target and nontarget trials (None without ASV trials for it).
    """

    name: str
    factor: str
    value: str
    figures: Figures
    asv: AsvOperatingPoint | None
    rows: dict[str, Figures]

    def to_json(self, rows_key: str) -> dict:
        entry = {self.factor: self.value, **self.figures.to_json()}
        entry["asv_operating_point"] = _asv_json(self.asv)
        entry[rows_key] = {name: fig.to_json() for name, fig in self.rows.items()}
        return entry


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
    metrics: str = "asvspoof2019"
    det_points: str = "official"
    sasv: dict[str, float] = field(default_factory=dict)  # a_dcf, t_eer when their inputs are given
    intervals: BootstrapIntervals | None = None
    # With a keys file's conditions (see ssd.metrics.conditions): per condition, the factor of the grid
    # rows ("attack" or e.g. "vocoder"), and the pooled-condition figures of those rows when they are
    # not the attacks themselves.
    per_condition: dict[str, ConditionFigures] = field(default_factory=dict)
    row_factor: str = "attack"
    per_row: dict[str, Figures] = field(default_factory=dict)

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
        pooled = self.pooled.to_json()
        pooled.update(self.sasv)
        summary = {
            "cm_scores": self.cm_source,
            "asv_scores": self.asv_source,
            "metrics": self.metrics,
            "det_points": self.det_points,
            "pooled": pooled,
            "per_attack": {name: fig.to_json() for name, fig in self.per_attack.items()},
        }
        rows_key = f"per_{self.row_factor}"
        if self.per_row:
            summary[rows_key] = {name: fig.to_json() for name, fig in self.per_row.items()}
        if self.per_condition:
            summary["per_condition"] = {
                name: cond.to_json(rows_key) for name, cond in self.per_condition.items()
            }
        return {
            **summary,
            "confidence_intervals": self.intervals.to_json() if self.intervals else None,
            "n_bonafide": self.n_bonafide,
            "n_spoof": self.n_spoof,
            "tdcf": self.tdcf_variant,
            "asv_operating_point": _asv_json(self.asv),
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
        order = official_order(trials.scores, trials.is_bonafide)
        return cls(
            trials.scores[order], trials.is_bonafide[order], trials.attack_index[order], trials.attack_names
        )

    def subset(self, attack: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Sorted scores and bona fide flags of all trials, or of bona fide plus one attack's spoofs."""
        if attack is None:
            return self.scores, self.is_bonafide
        keep = self.is_bonafide | (self.attack_index == self.attack_names.index(attack))
        return self.scores[keep], self.is_bonafide[keep]

    def det(self, attack: str | None = None, points: str = "official") -> DetCurve:
        """DET curve of all bona fide trials against all spoofs, or against one attack's spoofs."""
        return det_curve_sorted(*self.subset(attack), points)


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


def subset_figures(
    scores: np.ndarray,
    is_bona: np.ndarray,
    point: AsvOperatingPoint | None,
    tdcf: str | None,
    points: str,
    metrics: str,
    label: str,
    notes: list[str],
    counts: tuple[int, int] | None = None,
) -> Figures:
    """Figures of trials already in official order; an undefined t-DCF becomes a note naming ``label``.

    ``counts`` (bona fide, spoof) defaults to the counts of the trials given.
    """
    det = det_curve_sorted(scores, is_bona, points)
    eer, threshold = eer_from_det(det)
    value, tdcf_threshold = None, None
    if point is not None:
        try:
            value, tdcf_threshold = min_tdcf_from_det(det, point, tdcf or "legacy")
        except TdcfUndefinedError as err:
            notes.append(f"{label}: {err}")
    if counts is None:
        n_bona = int(np.count_nonzero(is_bona))
        counts = (n_bona, int(is_bona.size) - n_bona)
    fig = Figures(eer, threshold, value, *counts, min_tdcf_threshold=tdcf_threshold)
    if metrics == "asvspoof5":
        bona, spoof = scores[is_bona], scores[~is_bona]
        fig = replace(
            fig, min_dcf=min_dcf_from_det(det)[0], act_dcf=act_dcf(bona, spoof), cllr=cllr(bona, spoof)
        )
    return fig


def evaluate(
    trials: Trials,
    asv: AsvScores | None = None,
    tdcf: str = "legacy",
    no_asv_reason: str = "no ASV scores given",
    points: str = "official",
    metrics: str = "asvspoof2019",
) -> ScoreReport:
    """Pooled and per-attack EER, plus min t-DCF (``tdcf`` = legacy|revised) when ASV scores are given.

    ``no_asv_reason`` says in the report's notes why there are no ASV scores, when there are none;
    ``points`` places the DET points (see ``ssd.metrics.eer``); ``metrics`` = asvspoof5 adds minDCF,
    actDCF and Cllr.
    """
    if tdcf not in TDCF_VARIANTS:
        raise ValueError(f"unknown t-DCF variant {tdcf!r}; choose one of {', '.join(TDCF_VARIANTS)}")
    if metrics not in METRIC_SETS:
        raise ValueError(f"unknown metric set {metrics!r}; choose one of {', '.join(METRIC_SETS)}")
    check_det_points(points)
    if trials.n_bonafide == 0 or trials.n_spoof == 0:
        raise ScoreFileError(
            f"{trials.source}: {trials.n_bonafide} bona fide and {trials.n_spoof} spoof trials; the EER "
            "needs both classes (is this the score file, or protocol, of another set?)"
        )
    notes: list[str] = []
    ranked = SortedTrials.of(trials)
    asv_point: AsvOperatingPoint | None = None
    if asv is None:
        notes.append(
            f"min t-DCF not computed: {no_asv_reason} (the t-DCF needs the ASV system's target, nontarget "
            "and spoof scores for this set)"
        )
    else:
        spoof = _asv_spoof_for(trials, asv, notes)
        asv_point = asv_operating_point(asv.target, asv.nontarget, spoof, points)
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
        scores, is_bona = ranked.subset(attack)
        return subset_figures(
            scores, is_bona, point, tdcf, points, metrics, attack or "pooled", notes,
            counts=(trials.n_bonafide, n_spoof[attack]),
        )  # fmt: skip

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
        metrics=metrics,
        det_points=points,
    )


def add_intervals(
    report: ScoreReport, trials: Trials, level: float, replicates: int, seed: int
) -> ScoreReport:
    """The report with bootstrap intervals of its pooled EER and min t-DCF (see ``ssd.metrics.bootstrap``)."""
    ranked = SortedTrials.of(trials)
    weights = None
    if report.asv is not None and report.pooled.min_tdcf is not None:
        weights = tdcf_weights(report.asv, report.tdcf_variant or "legacy")
    intervals = bootstrap_intervals(
        ranked.scores, ranked.is_bonafide, level, replicates, seed, weights, report.det_points
    )
    return replace(report, intervals=intervals)


def add_sasv(
    report: ScoreReport,
    trials: Trials,
    cm_utts: list[str],
    sasv: KeyedTrialScores | None,
    asv_trials: KeyedTrialScores | None,
) -> ScoreReport:
    """The report with a-DCF (from SASV scores) and t-EER (from per-trial ASV scores), or notes why not."""
    figures: dict[str, float] = {}
    notes = list(report.notes)
    if sasv is None:
        notes.append("a-DCF not computed: no SASV scores given (--sasv-scores, 'utt score key' lines)")
    else:
        figures["a_dcf"] = a_dcf(sasv.of("target"), sasv.of("nontarget"), sasv.of("spoof"))[0]
    if asv_trials is None:
        notes.append(
            "t-EER not computed: no ASV scores of the CM trials given (--asv-trial-scores, 'utt score key')"
        )
    else:
        cm = cm_scores_of_trials(asv_trials, trials, cm_utts)
        key = asv_trials.key
        figures["t_eer"] = t_eer(
            cm[key == 0], cm[key == 1], cm[key == 2],
            asv_trials.of("target"), asv_trials.of("nontarget"), asv_trials.of("spoof"),
        )  # fmt: skip
    return replace(report, sasv=figures, notes=notes)


def format_report(report: ScoreReport) -> str:
    """Human-readable pooled lines and per-attack table (EER in %, costs to 4 decimals)."""

    def num(value: float | None) -> str:
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
    ci = report.intervals
    eer_ci = f" {ci.eer.text(100, 3)}" if ci else ""
    tdcf_ci = f" {ci.min_tdcf.text(1, 4)}" if ci and ci.min_tdcf else ""
    pooled = report.pooled
    # Six decimals: enough to show parity with the official code (AM-softmax fixture: 0.077145).
    tdcf = f"{pooled.min_tdcf:.6f}" if pooled.min_tdcf is not None else "-"
    lines.append(f"pooled: EER {100 * pooled.eer:.3f} %{eer_ci}  {what} {tdcf}{tdcf_ci}")
    five = report.metrics == "asvspoof5"
    if five:
        lines.append(
            f"pooled: minDCF {num(pooled.min_dcf)}  actDCF {num(pooled.act_dcf)}  "
            f"Cllr {num(pooled.cllr)} bits"
        )
        sasv = "  ".join(f"{SASV_NAMES[k]} {num(v)}" for k, v in report.sasv.items())
        if sasv:
            lines.append(f"pooled: {sasv}")
    if ci:
        lines.append(
            f"(intervals: {100 * ci.level:g} % percentile bootstrap, {ci.replicates} replicates, seed "
            f"{ci.seed}, CM trials resampled by class, ASV fixed)"
        )
    if report.per_attack:
        header = f"{'attack':<8} {'#spoof':>7} {'EER (%)':>8} {'min t-DCF':>10}"
        if five:
            header += f" {'minDCF':>8} {'actDCF':>8} {'Cllr':>8}"
        lines += ["", header]
        for name, fig in report.per_attack.items():
            row = f"{name:<8} {fig.n_spoof:>7} {100 * fig.eer:>8.3f} {num(fig.min_tdcf):>10}"
            if five:
                row += f" {num(fig.min_dcf):>8} {num(fig.act_dcf):>8} {num(fig.cllr):>8}"
            lines.append(row)
    if report.per_row:
        width = _width(report.per_row)
        header = f"{report.row_factor:<{width}} {'#spoof':>7} {'EER (%)':>8} {'min t-DCF':>10}"
        lines += ["", header + (f" {'minDCF':>8} {'actDCF':>8} {'Cllr':>8}" if five else "")]
        for name, fig in report.per_row.items():
            row = f"{name:<{width}} {fig.n_spoof:>7} {100 * fig.eer:>8.3f} {num(fig.min_tdcf):>10}"
            if five:
                row += f" {num(fig.min_dcf):>8} {num(fig.act_dcf):>8} {num(fig.cllr):>8}"
            lines.append(row)
    if report.per_condition:
        lines += _condition_lines(report, num)
    if report.notes:
        lines += [""] + [f"note: {note}" for note in report.notes]
    return "\n".join(lines)


def _width(names: dict[str, object] | list[str], least: int = 8) -> int:
    return max([least, *(len(name) for name in names)])


def _condition_lines(report: ScoreReport, num) -> list[str]:
    """The per-condition table, then the organisers' grids: rows by attack (or family) x condition."""
    conds = report.per_condition
    factor = next(iter(conds.values())).factor
    five = report.metrics == "asvspoof5"
    vwidth = _width([c.value for c in conds.values()], len(factor))
    header = f"{'cond':<6} {factor:<{vwidth}} {'#bona':>7} {'#spoof':>7} {'EER (%)':>8} {'min t-DCF':>10}"
    if five:
        header += f" {'minDCF':>8} {'actDCF':>8} {'Cllr':>8}"
    with_asv = any(c.asv is not None for c in conds.values())
    title = "per condition"
    if with_asv:
        title += " (ASV threshold and t-DCF costs fixed per condition, as in the ASVspoof 2021 package)"
    lines = ["", f"{title}:", header]
    for name, cond in conds.items():
        fig = cond.figures
        row = (
            f"{name:<6} {cond.value:<{vwidth}} {fig.n_bonafide:>7} {fig.n_spoof:>7} "
            f"{100 * fig.eer:>8.3f} {num(fig.min_tdcf):>10}"
        )
        if five:
            row += f" {num(fig.min_dcf):>8} {num(fig.act_dcf):>8} {num(fig.cllr):>8}"
        lines.append(row)
    pooled_rows = report.per_row or report.per_attack
    names = list(pooled_rows)
    for name in (n for c in conds.values() for n in c.rows):
        if name not in names:
            names.append(name)
    width = _width(names + [report.row_factor])

    def grid(title: str, value) -> list[str]:
        out = [
            "",
            title,
            f"{report.row_factor:<{width}}" + "".join(f" {c:>8}" for c in conds) + f" {'pooled':>8}",
        ]
        for row_name in names + [None]:
            cells = [value(c.figures if row_name is None else c.rows.get(row_name)) for c in conds.values()]
            total = value(report.pooled if row_name is None else pooled_rows.get(row_name))
            out.append(
                f"{row_name or 'pooled':<{width}}" + "".join(f" {v:>8}" for v in cells) + f" {total:>8}"
            )
        return out

    def tdcf(fig: Figures | None) -> str:
        return "-" if fig is None or fig.min_tdcf is None else f"{fig.min_tdcf:.4f}"

    def eer(fig: Figures | None) -> str:
        return "-" if fig is None else f"{100 * fig.eer:.2f}"

    rows_word = "attack" if report.row_factor == "attack" else report.row_factor
    if report.asv is not None or with_asv:
        lines += grid(f"min t-DCF by {rows_word} and condition:", tdcf)
    lines += grid(f"EER (%) by {rows_word} and condition:", eer)
    return lines

"""Per-condition figures over the ASVspoof 2021 keys (LA C1-C7, DF C1-C9), as the 2021 evaluation package.

The organisers' package (``eval-package/main.py``: ``compute_tDCF_C012``, ``compute_decomposed_mintdcf_eer``)
reports EER and min t-DCF on a grid. Columns: a factor that both classes carry (LA: the codec, C1..C7 =
none, alaw, pstn, g722, ulaw, gsm, opus; DF: the compression, C1..C9), plus a pooled column. Rows: a
factor of the spoofs only (LA: the attack; DF: the vocoder family), plus a pooled row. A cell's CM
figures are its condition's bona fide trials against the spoofs of its condition and row, over the
official DET walk. Its revised t-DCF coefficients C0, C1, C2 come from the organisers' ASV trials of the
same cell: the target and nontarget trials of the condition (the ASV EER threshold is placed on them
again, per condition) and the spoof trials of the condition and row. CM and ASV trials are those of one
subset of the keys (``eval``, the phase published 2021 results use, unless another is chosen).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from ssd.metrics.eer import official_order
from ssd.metrics.report import ConditionFigures, Figures, ScoreReport, subset_figures
from ssd.metrics.scorefiles import (
    ASV_KEYS,
    AsvScores,
    CmScores,
    ScoreFileError,
    Trials,
    attack_sort_key,
    make_trials,
    protocol_from_columns,
)
from ssd.metrics.tdcf import AsvOperatingPoint, asv_operating_point

if TYPE_CHECKING:  # the 2021 readers are imported where used: ssd-score on 2019 files starts faster
    from ssd.data.eval_protocols import EvalProtocol

LA2021_CODECS = ("none", "alaw", "pstn", "g722", "ulaw", "gsm", "opus")
DF2021_COMPRESSIONS = (
    "nocodec",
    "low_mp3",
    "high_mp3",
    "low_m4a",
    "high_m4a",
    "low_ogg",
    "high_ogg",
    "mp3m4a",
    "oggm4a",
)
DF2021_VOCODERS = (
    "traditional_vocoder",
    "waveform_concatenation",
    "neural_vocoder_autoregressive",
    "neural_vocoder_nonautoregressive",
    "unknown",
)
KEY_FORMATS = ("la2021", "df2021")
SUBSETS = ("eval", "progress", "hidden", "all")
DEFAULT_SUBSET = "eval"


@dataclass(frozen=True)
class Layout:
    """What the grid of one keys format is made of (the package's ``config.py``)."""

    factor: str  # keys column of the conditions, carried by both classes
    values: tuple[str, ...]  # its values in the organisers' order: C1, C2, ...
    rows: str  # spoof-only factor of the rows: "attack", or a keys column
    row_values: tuple[str, ...]  # the rows' order; values not listed follow in natural order


LAYOUTS = {
    "la2021": Layout("codec", LA2021_CODECS, "attack", ()),
    "df2021": Layout("compression", DF2021_COMPRESSIONS, "vocoder", DF2021_VOCODERS),
}


@dataclass(frozen=True)
class Conditions:
    """Condition and row of every CM trial, in the order of its ``Trials``."""

    factor: str
    names: tuple[str, ...]  # C1, C2, ... (a value the organisers do not list keeps its own name)
    values: tuple[str, ...]  # the keys' value behind each name
    index: np.ndarray  # per trial, into ``names``
    rows: str
    row_names: tuple[str, ...]
    row_index: np.ndarray  # per trial, into ``row_names``; -1 for bona fide


@dataclass(frozen=True)
class AsvConditions:
    """The organisers' ASV trials of the scored subset, with the condition and row of each."""

    path: str
    scores: np.ndarray
    key: np.ndarray  # index into ASV_KEYS: target, nontarget, spoof
    condition: np.ndarray  # into Conditions.names; -1 for a condition no CM trial has
    row: np.ndarray  # into Conditions.row_names for spoof trials (rows "attack" only); else -1


def _ordered(present: set[str], listed: tuple[str, ...]) -> list[str]:
    return [v for v in listed if v in present] + sorted(present - set(listed), key=attack_sort_key)


def _codes(values: list[str], names: tuple[str, ...]) -> np.ndarray:
    lookup = {name: i for i, name in enumerate(names)}
    return np.fromiter((lookup.get(v, -1) for v in values), np.int32, len(values))


def _subset_of(keys: EvalProtocol, subset: str) -> EvalProtocol:
    if subset not in SUBSETS:
        raise ValueError(f"unknown subset {subset!r}; choose one of {', '.join(SUBSETS)}")
    if subset == "all":
        return keys
    chosen = keys.subset(subset)
    if not len(chosen):
        have = ", ".join(sorted(set(keys.conditions["subset"])))
        raise ScoreFileError(
            f"{keys.path}: no trial of subset {subset!r} (the keys have: {have}); see --subset"
        )
    return chosen


def trials_2021(
    cm: CmScores, keys: EvalProtocol, subset: str = DEFAULT_SUBSET, higher_is_spoof: bool = False
) -> tuple[Trials, Conditions, CmScores, list[str]]:
    """The scored trials of one subset of 2021 keys, their conditions, the CM lines used, and notes.

    A score for an utterance the keys do not list is an error; scores of the keys' other subsets are
    set aside (a note counts them); every trial of the subset must be scored.
    """
    if keys.format not in LAYOUTS:
        raise ValueError(
            f"{keys.path}: per-condition figures need {' or '.join(KEY_FORMATS)} keys, not {keys.format}"
        )
    layout = LAYOUTS[keys.format]
    listed = set(keys.utts)
    unknown = [f"{u} (line {cm.line(i)})" for i, u in enumerate(cm.utts) if u not in listed]
    if unknown:
        shown = ", ".join(unknown[:5]) + (f", ... ({len(unknown)} in all)" if len(unknown) > 5 else "")
        raise ScoreFileError(
            f"{cm.path}: {len(unknown)} utterance id(s) are not in the {keys.format} keys "
            f"{keys.path}: {shown}"
        )
    chosen = _subset_of(keys, subset)
    position = {u: i for i, u in enumerate(chosen.utts)}
    keep = [i for i, u in enumerate(cm.utts) if u in position]
    selected = cm if len(keep) == len(cm.utts) else cm.select(np.array(keep, dtype=np.int64))
    is_bona = np.array([label == "bonafide" for label in chosen.labels], dtype=bool)
    protocol = protocol_from_columns(chosen.path, chosen.utts, is_bona, chosen.attacks, chosen.where)
    try:
        trials = make_trials(selected, protocol, higher_is_spoof=higher_is_spoof)
    except ScoreFileError as err:
        if subset == "all":
            raise
        raise ScoreFileError(f"{err} (subset {subset} of the keys; --subset chooses another)") from None
    notes = [
        f"{keys.format} keys {keys.path}: subset {subset}, {len(chosen)} of {len(keys)} trials"
        + (
            f"; {len(cm.utts) - len(keep)} scored trial(s) of other subsets set aside"
            if len(keep) < len(cm.utts)
            else ""
        )
    ]
    pos = np.fromiter(map(position.__getitem__, selected.utts), np.int64, len(selected.utts))
    column = chosen.conditions[layout.factor]
    values = [column[p] for p in pos]
    ordered = _ordered(set(values), layout.values)
    names = tuple(f"C{layout.values.index(v) + 1}" if v in layout.values else v for v in ordered)
    index = _codes(values, tuple(ordered))
    if layout.rows == "attack":
        row_names, row_index = trials.attack_names, trials.attack_index
    else:
        column = chosen.conditions[layout.rows]
        rows = [column[p] if not bona else "" for p, bona in zip(pos, trials.is_bonafide, strict=True)]
        row_names = tuple(_ordered({r for r in rows if r}, layout.row_values))
        row_index = _codes(rows, row_names)
    conditions = Conditions(layout.factor, names, tuple(ordered), index, layout.rows, row_names, row_index)
    return trials, conditions, selected, notes


def asv_2021(
    keys_path: str, scores_path: str, conditions: Conditions, subset: str = DEFAULT_SUBSET
) -> tuple[AsvScores, AsvConditions]:
    """The organisers' 2021 ASV keys joined with their scores, for one subset: pooled and per condition."""
    from ssd.data.eval_protocols import join_asv, read_asv2021_scores, read_la2021_asv_keys

    trials = join_asv(
        read_la2021_asv_keys(keys_path), read_asv2021_scores(scores_path), str(keys_path), str(scores_path)
    )
    if subset != "all":
        trials = [t for t in trials if t.subset == subset]
    if not trials:
        raise ScoreFileError(f"{keys_path}: no ASV trial of subset {subset!r}; see --subset")
    if not hasattr(trials[0], conditions.factor):
        raise ScoreFileError(f"{keys_path}: the ASV keys carry no {conditions.factor} column")
    scores = np.array([t.score for t in trials], dtype=np.float64)
    key = np.array([ASV_KEYS.index(t.key) for t in trials], dtype=np.int8)
    target, nontarget = scores[key == 0], scores[key == 1]
    if target.size == 0 or nontarget.size == 0:
        raise ScoreFileError(
            f"{keys_path}: needs target and nontarget trials (subset {subset}) to fix the "
            f"ASV threshold, found {target.size} target and {nontarget.size} nontarget"
        )
    attack = [t.attack if t.key == "spoof" else "" for t in trials]
    names = tuple(sorted(set(attack) - {""}, key=attack_sort_key))
    attack_index = _codes(attack, names)
    spoof = {name: scores[attack_index == i] for i, name in enumerate(names)}
    condition = _codes([getattr(t, conditions.factor) for t in trials], conditions.values)
    row = np.full(len(trials), -1, dtype=np.int32)
    if conditions.rows == "attack":
        row = _codes(attack, conditions.row_names)
    pooled = AsvScores(str(scores_path), target, nontarget, spoof)
    return pooled, AsvConditions(str(scores_path), scores, key, condition, row)


def _condition_point(
    asv: AsvConditions, k: int, name: str, points: str, notes: list[str]
) -> AsvOperatingPoint | None:
    """ASV operating point of condition ``k``: its own EER threshold, its spoofs' rejection rate."""
    in_k = asv.condition == k
    parts = [asv.scores[in_k & (asv.key == i)] for i in range(3)]
    if min(p.size for p in parts) == 0:
        have = ", ".join(f"{p.size} {n}" for p, n in zip(parts, ASV_KEYS, strict=True))
        notes.append(
            f"{name}: min t-DCF not computed: the ASV trials of this condition are {have} "
            "(the t-DCF needs all three)"
        )
        return None
    return asv_operating_point(*parts, points)


def add_conditions(
    report: ScoreReport,
    trials: Trials,
    conditions: Conditions,
    asv: AsvConditions | None = None,
    no_asv_reason: str | None = None,
) -> ScoreReport:
    """The report with per-condition figures and the grid of rows x conditions (see the module text).

    Without ``asv`` the t-DCF entries stay empty and ``no_asv_reason`` goes into the notes.
    """
    notes = list(report.notes)
    if asv is None and no_asv_reason:
        notes.append(f"per-condition min t-DCF not computed: {no_asv_reason}")
    tdcf, points, metrics = report.tdcf_variant, report.det_points, report.metrics
    order = official_order(trials.scores, trials.is_bonafide)
    scores, is_bona = trials.scores[order], trials.is_bonafide[order]
    cond, row = conditions.index[order], conditions.row_index[order]

    def cell(keep: np.ndarray, point: AsvOperatingPoint | None, label: str) -> Figures | None:
        n_bona = int(np.count_nonzero(is_bona[keep]))
        if n_bona == 0 or n_bona == int(np.count_nonzero(keep)):
            return None
        return subset_figures(scores[keep], is_bona[keep], point, tdcf, points, metrics, label, notes)

    def spoof_rejection(point: AsvOperatingPoint | None, spoof_mask: np.ndarray) -> AsvOperatingPoint | None:
        if point is None or asv is None:
            return None
        spoof = asv.scores[spoof_mask & (asv.key == 2)]
        return replace(point, p_miss_spoof=float(np.mean(spoof < point.threshold))) if spoof.size else None

    per_condition: dict[str, ConditionFigures] = {}
    for k, name in enumerate(conditions.names):
        in_k = cond == k
        point = _condition_point(asv, k, name, points, notes) if asv is not None else None
        figures = cell(in_k, point, name)
        if figures is None:
            notes.append(
                f"{name} ({conditions.factor} {conditions.values[k]}): not computed, it needs bona "
                "fide and spoof trials"
            )
            continue
        rows = {}
        for r, row_name in enumerate(conditions.row_names):
            asv_mask = (asv.condition == k) & (asv.row == r) if asv is not None else None
            fig = cell(in_k & (is_bona | (row == r)), spoof_rejection(point, asv_mask), f"{name} {row_name}")
            if fig is not None:
                rows[row_name] = fig
        per_condition[name] = ConditionFigures(
            name, conditions.factor, conditions.values[k], figures, point, rows
        )
    per_row: dict[str, Figures] = {}
    if conditions.rows != "attack":
        for r, row_name in enumerate(conditions.row_names):
            fig = cell(is_bona | (row == r), None, row_name)
            if fig is not None:
                per_row[row_name] = fig
    return replace(
        report, per_condition=per_condition, row_factor=conditions.rows, per_row=per_row, notes=notes
    )

"""Figures of stage 5: DET curves on probit axes, per-attack score histograms, t-DCF against threshold.

Figures are drawn with matplotlib's object API (no pyplot, so no global backend or GUI state) and
written atomically as PNG.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from statistics import NormalDist

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ssd.metrics.eer import DetCurve, eer_from_det
from ssd.metrics.scorefiles import Trials
from ssd.utils.fileio import atomic_write

# DET axes: error rates from 0.01 % to 80 %; rates outside are drawn on the border.
DET_LIMITS = (1e-4, 0.8)
DET_TICKS = (1e-4, 1e-3, 5e-3, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8)
_PROBIT = np.vectorize(NormalDist().inv_cdf, otypes=[np.float64])


def probit(rate: np.ndarray) -> np.ndarray:
    """Standard normal deviate of each rate, clipped to the DET axes (why: 0 and 1 map to infinity)."""
    clipped = np.clip(np.asarray(rate, dtype=np.float64), *DET_LIMITS)
    values, inverse = np.unique(clipped, return_inverse=True)
    return _PROBIT(values)[inverse]


def _save(fig: Figure, path: str | Path) -> None:
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=110)


def _tick_label(rate: float) -> str:
    return f"{100 * rate:g}"


def plot_det_curves(curves: Mapping[str, DetCurve], path: str | Path, title: str) -> None:
    """All variants' DET curves on one figure: miss rate of bona fide against false alarms of spoofs."""
    if not curves:
        raise ValueError(f"no DET curves to plot into {path}")
    fig = Figure(figsize=(6.0, 6.0))
    ax = fig.add_subplot()
    for name, det in curves.items():
        eer, _ = eer_from_det(det)
        ax.plot(probit(det.p_fa), probit(det.p_miss), label=f"{name} (EER {100 * eer:.3f} %)", linewidth=1.2)
    ticks = probit(np.array(DET_TICKS))
    labels = [_tick_label(t) for t in DET_TICKS]
    low, high = probit(np.array(DET_LIMITS))
    for axis_ticks, axis_labels in ((ax.set_xticks, ax.set_xticklabels), (ax.set_yticks, ax.set_yticklabels)):
        axis_ticks(ticks)
        axis_labels(labels, fontsize=7)
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    ax.plot([low, high], [low, high], color="0.7", linestyle=":", linewidth=0.8)
    ax.set_xlabel("spoofs accepted: false alarm rate (%)")
    ax.set_ylabel("bona fide rejected: miss rate (%)")
    ax.set_title(title)
    ax.grid(True, color="0.9")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def plot_score_histograms(trials: Trials, path: str | Path, title: str) -> None:
    """Bona fide against spoof score densities, pooled and for each attack, on shared bins."""
    groups = [("all spoofs", trials.spoof_scores())]
    groups += [(name, trials.spoof_scores(name)) for name in trials.attack_names]
    ncols = min(4, len(groups))
    nrows = math.ceil(len(groups) / ncols)
    fig = Figure(figsize=(3.2 * ncols, 2.3 * nrows + 0.4))
    low, high = float(trials.scores.min()), float(trials.scores.max())
    bins = np.linspace(low, high if high > low else low + 1.0, 61)
    bona, _ = np.histogram(trials.bonafide_scores(), bins=bins, density=True)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k >= len(groups):
            ax.set_visible(False)
            continue
        name, spoof = groups[k]
        ax.stairs(bona, bins, fill=True, alpha=0.5, color="tab:green", label="bona fide")
        ax.stairs(
            np.histogram(spoof, bins=bins, density=True)[0],
            bins,
            fill=True,
            alpha=0.5,
            color="tab:red",
            label="spoof",
        )
        ax.set_title(f"{name} ({spoof.size} spoofs)", fontsize=8)
        ax.set_yticks([])  # densities: the shapes matter, not the values
        ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.tick_params(labelsize=6)
        if k == 0:
            ax.legend(fontsize=6)
    fig.suptitle(f"{title} (higher score = more bona fide)", fontsize=10)
    fig.subplots_adjust(
        left=0.06,
        right=0.98,
        bottom=0.08 / nrows,
        top=1 - 0.5 / (2.3 * nrows + 0.4),
        hspace=0.45,
        wspace=0.25,
    )
    _save(fig, path)


def plot_tdcf_curve(det: DetCurve, tdcf: np.ndarray, path: str | Path, title: str) -> None:
    """Normalised t-DCF at every CM threshold, with its minimum marked."""
    finite = np.isfinite(det.thresholds)
    k = int(np.argmin(tdcf))
    # "reject everything" sits at +inf: draw it at the highest finite threshold
    best = det.thresholds[k] if finite[k] else det.thresholds[finite][-1]
    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.add_subplot()
    ax.plot(det.thresholds[finite], tdcf[finite], linewidth=1.0)
    ax.axvline(best, color="0.6", linestyle=":", linewidth=0.8)
    ax.plot([best], [tdcf[k]], "o", color="tab:red", label=f"min t-DCF {tdcf[k]:.4f} at {best:.4g}")
    ax.set_ylim(0.0, min(float(tdcf[finite].max()), 2.0) * 1.05)
    ax.set_xlabel("CM threshold (accept as bona fide when score >= threshold)")
    ax.set_ylabel("normalised t-DCF")
    ax.set_title(title)
    ax.grid(True, color="0.9")
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)

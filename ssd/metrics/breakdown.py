"""Figures per value of a trial attribute (In-the-Wild's speaker, DF's source corpus: a ``utt value`` table).

A value's figures are its own bona fide trials against its own spoofs (as the In-the-Wild per-speaker
tables are made), over the official DET walk. A value whose trials lack one class has no EER: it is
listed as skipped, never given a made-up figure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ssd.metrics.eer import official_order
from ssd.metrics.report import Figures, subset_figures
from ssd.metrics.scorefiles import ScoreFileError, Trials

_SHOW = 5


@dataclass(frozen=True)
class Breakdown:
    """Figures per value of one attribute; ``skipped``: values with only bona fide or only spoof trials."""

    source: str
    figures: dict[str, Figures]
    skipped: dict[str, tuple[int, int]]  # value -> (bona fide, spoof) trials

    def to_json(self) -> dict:
        return {"table": self.source, "values": {v: fig.to_json() for v, fig in self.figures.items()},
                "skipped": {v: {"n_bonafide": b, "n_spoof": s} for v, (b, s) in self.skipped.items()}}

    def format(self) -> str:
        width = max([len("value"), *map(len, self.figures)])
        lines = [f"per value of {self.source}:",
                 f"{'value':<{width}} {'#bona':>6} {'#spoof':>7} {'EER (%)':>8}"]
        lines += [f"{v:<{width}} {f.n_bonafide:>6} {f.n_spoof:>7} {100 * f.eer:>8.3f}"
                  for v, f in self.figures.items()]
        if self.skipped:
            lines.append(f"{len(self.skipped)} value(s) with one class only, no EER: "
                         + ", ".join(f"{v} ({b} bona fide, {s} spoof)" for v, (b, s) in self.skipped.items()))
        return "\n".join(lines)


def breakdown(trials: Trials, utts: list[str], values: dict[str, str], source: str,
              points: str = "official", metrics: str = "asvspoof2019") -> Breakdown:
    """The :class:`Breakdown` of ``trials`` (one per utterance of ``utts``, in that order) by ``values``."""
    absent = [utt for utt in utts if utt not in values]
    if absent:
        raise ScoreFileError(f"{source}: no value for {len(absent)} scored utterance(s), e.g. "
                             f"{', '.join(absent[:_SHOW])}")
    names = sorted({values[utt] for utt in utts})
    code = np.searchsorted(np.array(names), np.array([values[utt] for utt in utts]))
    order = official_order(trials.scores, trials.is_bonafide)
    scores, is_bona, code = trials.scores[order], trials.is_bonafide[order], code[order]
    figures, skipped, notes = {}, {}, []
    for i, name in enumerate(names):
        keep = code == i
        n_bona = int(np.count_nonzero(is_bona & keep))
        n_spoof = int(np.count_nonzero(keep)) - n_bona
        if n_bona == 0 or n_spoof == 0:
            skipped[name] = (n_bona, n_spoof)
            continue
        figures[name] = subset_figures(scores[keep], is_bona[keep], None, None, points, metrics, name, notes)
    return Breakdown(source, figures, skipped)

"""The figures and decision thresholds a packed detector's manifest records, from a scored set's report.

Both ways of making an archive use it: packing an experiment reads the pooled figures stage 5 wrote
(``scores/<set>.json``, ssd.results); importing a published model scores its dev file with the same
report (:func:`ssd.metrics.report.evaluate`). Thresholds follow ssd.metrics: a trial is called bona fide
when ``score >= threshold``.
"""

from __future__ import annotations

from typing import Any

DEFAULT_THRESHOLD = "dev_eer"


def finite_or_none(value: float | None) -> float | None:
    """JSON has no infinity: a threshold of +-inf (accept or reject everything) is stored as null."""
    return value if value is None or abs(value) != float("inf") else None


def figures_entry(pooled: dict[str, Any], scores: str, asv_scores: str | None,
                  tdcf: str | None) -> dict[str, Any]:
    """A manifest's ``figures`` entry of one set, from the pooled figures of its report (``to_json``).

    ``scores``, ``asv_scores``: how the manifest names the inputs (relative names, not this machine's
    paths); ``tdcf``: the t-DCF variant of ``min_tdcf`` (None without ASV scores).
    """
    return {
        "scores": scores,
        "n_bonafide": pooled["n_bonafide"],
        "n_spoof": pooled["n_spoof"],
        "eer": pooled["eer"],
        "eer_threshold": finite_or_none(pooled["eer_threshold"]),
        "min_tdcf": pooled.get("min_tdcf"),
        "min_tdcf_threshold": finite_or_none(pooled.get("min_tdcf_threshold")),
        "tdcf": tdcf if pooled.get("min_tdcf") is not None else None,
        "asv_scores": asv_scores,
    }


def thresholds_from_dev(dev: dict[str, Any], dev_set: str) -> dict[str, Any]:
    """Decision thresholds from the dev figures: the EER threshold, and the min t-DCF one when known."""
    thresholds: dict[str, Any] = {
        "default": DEFAULT_THRESHOLD,
        "rule": "bonafide if score >= threshold",
        "dev_eer": {"value": dev["eer_threshold"], "set": dev_set, "eer": dev["eer"]},
    }
    if dev.get("min_tdcf_threshold") is not None:
        thresholds["dev_min_tdcf"] = {"value": dev["min_tdcf_threshold"], "set": dev_set,
                                      "min_tdcf": dev["min_tdcf"], "tdcf": dev.get("tdcf")}
    return thresholds


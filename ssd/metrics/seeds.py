"""Multi-seed statistics of stage 5: mean +- std per variant, paired differences to a baseline.

Experiment directories named ``<variant>_s<seed>`` are one training run of a variant per seed. For
every variant and set the pooled EER and min t-DCF are summarised as mean +- sample standard
deviation over its seeds; for every other variant the difference to the baseline is paired by seed
(only seeds both have), with a Student-t interval of the mean difference. A difference counts as
distinguishable from seed noise only when that interval excludes 0.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

if TYPE_CHECKING:
    from ssd.results import ExperimentResult

SEED_TAG = re.compile(r"^(?P<variant>.+)_s(?P<seed>\d+)$")
METRICS = {"eer": ("EER (%)", 100.0), "min_tdcf": ("min t-DCF", 1.0)}


def split_tag(tag: str) -> tuple[str, int]:
    """``vanilla_s2`` -> ("vanilla", 2); an error names a directory without the ``_s<seed>`` suffix."""
    match = SEED_TAG.match(tag)
    if match is None:
        raise ValueError(f"{tag}: experiment directories aggregated over seeds must be named <tag>_s<seed>")
    return match["variant"], int(match["seed"])


@dataclass(frozen=True)
class PairedDifference:
    """Mean of (variant - baseline) over shared seeds, with its interval (None with one seed)."""

    seeds: tuple[int, ...]
    mean: float
    interval: tuple[float, float] | None
    level: float

    @property
    def distinguishable(self) -> bool | None:
        if self.interval is None:
            return None
        return not self.interval[0] <= 0.0 <= self.interval[1]

    def verdict(self) -> str:
        if self.interval is None:
            return "one shared seed: no interval, cannot be told from seed noise"
        if self.distinguishable:
            return f"distinguishable from seed noise (the {100 * self.level:g} % interval excludes 0)"
        return f"not distinguishable from seed noise (the {100 * self.level:g} % interval contains 0)"


def paired_difference(
    values: dict[int, float], baseline: dict[int, float], level: float = 0.95
) -> PairedDifference:
    """Difference of a variant to the baseline, paired by seed."""
    seeds = tuple(sorted(set(values) & set(baseline)))
    if not seeds:
        raise ValueError("no seed is shared with the baseline: cannot pair the runs")
    diff = np.array([values[s] - baseline[s] for s in seeds])
    mean = float(diff.mean())
    if diff.size < 2:
        return PairedDifference(seeds, mean, None, level)
    half = float(stats.t.ppf((1 + level) / 2, diff.size - 1) * diff.std(ddof=1) / math.sqrt(diff.size))
    return PairedDifference(seeds, mean, (mean - half, mean + half), level)


def collect(
    results: list[ExperimentResult], sets: list[str]
) -> dict[str, dict[str, dict[str, dict[int, float]]]]:
    """``[variant][set][metric][seed]`` pooled figures (min t-DCF only where computed)."""
    table: dict = {}
    for exp in results:
        variant, seed = split_tag(exp.tag)
        for set_name in sets:
            if set_name not in exp.sets:
                continue
            pooled = exp.sets[set_name].report.pooled
            per_metric = table.setdefault(variant, {}).setdefault(set_name, {})
            for metric in METRICS:
                value = getattr(pooled, metric)
                if value is not None:
                    per_metric.setdefault(metric, {})[seed] = float(value)
    return table


def seeds_summary(
    results: list[ExperimentResult], sets: list[str], baseline: str | None, level: float = 0.95
) -> tuple[list[str], dict]:
    """Markdown lines and JSON of the multi-seed tables (no paired differences without a baseline)."""
    table = collect(results, sets)
    if baseline is not None and baseline not in table:
        raise ValueError(
            f"baseline variant {baseline!r} has no <tag>_s<seed> runs (have: {', '.join(table)})"
        )
    intro = "Mean +- sample std over seeds"
    if baseline is not None:
        intro += (f"; differences to `{baseline}` paired by seed, with {100 * level:g} % Student-t "
                  "intervals of the mean difference")
    lines = ["", "## Seeds", "", intro + "."]
    data: dict = {"baseline": baseline, "level": level, "variants": {}}
    for set_name in sets:
        lines += ["", f"### {set_name}: over seeds", ""]
        rows, diffs = [], []
        for variant, per_set in table.items():
            metrics = per_set.get(set_name, {})
            cells = [variant]
            for metric, (title, scale) in METRICS.items():
                values = metrics.get(metric)
                if not values:
                    cells.append("n/a")
                    continue
                arr = scale * np.array(list(values.values()))
                std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
                cells.append(f"{arr.mean():.3f} +- {std:.3f} ({arr.size} seeds)")
                entry = data["variants"].setdefault(variant, {}).setdefault(set_name, {})
                entry[metric] = {
                    "seeds": sorted(values),
                    "mean": float(arr.mean()) / scale,
                    "std": std / scale,
                }
                base = table[baseline].get(set_name, {}).get(metric) if baseline is not None else None
                if variant != baseline and base:
                    pair = paired_difference(values, base, level)
                    shown = f"{scale * pair.mean:+.3f}"
                    if pair.interval:
                        shown += f" [{scale * pair.interval[0]:+.3f}, {scale * pair.interval[1]:+.3f}]"
                    diffs.append(f"- {variant} - {baseline}, {title}: {shown} over seeds "
                                 f"{', '.join(map(str, pair.seeds))}: {pair.verdict()}")  # fmt: skip
                    entry[metric]["difference_to_baseline"] = {
                        "seeds": list(pair.seeds), "mean": pair.mean, "interval": pair.interval,
                        "distinguishable": pair.distinguishable,
                    }  # fmt: skip
            rows.append(cells)
        header = "| variant | " + " | ".join(title for title, _ in METRICS.values()) + " |"
        lines += [header, "|" + "---|" * (len(METRICS) + 1)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        if diffs:
            lines += ["", *diffs]
    return lines, data

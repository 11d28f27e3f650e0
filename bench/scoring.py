"""Time to score the ASVspoof 2019 LA eval set: EER and min t-DCF, pooled and for 13 attacks, from files.

The figure that matters is "all figures, parsing included": read the 71,237-line CM score file and the
102,579-line ASV score file, then compute the pooled and per-attack EER and legacy min t-DCF. It is
compared with a straightforward implementation written here the way the organisers' scripts work
(``np.genfromtxt`` parsing, string masks, one mergesort DET curve per subset), run in the same process,
and the two must agree on every figure.

Usage: tools/venv/bin/python bench/scoring.py [--fixtures ../shared/fixtures] [--repeat 7]
(the fixtures folder defaults to $SSD_FIXTURES).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ssd.metrics.report import evaluate
from ssd.metrics.scorefiles import make_trials, read_asv_scores, read_cm_scores, read_protocol

CM_FILE = "air_ocsoftmax_eval_cm_scores.txt"  # higher = spoof: negated
ASV_FILE = "ASVspoof2019.LA.asv.eval.gi.trl.scores.txt"
PROTOCOL_FILE = "ASVspoof2019.LA.cm.eval.trl.txt"


def straightforward(cm_path: Path, asv_path: Path) -> dict[str, tuple[float, float]]:
    """Pooled and per-attack (EER, legacy min t-DCF), organiser-style, as ssd computes them."""
    asv = np.genfromtxt(asv_path, dtype=str)
    asv_source, asv_key, asv_score = asv[:, 0], asv[:, 1], asv[:, 2].astype(float)
    cm = np.genfromtxt(cm_path, dtype=str)
    cm_attack, cm_key, cm_score = cm[:, 1], cm[:, 2], -cm[:, 3].astype(float)

    def det(bona: np.ndarray, spoof: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The organisers' DET walk: one point per trial in mergesort order (ties not grouped)."""
        scores = np.concatenate([bona, spoof])
        labels = np.concatenate([np.ones(bona.size), np.zeros(spoof.size)])
        order = np.argsort(scores, kind="mergesort")
        bona_below = np.cumsum(labels[order])
        spoof_above = spoof.size - (np.arange(1, scores.size + 1) - bona_below)
        miss = np.concatenate([[0.0], bona_below / bona.size])
        fa = np.concatenate([[1.0], spoof_above / spoof.size])
        thresholds = np.concatenate([[scores[order[0]] - 0.001], scores[order]])
        return miss, fa, thresholds

    def eer_and_threshold(bona: np.ndarray, spoof: np.ndarray) -> tuple[float, float]:
        miss, fa, thresholds = det(bona, spoof)
        k = int(np.argmin(np.abs(miss - fa)))
        return (miss[k] + fa[k]) / 2, thresholds[k]

    target, nontarget = asv_score[asv_key == "target"], asv_score[asv_key == "nontarget"]
    _, threshold = eer_and_threshold(target, nontarget)
    p_fa, p_miss = np.mean(nontarget >= threshold), np.mean(target < threshold)
    bona = cm_score[cm_key == "bonafide"]
    subsets = {"pooled": (cm_score[cm_key == "spoof"], asv_score[asv_key == "spoof"])}
    for attack in sorted(set(cm_attack[cm_key == "spoof"])):
        subsets[attack] = (cm_score[cm_attack == attack], asv_score[asv_source == attack])
    figures = {}
    for name, (spoof, asv_spoof) in subsets.items():
        c1 = 0.95 * 0.99 * (1 - p_miss) - 0.95 * 0.01 * 10 * p_fa
        c2 = 10 * 0.05 * (1 - np.mean(asv_spoof < threshold))
        miss, fa, _ = det(bona, spoof)
        tdcf = float(np.min((c1 * miss + c2 * fa) / min(c1, c2)))
        figures[name] = (eer_and_threshold(bona, spoof)[0], tdcf)
    return figures


def ours(cm_path: Path, asv_path: Path, protocol_path: Path | None = None) -> dict[str, tuple[float, float]]:
    """The same figures through ssd.metrics, as ssd-score computes them."""
    protocol = read_protocol(protocol_path) if protocol_path else None
    trials = make_trials(read_cm_scores(cm_path), protocol, higher_is_spoof=True)
    report = evaluate(trials, read_asv_scores(asv_path))
    figures = {"pooled": (report.pooled.eer, report.pooled.min_tdcf)}
    figures.update({name: (fig.eer, fig.min_tdcf) for name, fig in report.per_attack.items()})
    return figures


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float, float, object]:
    """Best and median wall time and best CPU time over ``repeat`` runs, and the last result.

    CPU time (this process) is reported too because wall time on a shared 2-core machine moves with
    whatever else runs there.
    """
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
    return min(walls), statistics.median(walls), min(cpus), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--fixtures",
        type=Path,
        default=os.environ.get("SSD_FIXTURES"),
        help="shared fixtures folder (default: $SSD_FIXTURES)",
    )
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    if args.fixtures is None:
        parser.error("give --fixtures or set SSD_FIXTURES")
    folder = Path(args.fixtures) / "asvspoof2019"
    cm, asv, protocol = folder / CM_FILE, folder / ASV_FILE, folder / PROTOCOL_FILE

    trials = make_trials(read_cm_scores(cm), higher_is_spoof=True)
    asv_scores = read_asv_scores(asv)
    best_ours, median_ours, cpu_ours, figures = timed(lambda: ours(cm, asv), args.repeat)
    rows = [("ssd: CM + ASV files -> all figures", best_ours, median_ours, cpu_ours)]
    for name, fn in (
        ("ssd: same, joined with the CM protocol", lambda: ours(cm, asv, protocol)),
        ("  parse CM scores", lambda: read_cm_scores(cm)),
        ("  parse ASV scores", lambda: read_asv_scores(asv)),
        ("  parse CM protocol", lambda: read_protocol(protocol)),
        ("  figures only (files already parsed)", lambda: evaluate(trials, asv_scores)),
    ):
        rows.append((name, *timed(fn, args.repeat)[:3]))
    best_ref, median_ref, cpu_ref, expected = timed(
        lambda: straightforward(cm, asv), max(3, args.repeat // 2)
    )
    rows.append(("straightforward (genfromtxt, per-subset sort)", best_ref, median_ref, cpu_ref))

    assert isinstance(figures, dict) and isinstance(expected, dict)
    assert list(figures) == list(expected), (list(figures), list(expected))
    for name, (eer, tdcf) in expected.items():
        assert abs(figures[name][0] - eer) < 1e-12 and abs(figures[name][1] - tdcf) < 1e-9, name

    print(f"# scoring benchmark: {len(figures) - 1} attacks, 71,237 CM trials, 102,579 ASV trials")
    machine = platform.processor() or platform.machine()
    print(f"# {machine}, {os.cpu_count()} cores, python {platform.python_version()}, numpy {np.__version__}")
    print(
        f"# pooled EER {100 * figures['pooled'][0]:.3f} %, min t-DCF {figures['pooled'][1]:.4f}; "
        "both implementations agree on all 14 rows"
    )
    print(f"| {'what':<48} | {'best wall (s)':>13} | {'median wall (s)':>15} | {'best CPU (s)':>12} |")
    print(f"|{'-' * 50}|{'-' * 15}|{'-' * 17}|{'-' * 14}|")
    for name, best, median, cpu in rows:
        print(f"| {name:<48} | {best:>13.3f} | {median:>15.3f} | {cpu:>12.3f} |")
    print(
        f"ssd is {best_ref / best_ours:.1f}x faster than the straightforward implementation (best wall), "
        f"{median_ref / median_ours:.1f}x (median wall), {cpu_ref / cpu_ours:.1f}x (best CPU)"
    )


if __name__ == "__main__":
    main()

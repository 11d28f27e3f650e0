"""Stage 5: score every experiment's dev/eval score files and write JSON, plots and RESULTS.md files.

The library of ``python -m ssd.bin.results``, as ssd.inference is stage 4's and ssd.packing stage 6's:
it runs the metrics of ssd.metrics over experiment directories and writes what the recipe reports.

For an experiment ``exp/<tag>`` and a set ``<set>`` it reads ``exp/<tag>/scores/<set>.txt``, the
ground truth in ``<data-root>/<set>/`` (``utt2label``, ``utt2attack``) and that same set's ASV scores
``<data-root>/<set>/asv_scores.txt`` (so dev is never scored with eval's ASV file). Experiments that
lack a set's score file are listed as missing rather than failing the stage; a malformed file does
fail it, naming the file and line.

Each set gets the ASVspoof 2019 figures and the ASVspoof 5 ones, bootstrap intervals of the pooled
EER and min t-DCF (``CiOptions``), and, once the calibration set (dev) is scored, a logistic-regression
calibration fitted on it (``exp/<tag>/calibration.json``) whose actDCF and Cllr are reported next to
the raw ones for every set (on the fitting set itself they are optimistic).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from ssd.metrics import plots
from ssd.metrics.bootstrap import DEFAULT_REPLICATES, DEFAULT_SEED
from ssd.metrics.calibration import CALIBRATION_FILE, Calibration, fit_calibration
from ssd.metrics.cllr import cllr
from ssd.metrics.dcf import act_dcf
from ssd.metrics.eer import DetCurve
from ssd.metrics.fusion import FUSION_FILE
from ssd.metrics.report import ScoreReport, SortedTrials, add_intervals, evaluate
from ssd.metrics.results_md import Environment, experiment_markdown, summary_markdown
from ssd.metrics.scorefiles import (
    Protocol,
    Trials,
    make_trials,
    read_asv_scores,
    read_cm_scores,
    read_protocol,
)
from ssd.metrics.seeds import seeds_summary, split_tag
from ssd.metrics.tdcf import tdcf_curve_from_det
from ssd.utils.fileio import atomic_write, file_digest

log = logging.getLogger(__name__)

ASV_SCORES_NAME = "asv_scores.txt"


@dataclass(frozen=True)
class CiOptions:
    """Bootstrap settings of stage 5 (level None: no intervals)."""

    level: float | None = 0.95
    replicates: int = DEFAULT_REPLICATES
    seed: int = DEFAULT_SEED

    def describe(self) -> str | None:
        if self.level is None:
            return None
        return (
            f"{100 * self.level:g} % percentile bootstrap of the pooled EER and min t-DCF: CM trials "
            f"resampled with replacement within each class, ASV operating point fixed, "
            f"{self.replicates} replicates, seed {self.seed}"
        )


@dataclass
class SetResult:
    """One experiment scored on one set, with where its inputs and outputs are."""

    set_name: str
    score_file: Path
    protocol: str | None
    asv_file: Path | None
    report: ScoreReport
    det: DetCurve
    json_file: Path
    trials: Trials
    plot_files: dict[str, Path] = field(default_factory=dict)
    calibrated: dict[str, float] | None = None  # act_dcf and cllr of the calibrated scores

    def write_json(self, tag: str, calibration: Calibration | None) -> None:
        """``scores/<set>.json``: the report, plus the calibration used and its figures."""
        summary = self.report.to_json()
        summary.update(experiment=tag, set=self.set_name, protocol=self.protocol,
                       cm_scores_sha256=file_digest(self.score_file)[0])  # packing checks it is current
        summary["calibration"] = None
        if calibration is not None and self.calibrated is not None:
            pooled = self.report.pooled
            summary["calibration"] = {
                **calibration.to_json(),
                "before": {"act_dcf": pooled.act_dcf, "cllr": pooled.cllr},
                "after": dict(self.calibrated),
            }
        with atomic_write(self.json_file) as handle:
            json.dump(summary, handle, indent=2)
            handle.write("\n")


@dataclass
class ExperimentResult:
    """An experiment directory: its configuration, model size, and the sets that could be scored."""

    exp_dir: Path
    config: Path | None
    model_info: dict
    sets: dict[str, SetResult] = field(default_factory=dict)
    missing: dict[str, Path] = field(default_factory=dict)
    unlabelled: dict[str, Path] = field(default_factory=dict)  # sets scored without ground truth
    calibration: Calibration | None = None
    calibration_note: str | None = None

    @property
    def tag(self) -> str:
        return self.exp_dir.name

    @property
    def num_parameters(self) -> int | None:
        total = self.model_info.get("total")
        return total if isinstance(total, int) else None


def _read_model_info(exp_dir: Path) -> dict:
    path = exp_dir / "model_info.json"
    if not path.is_file():
        return {}
    try:
        with open(path, encoding="utf-8") as handle:
            info = json.load(handle)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err
    return info if isinstance(info, dict) else {}


def _unlabelled(score_file: Path) -> bool:
    """Whether a score file is ssd-infer's of a set without labels (``utt - - score`` lines)."""
    if not score_file.is_file():
        return False
    with open(score_file, encoding="utf-8", errors="replace") as handle:
        first = handle.readline().split()
    return len(first) == 4 and first[1:3] == ["-", "-"]


def score_set(
    exp: ExperimentResult, set_name: str, data_dir: Path, tdcf: str, ci: CiOptions = CiOptions()
) -> SetResult | None:
    """Score ``exp`` on one set and write its plots; None when the score file is missing."""
    score_file = exp.exp_dir / "scores" / f"{set_name}.txt"
    if not score_file.is_file():
        return None
    protocol: Protocol | None = None
    if (data_dir / "utt2label").is_file():
        protocol = read_protocol(data_dir)
    asv_file = data_dir / ASV_SCORES_NAME
    asv = read_asv_scores(asv_file) if asv_file.is_file() else None
    trials = make_trials(read_cm_scores(score_file), protocol)
    report = evaluate(trials, asv, tdcf=tdcf, no_asv_reason=f"{asv_file} does not exist", metrics="asvspoof5")
    if ci.level is not None:
        report = add_intervals(report, trials, ci.level, ci.replicates, ci.seed)
    if protocol is None:
        report.notes.append(f"no {data_dir}/utt2label: labels and attacks taken from the score file itself")
    if report.inverted_warning:
        log.warning("%s: %s", score_file, report.inverted_warning)
    json_file = exp.exp_dir / "scores" / f"{set_name}.json"
    ranked = SortedTrials.of(trials)
    det = ranked.det()
    result = SetResult(
        set_name,
        score_file,
        protocol.path if protocol else None,
        asv_file if asv else None,
        report,
        det,
        json_file,
        trials,
    )
    plot_dir = exp.exp_dir / "plots"
    hist = plot_dir / f"{set_name}_score_hist.png"
    plots.plot_score_histograms(trials, hist, f"{exp.tag}, {set_name}")
    result.plot_files["score histograms"] = hist
    if report.asv is not None and report.tdcf_variant is not None and report.pooled.min_tdcf is not None:
        curve = tdcf_curve_from_det(det, report.asv, report.tdcf_variant)
        tdcf_png = plot_dir / f"{set_name}_tdcf.png"
        plots.plot_tdcf_curve(det, curve, tdcf_png, f"{exp.tag}, {set_name}: {report.tdcf_variant} t-DCF")
        result.plot_files["t-DCF against threshold"] = tdcf_png
    return result


def calibrate(exp: ExperimentResult, calibrate_on: str | None) -> None:
    """Fit the calibration on ``calibrate_on``, write it, and score every set's calibrated LLRs."""
    if calibrate_on is None:
        exp.calibration_note = "calibration not fitted (--calibrate-on none)"
        return
    fit_set = exp.sets.get(calibrate_on)
    if fit_set is None:
        exp.calibration_note = f"calibration not fitted: no {calibrate_on} scores"
        return
    trials = fit_set.trials
    exp.calibration = fit_calibration(
        trials.bonafide_scores(), trials.spoof_scores(), fitted_on=str(fit_set.score_file)
    )
    exp.calibration.write(exp.exp_dir / CALIBRATION_FILE)
    for result in exp.sets.values():
        llr = exp.calibration.apply(result.trials.scores)
        bona, spoof = llr[result.trials.is_bonafide], llr[~result.trials.is_bonafide]
        result.calibrated = {"act_dcf": act_dcf(bona, spoof), "cllr": cllr(bona, spoof)}


def run_stage5(
    exp_dirs: list[Path],
    data_root: Path,
    sets: list[str],
    out: Path,
    tdcf: str = "legacy",
    command: str | None = None,
    ci: CiOptions = CiOptions(),
    calibrate_on: str | None = "dev",
    aggregate_seeds: bool = False,
    seed_baseline: str | None = None,
    references: dict[str, dict[str, float]] | None = None,
) -> list[ExperimentResult]:
    """Score all experiments on all sets; write per-experiment and top-level RESULTS.md and plots.

    ``aggregate_seeds``: the directories are ``<tag>_s<seed>`` runs; the top-level file then also
    aggregates over seeds (``ssd.metrics.seeds``), with differences to ``seed_baseline`` (e.g.
    "vanilla") paired by seed when it is given, and ``seeds.json`` is written beside it.
    ``references`` ({name: {set: eer}}): reference rows of the top-level tables and their reading.
    """
    if not exp_dirs:
        raise ValueError("no experiment directories given")
    for exp_dir in exp_dirs:
        if not exp_dir.is_dir():
            raise ValueError(f"{exp_dir}: not an experiment directory")
        if aggregate_seeds:
            split_tag(exp_dir.name)
    env = Environment.collect(data_root, sets, tdcf, command, ci.describe(), calibrate_on)
    results = []
    for exp_dir in exp_dirs:
        config = next((p for p in (exp_dir / "config.yaml", exp_dir / FUSION_FILE) if p.is_file()), None)
        exp = ExperimentResult(exp_dir, config, _read_model_info(exp_dir))
        for set_name in sets:
            score_file = exp_dir / "scores" / f"{set_name}.txt"
            if not (data_root / set_name / "utt2label").is_file() and _unlabelled(score_file):
                exp.unlabelled[set_name] = score_file
                log.info("%s %s: no labels, scores only (%s)", exp.tag, set_name, score_file)
                continue
            result = score_set(exp, set_name, data_root / set_name, tdcf, ci)
            if result is None:
                exp.missing[set_name] = exp_dir / "scores" / f"{set_name}.txt"
                log.warning("%s: no %s scores (%s missing)", exp.tag, set_name, exp.missing[set_name])
            else:
                exp.sets[set_name] = result
                pooled = result.report.pooled
                tdcf_text = f"{pooled.min_tdcf:.4f}" if pooled.min_tdcf is not None else "not computed"
                log.info("%s %s: EER %.3f %%, min t-DCF %s", exp.tag, set_name, 100 * pooled.eer, tdcf_text)
        calibrate(exp, calibrate_on)
        for result in exp.sets.values():
            result.write_json(exp.tag, exp.calibration)
        with atomic_write(exp_dir / "RESULTS.md") as handle:
            handle.write(experiment_markdown(exp, env))
        results.append(exp)
    det_plots = {}
    for set_name in sets:
        curves = {exp.tag: exp.sets[set_name].det for exp in results if set_name in exp.sets}
        if curves:
            det_plots[set_name] = out.parent / f"det_{set_name}.png"
            plots.plot_det_curves(curves, det_plots[set_name], f"DET curves, {set_name}")
    summary = summary_markdown(results, env, sets, det_plots, out.parent, references)
    if aggregate_seeds:
        lines, data = seeds_summary(results, sets, seed_baseline)
        summary += "\n".join(lines) + "\n"
        with atomic_write(out.parent / "seeds.json") as handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
    with atomic_write(out) as handle:
        handle.write(summary)
    return results

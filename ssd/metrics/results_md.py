"""RESULTS.md writing, in the ESPnet style: the environment first, then one table per set.

The per-experiment file gives pooled and per-attack figures with the inputs they came from; the
top-level file compares all variants side by side so a reader can reproduce any row (git commit,
corpus, config paths, the command that wrote it).
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from ssd import provenance
from ssd.metrics.calibration import CALIBRATION_FILE
from ssd.metrics.reading import Entry, is_reference, reading_markdown
from ssd.metrics.report import TDCF_NAMES, Figures
from ssd.metrics.scorefiles import attack_sort_key

if TYPE_CHECKING:
    from ssd.results import ExperimentResult, SetResult

_GENERATED = "<!-- written by python -m ssd.bin.results (stage 5): rerun it rather than edit -->"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


@dataclass(frozen=True)
class Environment:
    """What a reader needs to reproduce the numbers: when, which code, which corpus, which tools."""

    date: str
    git_commit: str
    git_dirty: bool
    python: str
    torch: str
    numpy: str
    corpus: dict[str, str]
    tdcf: str
    command: str | None
    intervals: str | None = None
    calibrate_on: str | None = None

    @classmethod
    def collect(
        cls,
        data_root: Path,
        sets: list[str],
        tdcf: str,
        command: str | None = None,
        intervals: str | None = None,
        calibrate_on: str | None = None,
    ) -> Environment:
        git = provenance.git_commit()
        corpus = {
            name: provenance.corpus_info(data_root / name / provenance.CORPUS_FILE)["path"] or "unknown"
            for name in sets
        }
        return cls(
            date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
            git_commit=git["commit"] or "unknown (not a git checkout)",
            git_dirty=bool(git["dirty"]),
            python=platform.python_version(),
            torch=_version("torch"),
            numpy=_version("numpy"),
            corpus=corpus,
            tdcf=tdcf,
            command=command,
            intervals=intervals,
            calibrate_on=calibrate_on,
        )

    def markdown(self) -> list[str]:
        commit = f"`{self.git_commit}`" + (" (with uncommitted changes)" if self.git_dirty else "")
        lines = [
            f"- date: `{self.date}`",
            f"- git commit: {commit}",
            f"- python version: `{self.python}`",
            f"- torch version: `{self.torch}`, numpy version: `{self.numpy}`",
        ]
        lines += [f"- corpus ({name}): `{path}`" for name, path in self.corpus.items()]
        lines.append(
            f"- metric: EER and {TDCF_NAMES[self.tdcf]} (t-DCF only where the set has ASV scores), the "
            "organisers' DET walk; ASVspoof 5 actDCF (scores taken as LLRs) and Cllr (bits)"
        )
        lines.append(f"- intervals: {self.intervals}" if self.intervals else "- intervals: none")
        if self.calibrate_on:
            lines.append(
                f"- calibration: prior-weighted logistic regression fitted on {self.calibrate_on} (effective "
                f"bona fide prior 0.655), applied to every set; '(cal.)' columns; on {self.calibrate_on} "
                "itself they are optimistic"
            )
        else:
            lines.append("- calibration: none")
        if self.command:
            lines.append(f"- command: `{self.command}`")
        return lines


def _pct(value: float) -> str:
    return f"{100 * value:.3f}"


def _tdcf(value: float | None) -> str:
    return f"{value:.4f}" if value is not None else "n/a"


def _rel(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


FIGURE_HEADER = [
    "EER (%)", "min t-DCF", "minDCF", "actDCF", "actDCF (cal.)", "Cllr", "Cllr (cal.)", "#bona fide",
    "#spoof"
]  # fmt: skip


def _num(value: float | None) -> str:
    return f"{value:.4f}" if value is not None else "n/a"


def _figures_row(label: str, fig: Figures) -> list[str]:
    """Per-attack row: no intervals, no calibrated columns (the calibration is fitted on pooled trials)."""
    return [label, _pct(fig.eer), _tdcf(fig.min_tdcf), _num(fig.min_dcf), _num(fig.act_dcf), "-",
            _num(fig.cllr), "-",
            str(fig.n_bonafide), str(fig.n_spoof)]  # fmt: skip


def _pooled_row(label: str, result: SetResult) -> list[str]:
    """Pooled row: EER and min t-DCF with their intervals, actDCF and Cllr before and after calibration."""
    report = result.report
    fig, ci = report.pooled, report.intervals
    eer = _pct(fig.eer) + (f" {ci.eer.text(100, 3)}" if ci else "")
    tdcf = _tdcf(fig.min_tdcf) + (f" {ci.min_tdcf.text(1, 4)}" if ci and ci.min_tdcf else "")
    cal = result.calibrated or {}
    return [label, eer, tdcf, _num(fig.min_dcf), _num(fig.act_dcf), _num(cal.get("act_dcf")), _num(fig.cllr),
            _num(cal.get("cllr")), str(fig.n_bonafide), str(fig.n_spoof)]  # fmt: skip


def experiment_markdown(exp: ExperimentResult, env: Environment) -> str:
    """``exp/<tag>/RESULTS.md``: pooled and per-attack tables for every set, with inputs and plots."""
    home = exp.exp_dir
    lines = [f"# {exp.tag}", "", _GENERATED, ""]
    lines.append(f"- config: `{exp.config}`" if exp.config else "- config: none found (no config.yaml)")
    params = exp.num_parameters
    lines.append(f"- parameters: {params:,}" if params is not None else "- parameters: unknown")
    modules = exp.model_info.get("parameters")
    if isinstance(modules, dict) and modules:
        counts = (f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in modules.items())
        lines.append("- parameters per module: " + ", ".join(counts))
    if (home / "run.sh").is_file():
        lines.append(f"- training command: `{home / 'run.sh'}`")
    lines += ["", "## Environments", "", *env.markdown()]
    for set_name, result in exp.sets.items():
        report = result.report
        lines += ["", f"## {set_name}", ""]
        lines.append(f"- CM scores: `{result.score_file}` (figures also in `{_rel(result.json_file, home)}`)")
        truth = f"`{result.protocol}`" if result.protocol else "the score file's own labels"
        lines.append(f"- protocol: {truth}")
        lines.append(f"- ASV scores: `{result.asv_file}`" if result.asv_file else "- ASV scores: none")
        lines += [""] + _table(["set", *FIGURE_HEADER], [_pooled_row(set_name, result)])
        if report.per_attack:
            rows = [_figures_row(name, fig) for name, fig in report.per_attack.items()]
            lines += [""] + _table(["attack", *FIGURE_HEADER], rows)
        if report.inverted_warning:
            lines += ["", f"**WARNING: {report.inverted_warning}**"]
        if report.notes:
            lines += ["", *(f"- note: {note}" for note in report.notes)]
        for what, png in result.plot_files.items():
            lines += ["", f"![{what}, {set_name}]({_rel(png, home)})"]
    for set_name, path in exp.missing.items():
        lines += ["", f"## {set_name}", "", f"not scored: `{path}` does not exist"]
    for set_name, path in exp.unlabelled.items():
        lines += ["", f"## {set_name}", "", f"scores only: the set has no labels (`{_rel(path, home)}`)"]
    lines += ["", "## Calibration", ""]
    if exp.calibration is not None:
        cal = exp.calibration
        lines.append(
            f"- `{CALIBRATION_FILE}`: llr = {cal.scale:.6g} * score + {cal.offset:.6g}, fitted on "
            f"`{cal.fitted_on}` ({cal.n_bonafide} bona fide, {cal.n_spoof} spoof), prior {cal.prior:.4f}"
        )
    else:
        lines.append(f"- {exp.calibration_note}")
    return "\n".join(lines) + "\n"


def _entry(tag: str, result: SetResult) -> Entry:
    ci = result.report.intervals
    return Entry(tag, result.report.pooled.eer, ci.eer.low if ci else None, ci.eer.high if ci else None,
                 reference=is_reference(tag))


def summary_markdown(
    results: list[ExperimentResult],
    env: Environment,
    sets: list[str],
    det_plots: dict[str, Path],
    out_dir: Path,
    references: dict[str, dict[str, float]] | None = None,
) -> str:
    """Top-level RESULTS.md: every variant side by side per set, pooled and per attack, the reference
    EERs of ``references`` ({name: {set: eer}}, e.g. the corpus's trivial baselines) as extra rows, and
    a plain-language reading of the pooled tables."""
    references = references or {}
    readings: dict[str, list[Entry]] = {}
    lines = ["# RESULTS", "", _GENERATED]
    lines += ["", "## Environments", "", *env.markdown(), "", "## Variants", ""]
    rows = []
    for exp in results:
        params = f"{exp.num_parameters:,}" if exp.num_parameters is not None else "unknown"
        config = f"`{exp.config}`" if exp.config else "none"
        rows.append([exp.tag, config, params, f"[RESULTS.md]({_rel(exp.exp_dir / 'RESULTS.md', out_dir)})"])
    lines += _table(["variant", "config", "parameters", "details"], rows)
    for set_name in sets:
        scored = [(exp.tag, exp.sets[set_name]) for exp in results if set_name in exp.sets]
        lines += ["", f"## {set_name}", ""]
        if not scored:
            lines.append("no variant has scores for this set")
            continue
        rows = [_pooled_row(tag, result) for tag, result in scored]
        refs = {name: per[set_name] for name, per in references.items() if set_name in per}
        blank = ["-"] * (len(FIGURE_HEADER) - 1)
        rows += [[f"{name} (reference)", _pct(eer), *blank] for name, eer in refs.items()]
        lines += _table(["variant", *FIGURE_HEADER], rows)
        readings[set_name] = [_entry(tag, result) for tag, result in scored]
        readings[set_name] += [Entry(name, eer, reference=True) for name, eer in refs.items()]
        warned = [tag for tag, result in scored if result.report.inverted_warning]
        if warned:
            lines += ["", f"**WARNING: pooled EER above 50 % for {', '.join(warned)}: inverted score sign?**"]
        if set_name in det_plots:
            lines += ["", f"![DET curves, {set_name}]({_rel(det_plots[set_name], out_dir)})"]
        attacks = sorted({a for _, r in scored for a in r.report.per_attack}, key=attack_sort_key)
        if not attacks:
            continue
        tables = [("EER (%)", lambda f: _pct(f.eer))]
        if any(fig.min_tdcf is not None for _, r in scored for fig in r.report.per_attack.values()):
            tables.append(("min t-DCF", lambda f: _tdcf(f.min_tdcf)))
        for title, value in tables:
            rows = []
            for tag, result in scored:
                per_attack = result.report.per_attack
                rows.append([tag] + [value(per_attack[a]) if a in per_attack else "-" for a in attacks])
            lines += ["", f"### {set_name}: {title} per attack", ""] + _table(["variant", *attacks], rows)
    lines += reading_markdown(readings)
    missing = [(exp, set_name, path) for exp in results for set_name, path in exp.missing.items()]
    if missing:
        lines += ["", "## Missing scores", ""]
        lines += [f"- {exp.tag}, {set_name}: `{path}` does not exist" for exp, set_name, path in missing]
    unlabelled = [(exp, set_name, path) for exp in results for set_name, path in exp.unlabelled.items()]
    if unlabelled:
        lines += ["", "## Sets without labels (scores only)", ""]
        lines += [f"- {exp.tag}, {set_name}: `{path}`" for exp, set_name, path in unlabelled]
    return "\n".join(lines) + "\n"

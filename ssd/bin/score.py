"""ssd-score: pooled and per-attack EER, t-DCF and ASVspoof 5 metrics of any CM score file."""

from __future__ import annotations

import argparse
import json
import sys

from ssd.metrics.bootstrap import DEFAULT_REPLICATES, DEFAULT_SEED
from ssd.metrics.eer import DET_POINTS
from ssd.metrics.report import METRIC_SETS, add_intervals, add_sasv, evaluate, format_report
from ssd.metrics.scorefiles import (
    make_trials,
    read_asv_scores,
    read_cm_scores,
    read_keyed_trial_scores,
    read_protocol,
)
from ssd.metrics.tdcf import TDCF_VARIANTS
from ssd.utils.fileio import atomic_write


def get_parser() -> argparse.ArgumentParser:
    """Options of ``ssd-score``; the defaults give the official ASVspoof 2019 LA figures."""
    parser = argparse.ArgumentParser(
        prog="ssd-score",
        description="EER and min t-DCF (and with --metrics asvspoof5 minDCF, actDCF, Cllr, a-DCF, t-EER), "
        "pooled and per attack, of a CM score file. Scores are taken as higher = bona fide unless "
        "--higher-is-spoof is given.",
        epilog="example: ssd-score --cm-scores exp/vanilla/scores/eval.txt --asv-scores "
        "data/eval/asv_scores.txt --protocol data/eval --json exp/vanilla/scores/eval.json",
    )
    parser.add_argument("--cm-scores", required=True, metavar="FILE",
                        help="'utt attack key score' lines (attack '-' or 'A00' for bona fide), "
                        "or 'utt score' with --protocol")
    parser.add_argument("--asv-scores", metavar="FILE",
                        help="the organisers' ASV scores of the same set, 'source key score'; "
                        "without it only the EER is computed")
    parser.add_argument("--protocol", metavar="FILE_OR_DIR",
                        help="ground truth: an official 'speaker utt - attack key' protocol or a "
                        "data dir with utt2label and utt2attack; every protocol trial must be scored")
    parser.add_argument("--higher-is-spoof", action="store_true",
                        help="the file's scores are higher for spoofs (e.g. AIR-ASVspoof "
                        "OC-softmax): negate them")
    parser.add_argument("--tdcf", choices=TDCF_VARIANTS, default="legacy",
                        help="legacy: ASVspoof 2019 normalised t-DCF; revised: the ASVspoof 2021 form "
                        "(default: %(default)s)")
    parser.add_argument("--det-points", choices=DET_POINTS, default="official",
                        help="official: the organisers' walk, one DET point per trial, bona fide first "
                        "among tied scores (published figures); distinct: one point per distinct score, "
                        "never splitting ties, which differs only on files with tied bona fide/spoof "
                        "scores (default: %(default)s)")
    parser.add_argument("--metrics", choices=METRIC_SETS, default="asvspoof2019",
                        help="asvspoof5 adds minDCF, actDCF (scores taken as LLRs), Cllr, and a-DCF / "
                        "t-EER when their inputs are given (default: %(default)s)")
    parser.add_argument("--sasv-scores", metavar="FILE",
                        help="with --metrics asvspoof5: one SASV score per trial, 'utt score key' (key "
                        "target, nontarget or spoof), for the a-DCF")
    parser.add_argument("--asv-trial-scores", metavar="FILE",
                        help="with --metrics asvspoof5: ASV scores of trials whose test utterances are "
                        "in --cm-scores, 'utt score key', for the t-EER")
    parser.add_argument("--ci", type=float, metavar="LEVEL",
                        help="also give bootstrap intervals (e.g. 0.95) of the pooled EER and min t-DCF")
    parser.add_argument("--ci-replicates", type=int, default=DEFAULT_REPLICATES, metavar="N",
                        help="bootstrap replicates (default: %(default)s)")
    parser.add_argument("--ci-seed", type=int, default=DEFAULT_SEED, metavar="SEED",
                        help="bootstrap seed (default: %(default)s)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON (rates as fractions)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Score one file; exit status 1 with the offending file and line named on any data error."""
    parser = get_parser()
    args = parser.parse_args(argv)
    if args.metrics != "asvspoof5" and (args.sasv_scores or args.asv_trial_scores):
        parser.error("--sasv-scores and --asv-trial-scores need --metrics asvspoof5")
    try:
        cm = read_cm_scores(args.cm_scores)
        protocol = read_protocol(args.protocol) if args.protocol else None
        trials = make_trials(cm, protocol, higher_is_spoof=args.higher_is_spoof)
        asv = read_asv_scores(args.asv_scores) if args.asv_scores else None
        report = evaluate(trials, asv, tdcf=args.tdcf, points=args.det_points, metrics=args.metrics)
        if args.metrics == "asvspoof5":
            sasv = read_keyed_trial_scores(args.sasv_scores) if args.sasv_scores else None
            asv_trials = read_keyed_trial_scores(args.asv_trial_scores) if args.asv_trial_scores else None
            report = add_sasv(report, trials, cm.utts, sasv, asv_trials)
        if args.ci is not None:
            report = add_intervals(report, trials, args.ci, args.ci_replicates, args.ci_seed)
    except (ValueError, OSError) as err:
        print(f"ssd-score: error: {err}", file=sys.stderr)
        return 1
    print(format_report(report))
    warning = report.inverted_warning
    if warning:
        print(f"\n{'!' * 78}\nWARNING: {warning}\n{'!' * 78}", file=sys.stderr)
    if args.json:
        summary = report.to_json()
        summary["higher_is_spoof"] = args.higher_is_spoof
        summary["protocol"] = args.protocol
        with atomic_write(args.json) as handle:
            json.dump(summary, handle, indent=2)
            handle.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

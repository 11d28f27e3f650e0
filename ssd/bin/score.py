"""ssd-score: pooled and per-attack EER and min t-DCF of any CM score file (ours or another system's)."""

from __future__ import annotations

import argparse
import json
import sys

from ssd.metrics.report import evaluate, format_report
from ssd.metrics.scorefiles import make_trials, read_asv_scores, read_cm_scores, read_protocol
from ssd.metrics.tdcf import TDCF_VARIANTS
from ssd.utils.fileio import atomic_write


def get_parser() -> argparse.ArgumentParser:
    """Options of ``ssd-score``; the defaults give the official ASVspoof 2019 LA figures."""
    parser = argparse.ArgumentParser(
        prog="ssd-score",
        description="EER and min t-DCF, pooled and per attack, of a CM score file. Scores are taken as "
        "higher = bona fide unless --higher-is-spoof is given.",
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
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON (EER as a fraction)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Score one file; exit status 1 with the offending file and line named on any data error."""
    args = get_parser().parse_args(argv)
    try:
        cm = read_cm_scores(args.cm_scores)
        protocol = read_protocol(args.protocol) if args.protocol else None
        trials = make_trials(cm, protocol, higher_is_spoof=args.higher_is_spoof)
        asv = read_asv_scores(args.asv_scores) if args.asv_scores else None
        report = evaluate(trials, asv, tdcf=args.tdcf)
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

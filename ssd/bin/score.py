"""ssd-score: pooled and per-attack EER, t-DCF and ASVspoof 5 metrics of any CM score file."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace

from ssd.data.datadir import read_kv
from ssd.metrics.bootstrap import DEFAULT_REPLICATES, DEFAULT_SEED
from ssd.metrics.breakdown import breakdown
from ssd.metrics.conditions import DEFAULT_SUBSET, KEY_FORMATS, SUBSETS, add_conditions, asv_2021, trials_2021
from ssd.metrics.eer import DET_POINTS
from ssd.metrics.report import METRIC_SETS, add_intervals, add_sasv, evaluate, format_report
from ssd.metrics.scorefiles import (
    AsvScores,
    Protocol,
    ScoreFileError,
    make_trials,
    protocol_from_columns,
    read_asv_scores,
    read_cm_scores,
    read_keyed_trial_scores,
    read_protocol,
)
from ssd.metrics.tdcf import TDCF_VARIANTS
from ssd.utils.fileio import atomic_write

LIST_FORMATS = ("itw", "list", "folders")  # read by ssd.data.eval_protocols, one label per trial
PROTOCOL_FORMATS = ("asvspoof2019", *KEY_FORMATS, *LIST_FORMATS, "auto")


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
    parser.add_argument("--protocol-format", choices=PROTOCOL_FORMATS, default="asvspoof2019",
                        help="asvspoof2019: the official 2019 protocol or a data dir; la2021 / df2021: the "
                        "ASVspoof 2021 keys (keys/LA/CM/trial_metadata.txt, keys/DF/CM/trial_metadata.txt), "
                        "whose scores may be 'utt score' lines; itw: In-the-Wild's meta.csv; list: a "
                        "'path,label[,attack[,speaker]]' CSV/TSV; folders: bonafide/ spoof/[<attack>/] "
                        "(utterance ids from the paths, as ssd.bin.prepare_eval writes them); auto: "
                        "detected from the file (default: %(default)s)")
    parser.add_argument("--subset", choices=SUBSETS,
                        help=f"with 2021 keys: the subset scored, as the organisers' phases (default: "
                        f"{DEFAULT_SUBSET}, the published one); scores of other subsets are set aside")
    parser.add_argument("--per-condition", action="store_true",
                        help="with 2021 keys: also per condition (LA C1-C7: the codec of the channel; DF "
                        "C1-C9: compression) and on the organisers' grid of attack (DF: vocoder family) x "
                        "condition; the ASV threshold and t-DCF costs are fixed per condition, as in the "
                        "2021 evaluation package")
    parser.add_argument("--asv-keys", metavar="FILE",
                        help="with --protocol-format la2021: the organisers' ASV keys "
                        "(keys/LA/ASV/trial_metadata.txt); --asv-scores is then their 'model trial score' "
                        "file (keys/LA/ASV/ASVTorch_Kaldi/score.txt); needed for the per-condition t-DCF")
    parser.add_argument("--higher-is-spoof", action="store_true",
                        help="the file's scores are higher for spoofs (e.g. AIR-ASVspoof "
                        "OC-softmax): negate them")
    parser.add_argument("--tdcf", choices=TDCF_VARIANTS,
                        help="legacy: ASVspoof 2019 normalised t-DCF; revised: the ASVspoof 2021 form "
                        "(default: legacy, revised with 2021 keys)")
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
                        help="also give bootstrap intervals (e.g. 0.95) of the pooled EER and min t-DCF; "
                        "this takes longer than the rest (about 1 s per 1,000 replicates of 71k trials)")
    parser.add_argument("--ci-replicates", type=int, default=DEFAULT_REPLICATES, metavar="N",
                        help="bootstrap replicates (default: %(default)s)")
    parser.add_argument("--ci-seed", type=int, default=DEFAULT_SEED, metavar="SEED",
                        help="bootstrap seed (default: %(default)s)")
    parser.add_argument("--breakdown", metavar="TABLE",
                        help="a 'utt value' table (e.g. data/eval/utt2spk for In-the-Wild's speakers): EER "
                        "per value, each value's bona fide trials against its spoofs")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON (rates as fractions)")
    return parser


def _read_asv_scores(path: str, keys_format: str | None) -> AsvScores:
    """The 2019 'source key score' ASV file; with 2021 keys, a failure hints at --asv-keys."""
    try:
        return read_asv_scores(path)
    except ScoreFileError as err:
        if keys_format != "la2021":
            raise
        hint = "the organisers' 2021 'model trial score' file needs --asv-keys"
        raise ScoreFileError(f"{err} ({hint})") from None


def _list_protocol(path: str, fmt: str) -> Protocol:
    """In-the-Wild, list or folder labels as the metrics' protocol (each trial labelled, attack or ``-``)."""
    from ssd.data import eval_protocols

    labels = eval_protocols.read(path, fmt)
    if not labels.labelled:
        raise ScoreFileError(f"{path}: the {fmt} protocol has trials without a label (e.g. "
                             f"{labels.utts[labels.labels.index(None)]}): no metric without ground truth")
    is_bona = [label == eval_protocols.BONAFIDE for label in labels.labels]
    return protocol_from_columns(labels.path, labels.utts, is_bona, labels.attacks, labels.where)


def _detected(parser: argparse.ArgumentParser, protocol: str | None) -> str:
    """The --protocol-format of ``auto``: what the protocol file (or folder) looks like."""
    from ssd.data import eval_protocols

    if not protocol:
        parser.error("--protocol-format auto needs --protocol")
    try:
        found = eval_protocols.detect_format(protocol)
    except ValueError as err:
        parser.error(str(err))
    found = {"datadir": "asvspoof2019"}.get(found, found)
    if found not in PROTOCOL_FORMATS:
        parser.error(f"--protocol {protocol} looks like {found}, not a CM protocol")
    return found


def _check_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse option combinations that would be silently ignored."""
    if args.metrics != "asvspoof5" and (args.sasv_scores or args.asv_trial_scores):
        parser.error("--sasv-scores and --asv-trial-scores need --metrics asvspoof5")
    keys = args.protocol_format in KEY_FORMATS
    if args.protocol_format in LIST_FORMATS and not args.protocol:
        parser.error(f"--protocol-format {args.protocol_format} needs --protocol")
    if keys and not args.protocol:
        parser.error(f"--protocol-format {args.protocol_format} needs --protocol (the 2021 CM keys)")
    if not keys and (args.per_condition or args.subset):
        parser.error("--per-condition and --subset need 2021 keys: --protocol-format la2021 or df2021")
    if args.asv_keys and args.protocol_format != "la2021":
        parser.error("--asv-keys needs --protocol-format la2021 (the DF track has no ASV keys)")
    if args.asv_keys and not args.asv_scores:
        parser.error("--asv-keys needs --asv-scores (the organisers' 'model trial score' file)")


def main(argv: list[str] | None = None) -> int:
    """Score one file; exit status 1 with the offending file and line named on any data error."""
    parser = get_parser()
    args = parser.parse_args(argv)
    if args.protocol_format == "auto":
        args.protocol_format = _detected(parser, args.protocol)
    _check_options(parser, args)
    protocol_format = args.protocol_format
    keys_format = protocol_format if protocol_format in KEY_FORMATS else None
    tdcf = args.tdcf or ("revised" if keys_format else "legacy")
    subset = args.subset or DEFAULT_SUBSET
    try:
        cm = read_cm_scores(args.cm_scores)
        conditions = asv_conditions = None
        notes: list[str] = []
        if keys_format:
            from ssd.data import eval_protocols  # only here: the 2019 path starts faster without it

            keys = eval_protocols.read(args.protocol, keys_format)
            trials, conditions, cm, notes = trials_2021(cm, keys, subset, args.higher_is_spoof)
        elif protocol_format in LIST_FORMATS:
            trials = make_trials(cm, _list_protocol(args.protocol, protocol_format),
                                 higher_is_spoof=args.higher_is_spoof)
        else:
            protocol = read_protocol(args.protocol) if args.protocol else None
            trials = make_trials(cm, protocol, higher_is_spoof=args.higher_is_spoof)
        if args.asv_keys:
            asv, asv_conditions = asv_2021(args.asv_keys, args.asv_scores, conditions, subset)
        else:
            asv = _read_asv_scores(args.asv_scores, keys_format) if args.asv_scores else None
        report = evaluate(trials, asv, tdcf=tdcf, points=args.det_points, metrics=args.metrics)
        report = replace(report, notes=notes + report.notes)
        if args.per_condition:
            reason = None
            if asv_conditions is None:
                reason = ("the DF track has no ASV keys" if keys_format == "df2021" else
                          "the ASV trials' conditions come from the 2021 ASV keys (--asv-keys with the "
                          "organisers' score.txt as --asv-scores)")
            report = add_conditions(report, trials, conditions, asv_conditions, reason)
        if args.metrics == "asvspoof5":
            sasv = read_keyed_trial_scores(args.sasv_scores) if args.sasv_scores else None
            asv_trials = read_keyed_trial_scores(args.asv_trial_scores) if args.asv_trial_scores else None
            report = add_sasv(report, trials, cm.utts, sasv, asv_trials)
        if args.ci is not None:
            report = add_intervals(report, trials, args.ci, args.ci_replicates, args.ci_seed)
        by = None
        if args.breakdown:
            by = breakdown(trials, cm.utts, read_kv(args.breakdown), args.breakdown, args.det_points,
                           args.metrics)
    except (ValueError, OSError) as err:
        print(f"ssd-score: error: {err}", file=sys.stderr)
        return 1
    print(format_report(report))
    if by is not None:
        print(f"\n{by.format()}")
    warning = report.inverted_warning
    if warning:
        print(f"\n{'!' * 78}\nWARNING: {warning}\n{'!' * 78}", file=sys.stderr)
    if args.json:
        summary = report.to_json()
        summary["higher_is_spoof"] = args.higher_is_spoof
        summary["protocol"] = args.protocol
        if by is not None:
            summary["breakdown"] = by.to_json()
        if keys_format:
            summary["protocol_format"] = keys_format
            summary["subset"] = subset
        with atomic_write(args.json) as handle:
            json.dump(summary, handle, indent=2)
            handle.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

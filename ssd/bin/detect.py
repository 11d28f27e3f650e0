"""ssd-detect: is this recording bona fide or synthetic? Score audio files with a trained detector."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

import torch

from ssd.data.datadir import read_scp
from ssd.detector import Detection, Detector, audio_files
from ssd.frontend.audio import MIN_SECONDS, PIPES_ENV, TIMEOUT_ENV, AudioError
from ssd.metrics.scorefiles import ScoreFileError
from ssd.packing import PackError

TSV_COLUMNS = ("name", "score", "decision", "threshold", "duration", "fs", "channels", "llr",
               "posterior_bonafide")


def get_parser() -> argparse.ArgumentParser:
    """Options of ``ssd-detect``."""
    parser = argparse.ArgumentParser(
        prog="ssd-detect",
        description="Print, per input, the detector's score (higher = more bona fide), its decision "
        "(bonafide if score >= threshold, else spoof), the threshold and the duration. Any format "
        "libsndfile reads; stereo is averaged to mono and other sampling rates are resampled (polyphase) "
        f"to the model's rate. Inputs shorter than {MIN_SECONDS} s, truncated, non-finite or beyond full "
        "scale are errors naming the input (exit status 1). A model without a known threshold prints "
        "'-' (JSON null) as the decision.",
        epilog="examples: ssd-detect clip.flac --model exp/ocsoftmax_all/packed/ocsoftmax_all.zip | "
        "ssd-detect recordings/ --model exp/ocsoftmax_all --json | "
        "ssd-detect --wav-scp data/eval/wav.scp --model M.zip --tsv > eval.tsv",
    )
    parser.add_argument("inputs", nargs="*", help="audio files and/or directories (searched recursively); "
                        "always opened as files, never run, whatever their names")
    parser.add_argument("--wav-scp", metavar="FILE", help="also score a Kaldi wav.scp ('utt path' or "
                        "'utt cmd |': a pipe entry is a trusted command, run by bash); utterance ids name "
                        "the results")
    parser.add_argument("--no-pipes", action="store_true", help="refuse wav.scp pipe entries (as "
                        f"{PIPES_ENV}=0); every pipe is killed after {TIMEOUT_ENV} seconds (default 600)")
    parser.add_argument("--model", required=True,
                        help="packed archive (ssd-pack, stage 6) or an experiment directory exp/<tag>")
    parser.add_argument("--checkpoint", default="best.pt",
                        help="with an experiment directory: the checkpoint to use (default: %(default)s)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true",
                        help="print one JSON document: model, threshold, results")
    output.add_argument("--tsv", action="store_true", help=f"print tab-separated {', '.join(TSV_COLUMNS)}")
    parser.add_argument("--threshold", help="decision threshold: a number (needs no dev scores), or a "
                        "named threshold of the model (dev_eer, dev_min_tdcf); default: the model's "
                        "(dev_eer), none when it was made without dev scores")
    parser.add_argument("--prior-spoof", type=float, metavar="P",
                        help="also print the posterior probability of bona fide under this prior of spoofs "
                        "(0 < P < 1), from the calibrated LLR; needs a model packed with stage 5's "
                        "calibration (the LLR is printed whenever the model has one)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    parser.add_argument("--batch-size", type=int, help="windows per forward pass (default: the model's "
                        "eval.batch_size)")
    parser.add_argument("--num-threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    return parser


def collect_inputs(paths: Sequence[str], wav_scp: str | None) -> list[str | tuple[str, str]]:
    """Every input: paths of files as given and of directories' audio files (read as files, never
    run), then (utterance, entry) pairs of the wav.scp."""
    items: list[str | tuple[str, str]] = []
    for path in paths:
        if os.path.isdir(path):
            found = audio_files(path)
            if not found:
                raise ValueError(f"{path}: directory holds no audio files")
            items += found
        else:
            items.append(path)
    if wav_scp is not None:
        items += read_scp(wav_scp)
    return items


def _number(value: float | None, spec: str) -> str:
    """A number in ``spec``, or ``-`` where there is none (no known threshold)."""
    return "-" if value is None else format(value, spec)


def format_plain(results: list[Detection]) -> str:
    """Aligned human-readable columns."""
    width = max([len("name")] + [len(r.name) for r in results])
    llr = any(r.llr is not None for r in results)
    posterior = any(r.posterior_bonafide is not None for r in results)
    lines = [f"{'name':<{width}}  {'score':>11}  {'decision':<8}  {'threshold':>11}  {'duration':>9}"
             + (f"  {'LLR':>9}" if llr else "") + (f"  {'P(bonafide)':>11}" if posterior else "")]
    for r in results:
        if r.error is None:
            lines.append(f"{r.name:<{width}}  {r.score:>11.6f}  {r.decision or '-':<8}  "
                         f"{_number(r.threshold, '.6f'):>11}  {r.duration:>8.2f}s"
                         + (f"  {_number(r.llr, '.4f'):>9}" if llr else "")
                         + (f"  {_number(r.posterior_bonafide, '.4f'):>11}" if posterior else ""))
    return "\n".join(lines)


def format_tsv(results: list[Detection]) -> str:
    """Header plus one tab-separated row per scored input (scores with 9 significant digits)."""
    rows = ["\t".join(TSV_COLUMNS)]
    for r in results:
        if r.error is None:
            rows.append("\t".join([r.name, f"{r.score:.9g}", r.decision or "-", _number(r.threshold, ".9g"),
                                   f"{r.duration:.4f}", str(r.fs), str(r.channels), _number(r.llr, ".9g"),
                                   _number(r.posterior_bonafide, ".9g")]))
    return "\n".join(rows)


def format_json(results: list[Detection], detector: Detector, model: str) -> str:
    """The model, its threshold and every result (failed inputs carry ``error``; no threshold: null)."""
    doc = {
        "model": {"path": model, "tag": detector.tag, "fs": detector.fs,
                  "policy": detector.policy, "window": detector.window, "hop": detector.hop,
                  "unit": detector.frontend.unit},
        "threshold": {"name": detector.threshold_name, "value": detector.threshold,
                      "rule": "bonafide if score >= threshold"},
        "calibration": None if detector.calibration is None else {
            **detector.calibration.to_json(), "prior_spoof": detector.prior_spoof},
        "results": [r.to_dict() for r in results],
    }
    return json.dumps(doc, indent=2, allow_nan=False)  # a NaN would not be JSON; scores are checked


def main(argv: Sequence[str] | None = None) -> int:
    """Score every input; exit status 1 when any input could not be scored (the others are still printed)."""
    parser = get_parser()
    args = parser.parse_args(argv)
    if not args.inputs and args.wav_scp is None:
        parser.error("give audio files, directories or --wav-scp")
    if args.batch_size is not None and args.batch_size < 1:
        parser.error("--batch-size must be positive")
    if args.num_threads > 0:
        torch.set_num_threads(args.num_threads)
    try:
        items = collect_inputs(args.inputs, args.wav_scp)
        experiment = {"checkpoint": args.checkpoint} if os.path.isdir(args.model) else {}
        detector = Detector.load(args.model, device=args.device, **experiment)
        if args.threshold is not None:
            detector.use_threshold(args.threshold)
        if args.prior_spoof is not None:
            detector.use_prior(args.prior_spoof)
        if detector.threshold is None:
            remedy = ("import it again with --dev-scores" if detector.manifest.get("imported") else
                      "run stage 4 on the dev set (and ssd-pack)")
            print(f"ssd-detect: note: {args.model} has no known decision threshold (no dev scores), so "
                  f"decisions are '-'; pass --threshold NUMBER, or {remedy} to get the dev EER threshold",
                  file=sys.stderr)
        results = detector.score_files(items, batch_size=args.batch_size, skip_errors=True,
                                       progress=not args.no_progress and len(items) > 1,
                                       pipes=False if args.no_pipes else None)
    except (PackError, ScoreFileError, AudioError, ValueError, OSError) as err:
        print(f"ssd-detect: error: {err}", file=sys.stderr)
        return 1
    for r in results:
        if r.error is not None:
            print(f"ssd-detect: error: {r.error}", file=sys.stderr)
    if args.json:
        print(format_json(results, detector, args.model))
    elif args.tsv:
        print(format_tsv(results))
    else:
        print(format_plain(results))
    return 1 if any(r.error is not None for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())

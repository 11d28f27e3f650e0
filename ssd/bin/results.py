"""Stage 5: score every experiment on dev/eval and write RESULTS.md files and plots.

python -m ssd.bin.results --exp-dirs exp/A exp/B --data-root data --sets dev eval --out RESULTS.md
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

from ssd.metrics.bootstrap import DEFAULT_REPLICATES, DEFAULT_SEED
from ssd.metrics.reading import read_references
from ssd.metrics.tdcf import TDCF_VARIANTS
from ssd.results import CiOptions, run_stage5


def get_parser() -> argparse.ArgumentParser:
    """Options of the stage-5 aggregator."""
    parser = argparse.ArgumentParser(
        prog="python -m ssd.bin.results",
        description="Score exp/<tag>/scores/<set>.txt of every experiment against <data-root>/<set> "
        "(utt2label, utt2attack, asv_scores.txt) and write exp/<tag>/RESULTS.md, scores/<set>.json, plots, "
        "and a top-level RESULTS.md comparing the variants.",
    )
    parser.add_argument("--exp-dirs", nargs="+", type=Path, required=True, metavar="DIR",
                        help="experiment directories, one per variant")
    parser.add_argument("--data-root", type=Path, required=True, metavar="DIR",
                        help="holds one Kaldi data dir per set (e.g. data/dev, data/eval)")
    parser.add_argument("--sets", nargs="+", default=["dev", "eval"],
                        help="sets to score (default: dev eval)")
    parser.add_argument("--out", type=Path, default=Path("RESULTS.md"),
                        help="top-level RESULTS.md; DET plots go beside it (default: %(default)s)")
    parser.add_argument("--tdcf", choices=TDCF_VARIANTS, default="legacy",
                        help="legacy: ASVspoof 2019 t-DCF; revised: ASVspoof 2021 form "
                        "(default: %(default)s)")
    parser.add_argument("--ci", type=float, default=0.95, metavar="LEVEL",
                        help="bootstrap interval level of the pooled EER and min t-DCF; 0 for none "
                        "(default: %(default)s)")
    parser.add_argument("--ci-replicates", type=int, default=DEFAULT_REPLICATES, metavar="N",
                        help="bootstrap replicates (default: %(default)s)")
    parser.add_argument("--ci-seed", type=int, default=DEFAULT_SEED, metavar="SEED",
                        help="bootstrap seed (default: %(default)s)")
    parser.add_argument("--calibrate-on", default="dev", metavar="SET",
                        help="set to fit the score calibration on, written to exp/<tag>/calibration.json "
                        "and applied to every set; 'none' for no calibration (default: %(default)s)")
    parser.add_argument("--aggregate-seeds", action="store_true",
                        help="the experiment dirs are <tag>_s<seed> runs: add mean +- std over seeds and "
                        "paired differences to --baseline to RESULTS.md, and write seeds.json beside it")
    parser.add_argument("--baseline", default="vanilla", metavar="TAG",
                        help="variant the others are compared with under --aggregate-seeds; 'none': "
                        "means and deviations only (default: %(default)s)")
    parser.add_argument("--references", type=Path, default=None, metavar="JSON",
                        help="reference EERs shown as extra rows and in the reading of the table, "
                        "{name: {set: eer}} (the mini corpus's trivial baselines: data/references.json)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run stage 5; exit status 1 naming the bad file on any data error."""
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s")
    command = shlex.join(["python", "-m", "ssd.bin.results", *(sys.argv[1:] if argv is None else argv)])
    try:
        ci = CiOptions(args.ci or None, args.ci_replicates, args.ci_seed)
        calibrate_on = None if args.calibrate_on == "none" else args.calibrate_on
        results = run_stage5(
            args.exp_dirs, args.data_root, args.sets, args.out, args.tdcf, command, ci, calibrate_on,
            args.aggregate_seeds, None if args.baseline == "none" else args.baseline,
            read_references(args.references) if args.references else None,
        )
    except (ValueError, OSError) as err:
        logging.error("stage 5 failed: %s", err)
        return 1
    scored = sum(len(exp.sets) for exp in results)
    logging.info("scored %d experiment/set pair(s) of %d experiment(s); wrote %s",
                 scored, len(results), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

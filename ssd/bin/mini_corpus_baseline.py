"""Trivial-baseline check of an LA-layout corpus: mean-LFCC logistic regression and energy above 6 kHz.

Both are fitted on train and report EER on dev and eval. Near 0 % means the corpus gives its labels
away (level, bandwidth, codec) and is broken. ``--min-eer`` turns that into a non-zero exit status.

Usage: python -m ssd.bin.mini_corpus_baseline DIR [--min-eer 0.15]
"""

from __future__ import annotations

import argparse
import sys

from ssd.data.mini_la.baseline import corpus_features, evaluate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", help="corpus directory in the ASVspoof 2019 LA layout")
    parser.add_argument("--min-eer", type=float, default=0.0,
                        help="exit with status 1 if any eval EER (a fraction) is below this")
    args = parser.parse_args(argv)
    results = evaluate(corpus_features(args.corpus))
    print(f"{'baseline':<32} {'dev EER':>8} {'eval EER':>9}")
    for name, per in results.items():
        print(f"{name:<32} {100 * per['dev']:7.1f}% {100 * per['eval']:8.1f}%")
    too_easy = [name for name, per in results.items() if per["eval"] < args.min_eer]
    if too_easy:
        print(f"error: eval EER below {100 * args.min_eer:.1f} % for {', '.join(too_easy)}: "
              "the corpus is trivially separable", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

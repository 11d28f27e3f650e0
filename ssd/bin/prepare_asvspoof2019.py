"""Stage 0/1 job: verify an ASVspoof 2019 LA tree and write Kaldi data dirs for its subsets."""

from __future__ import annotations

import argparse
import sys

from ssd.data import asvspoof2019


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("corpus_dir", help="root of the LA corpus (holds ASVspoof2019_LA_cm_protocols/)")
    parser.add_argument("out_dir", nargs="?", help="where data/<subset>/ go; omit to only verify")
    parser.add_argument("--subsets", nargs="+", default=list(asvspoof2019.SETS), choices=asvspoof2019.SETS)
    args = parser.parse_args(argv)
    subsets = tuple(args.subsets)
    try:
        if args.out_dir is None:
            counts = {s: len(e) for s, e in asvspoof2019.verify(args.corpus_dir, subsets).items()}
        else:
            counts = asvspoof2019.prepare(args.corpus_dir, args.out_dir, subsets)
    except (asvspoof2019.CorpusError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(" ".join(f"{s}={n}" for s, n in counts.items()) + " utterances")
    return 0


if __name__ == "__main__":
    sys.exit(main())

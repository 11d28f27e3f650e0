"""Build a mini stand-in of an evaluation corpus (2021 LA, 2021 DF, In-the-Wild, custom folder).

Usage: python -m ssd.bin.make_eval_standin --kind la2021|df2021|itw|custom --mini DIR --out DIR
           [--seed 0] [--nj 1]
"""

from __future__ import annotations

import argparse
import logging
import sys

from ssd.audio.codecs import CodecError, CodecUnavailable
from ssd.data.asvspoof2019 import CorpusError
from ssd.data.standins import KINDS, make


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", required=True, choices=KINDS, help="which corpus to stand in for")
    parser.add_argument("--mini", required=True, help="LA 2019 corpus (the mini one) whose eval set is used")
    parser.add_argument("--out", required=True, help="stand-in directory (written in the corpus's layout)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    parser.add_argument("--nj", type=int, default=1, help="files coded in parallel")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        make(args.kind, args.mini, args.out, seed=args.seed, nj=args.nj)
    except (CorpusError, CodecUnavailable, CodecError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

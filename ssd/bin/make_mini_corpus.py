"""Build the bundled mini corpus (ASVspoof 2019 LA layout) into a directory.

Usage: python -m ssd.bin.make_mini_corpus --out DIR [--profile default|ci] [--seed 0] [--nj 2]
"""

from __future__ import annotations

import argparse
import logging
import sys

from ssd.data.mini_la import PROFILES, SourcesMissingError, build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="corpus directory (created; rebuilt if incomplete)")
    parser.add_argument("--profile", default="default", choices=sorted(PROFILES), help="corpus size")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    parser.add_argument("--nj", type=int, default=1, help="parallel worker processes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        build(args.out, profile=args.profile, seed=args.seed, nj=args.nj)
    except (SourcesMissingError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""ssd-pack: write a trained experiment as one self-describing archive (stage 6 of the recipe)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from ssd.metrics.scorefiles import ScoreFileError
from ssd.packing import PackError, pack_experiment


def get_parser() -> argparse.ArgumentParser:
    """Options of ``ssd-pack``; defaults fit the recipe's layout (run from the recipe directory)."""
    parser = argparse.ArgumentParser(
        prog="ssd-pack",
        description="Pack exp/<tag> (checkpoint, resolved config, front-end settings, dev thresholds, "
        "dev/eval figures, corpus and git commit, model card) into one zip that ssd-detect and "
        "ssd.Detector load.",
        epilog="example: python -m ssd.bin.pack --exp-dir exp/ocsoftmax_all --data-root data "
        "--out exp/ocsoftmax_all/packed/ocsoftmax_all.zip",
    )
    parser.add_argument("--exp-dir", required=True, help="experiment directory (config in the checkpoint, "
                        "scores/<set>.txt from stage 4, their figures in scores/<set>.json from stage 5)")
    parser.add_argument("--out", required=True, help="archive to write (.zip), atomically")
    parser.add_argument("--checkpoint", default="best.pt",
                        help="checkpoint file in EXP_DIR, or a path (default: %(default)s)")
    parser.add_argument("--fs", type=int, default=16000,
                        help="sampling rate of the features, stage 2's --fs (default: %(default)s)")
    parser.add_argument("--dev-set", default="dev",
                        help="score set whose EER (and min t-DCF) thresholds become the decision "
                        "thresholds (default: %(default)s)")
    parser.add_argument("--data-root", help="Kaldi data root: <root>/train/corpus names the corpus when "
                        "the training features' dir has none")
    parser.add_argument("--corpus-file", help="a data dir's 'corpus' file (default: the one beside the "
                        "training features named in the config, else DATA_ROOT/train/corpus)")
    parser.add_argument("--external-weights", metavar="PATH",
                        help="write the weights to PATH (in the folder of OUT or below) instead of into the "
                        "archive, which then records their path, size and sha256: for models larger than "
                        "the loaders' archive cap (SSD_MAX_ARCHIVE_BYTES, default 4 GiB)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Pack one experiment; exit status 1 with the reason on any missing or malformed input."""
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s")
    try:
        manifest = pack_experiment(args.exp_dir, args.out, checkpoint=args.checkpoint, fs=args.fs,
                                   dev_set=args.dev_set, data_root=args.data_root,
                                   corpus_file=args.corpus_file, external_weights=args.external_weights)
    except (PackError, ScoreFileError, ValueError, OSError) as err:
        logging.error("ssd-pack %s failed: %s", args.exp_dir, err)
        return 1
    thresholds = ", ".join(f"{name} {entry['value']:.6g}" for name, entry in manifest["thresholds"].items()
                           if isinstance(entry, dict))
    figures = ", ".join(f"{name} EER {100 * fig['eer']:.3f} %" for name, fig in manifest["figures"].items())
    logging.info("wrote %s (%.1f MB): %s; thresholds: %s", args.out, os.path.getsize(args.out) / 1e6,
                 figures, thresholds)
    if args.external_weights is not None:
        logging.info("weights in %s (%.1f MB), named in the archive by their path and sha256: keep the two "
                     "files together", args.external_weights, os.path.getsize(args.external_weights) / 1e6)
    return 0


if __name__ == "__main__":
    sys.exit(main())

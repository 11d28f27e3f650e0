"""Train the ASVspoof 2019 LFCC-GMM baseline (a bona fide and a spoof GMM) on a feature dump dir.

Example::

    python -m ssd.bin.train_gmm --train-dir dump/lfcc/train --exp-dir exp/lfcc_gmm \\
        --components 512 --iterations 10 --seed 0

Writes ``EXP_DIR/gmm.npz`` (the model, read back without unpickling), ``config.yaml`` (the options),
``model_info.json`` (parameter count, frames, training curves), ``history.tsv`` (mean training
log-likelihood per frame after each M-step) and ``run.sh`` (replays this command).
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from collections.abc import Sequence

from ssd.baselines.gmm import CHUNK_FRAMES, TOL, VAR_FLOOR
from ssd.baselines.lfcc_gmm import train, write_experiment

log = logging.getLogger("ssd.bin.train_gmm")


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--train-dir", required=True,
                        help="dump dir with feats.scp, utt2label and utt2num_frames")
    parser.add_argument("--exp-dir", required=True, help="experiment directory to write")
    parser.add_argument("--components", type=int, default=512, help="components per GMM (default: 512)")
    parser.add_argument("--iterations", type=int, default=10,
                        help="EM iterations (M-steps) at most, as vl_gmm's MaxNumIterations (default: 10)")
    parser.add_argument("--seed", type=int, default=0, help="seeds every random choice (default: 0)")
    parser.add_argument("--var-floor", type=float, default=VAR_FLOOR,
                        help="lower bound on every variance (default: %(default)g, VLFeat's)")
    parser.add_argument("--tol", type=float, default=TOL,
                        help="stop when the relative log-likelihood change is below this; 0: never "
                        "(default: %(default)g, VLFeat's)")
    parser.add_argument("--max-frames", type=int, default=None,
                        help="train each GMM on a seeded random subset of at most this many frames "
                        "(default: all frames, as the baseline)")
    parser.add_argument("--init-frames", type=int, default=None,
                        help="frames the k-means++ seeds are drawn from (default: 256 per component)")
    parser.add_argument("--chunk-frames", type=int, default=CHUNK_FRAMES,
                        help="frames per matrix product; bounds memory (default: %(default)d)")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, force=True,
                        format="%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s")
    try:
        run(args, argv)
    except (ValueError, FileNotFoundError) as e:
        log.error("%s", e)
        raise SystemExit(1) from None


def run(args: argparse.Namespace, argv: list[str]) -> None:
    model = train(args.train_dir, args.components, args.iterations, args.seed, args.var_floor, args.tol,
                  args.max_frames, args.init_frames, args.chunk_frames)
    command = " ".join([shlex.quote(sys.executable), "-m", "ssd.bin.train_gmm", *map(shlex.quote, argv)])
    extra = {"train_dir": args.train_dir, "chunk_frames": args.chunk_frames}
    path = write_experiment(args.exp_dir, model, extra, f"cd {shlex.quote(os.getcwd())}\n{command}")
    log.info("wrote %s (%d parameters; bona fide %d frames, spoof %d frames)", path, model.num_parameters,
             model.info["frames"]["bonafide"], model.info["frames"]["spoof"])


if __name__ == "__main__":
    main()

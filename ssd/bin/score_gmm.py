"""Score a feature set with a trained LFCC-GMM: ``utt attack key score`` lines, as stage 4 writes them.

Example::

    python -m ssd.bin.score_gmm --exp-dir exp/lfcc_gmm --data-dir dump/lfcc/eval \\
        --out exp/lfcc_gmm/scores/eval.txt

The score is the mean frame log-likelihood ratio of the bona fide and the spoof GMM (higher = more
bona fide). Every utterance of the data dir's ``utt2label`` gets one line, sorted by utterance (C order);
the file is written atomically, and not at all if a score is not finite.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from ssd.baselines.lfcc_gmm import MODEL_NAME, LfccGmm, open_table, score_table, write_scores
from ssd.utils.cli import run_logged

log = logging.getLogger("ssd.bin.score_gmm")


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--exp-dir", required=True, help=f"experiment directory holding {MODEL_NAME}")
    parser.add_argument("--data-dir", required=True,
                        help="dir with utt2label and utt2attack (and feats.scp unless --feats is given)")
    parser.add_argument("--feats", help="feats.scp to score (default: DATA_DIR/feats.scp)")
    parser.add_argument("--out", required=True, help="score file to write")
    parser.add_argument("--model", default=MODEL_NAME,
                        help="model: a file name inside EXP_DIR, or a path (default: %(default)s)")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = get_parser().parse_args(argv)
    run_logged(lambda: run(args), log, errors=(ValueError, FileNotFoundError))


def run(args: argparse.Namespace) -> None:
    model_path = Path(args.model)
    if len(model_path.parts) == 1:
        model_path = Path(args.exp_dir) / model_path
    for path in (model_path, Path(args.data_dir) / "utt2attack"):
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist")
    model = LfccGmm.load(model_path)
    table = open_table(args.data_dir, args.feats, feat_dim=model.dim)
    log.info("scoring %d utterances of %s with %s", len(table), table.feats_scp, model_path)
    lines = write_scores(args.out, args.data_dir, table, score_table(model, table))
    log.info("wrote %s (%d lines)", args.out, lines)


if __name__ == "__main__":
    main()

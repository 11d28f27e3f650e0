"""Score a feature set with a trained model: ``exp/<tag>/scores/<set>.txt`` lines ``utt attack key score``.

Example::

    python -m ssd.bin.infer --exp-dir exp/ocsoftmax_all --data-dir dump/lfcc/eval \\
        --out exp/ocsoftmax_all/scores/eval.txt [--checkpoint best.pt] [--device cpu] [--batch-size 64]

Scores are deterministic (eval mode, fixed windows; see ssd.data.windows) and higher = more bona fide.
Every utterance of the data dir's ``utt2label`` gets exactly one line, sorted by utterance (C order).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ssd.data.datadir import c_sorted, read_kv
from ssd.data.dataset import FeatureTable, WaveTable
from ssd.inference import load_model, score_table
from ssd.utils.distributed import pick_device
from ssd.utils.fileio import atomic_write

log = logging.getLogger("ssd.bin.infer")


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--exp-dir", required=True, help="experiment directory holding the checkpoint")
    parser.add_argument("--data-dir", required=True,
                        help="dir with utt2label and utt2attack (and feats.scp unless --feats is given)")
    parser.add_argument("--feats", help="feats.scp to score (default: DATA_DIR/feats.scp)")
    parser.add_argument("--out", required=True, help="score file to write")
    parser.add_argument("--checkpoint", default="best.pt",
                        help="checkpoint: a file name inside EXP_DIR, or a path (default: best.pt)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--batch-size", type=int, default=None,
                        help="windows per forward pass (default: eval.batch_size of the config)")
    parser.add_argument("--num-workers", type=int, default=0, help="DataLoader workers reading features")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, force=True,
                        format="%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s")
    try:
        run(args)
    except (ValueError, FileNotFoundError) as e:
        log.error("%s", e)
        raise SystemExit(1) from None


def run(args: argparse.Namespace) -> None:
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    data_dir = Path(args.data_dir)
    checkpoint = Path(args.checkpoint)
    if len(checkpoint.parts) == 1:
        checkpoint = Path(args.exp_dir) / checkpoint
    device = pick_device(args.device, 0)
    model, cfg = load_model(checkpoint, device)
    raw = not model.frontend.dumps
    feats = Path(args.feats) if args.feats else data_dir / ("wav.scp" if raw else "feats.scp")
    for path in (data_dir / "utt2label", data_dir / "utt2attack", feats):
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist")
    length, hop = int(cfg["model"]["input_length"]), int(cfg["eval"]["hop_length"])
    policy = str(cfg["eval"]["policy"])
    batch_size = args.batch_size or int(cfg["eval"]["batch_size"])
    if raw:
        table = WaveTable(feats, data_dir / "utt2label")
    else:
        table = FeatureTable(feats, data_dir / "utt2label", utt2num_frames=feats.parent / "utt2num_frames",
                             cache="no", feat_dim=model.frontend.dim)
    labels = read_kv(data_dir / "utt2label")
    attacks = read_kv(data_dir / "utt2attack")
    missing = sorted(set(labels) - set(table.utts))
    if missing:
        raise ValueError(f"{feats}: no features for {len(missing)} utterance(s) of {data_dir / 'utt2label'}, "
                         f"e.g. {missing[0]}")
    log.info("scoring %d utterances of %s with %s (%s policy, window %d, hop %d, batch %d, %s)", len(table),
             feats, checkpoint, policy, length, hop, batch_size, device)
    scores = score_table(model, table, length, hop, batch_size, device, num_workers=args.num_workers,
                         policy=policy)
    bad = [utt for utt, score in zip(table.utts, scores, strict=True) if not np.isfinite(score)]
    if bad:
        raise ValueError(f"{feats}: non-finite score for {len(bad)} utterance(s), e.g. {bad[0]} "
                         "(NaN/inf in its features, or a diverged model); no score file written")
    by_utt = dict(zip(table.utts, scores.tolist(), strict=True))
    with atomic_write(args.out) as f:
        for utt in c_sorted(labels):
            if utt not in attacks:
                raise ValueError(f"{data_dir / 'utt2attack'}: no entry for utterance {utt}")
            f.write(f"{utt} {attacks[utt]} {labels[utt]} {by_utt[utt]:.9g}\n")
    log.info("wrote %s (%d lines)", args.out, len(labels))


if __name__ == "__main__":
    main()

"""Score a feature set with a trained model: ``exp/<tag>/scores/<set>.txt`` lines ``utt attack key score``.

Example::

    python -m ssd.bin.infer --exp-dir exp/ocsoftmax_all --data-dir dump/lfcc/eval \\
        --out exp/ocsoftmax_all/scores/eval.txt [--checkpoint best.pt] [--device cpu] [--batch-size 64]
    python -m ssd.bin.infer --model ocsoftmax_all.zip --data-dir dump/lfcc/eval --out eval.txt --shard 2/4

Scores are deterministic (eval mode, fixed windows; see ssd.data.windows) and higher = more bona fide.
Every utterance of the data dir gets exactly one line, sorted by utterance (C order); a set without
``utt2label`` (audio to score, no ground truth) gets ``-`` as its attack and key, one without
``utt2attack`` (attacks not known) ``-`` as its attack. With ``--shard K/N``
the job writes the lines of the utterances shard K of N owns (ssd.inference): the N files, merged in C
order, are byte-identical to one job's.
"""

from __future__ import annotations

import argparse
import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ssd.data.datadir import c_sorted, read_kv
from ssd.data.dataset import FeatureTable, WaveTable
from ssd.frontend.dump_settings import check_dump_settings
from ssd.inference import load_model, score_table, table_plan
from ssd.utils.cli import run_logged
from ssd.utils.distributed import pick_device
from ssd.utils.fileio import atomic_write

log = logging.getLogger("ssd.bin.infer")
UNKNOWN = "-"


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--exp-dir", help="experiment directory holding the checkpoint")
    which.add_argument("--model", help="a packed detector (ssd-pack, ssd-import) to score with")
    parser.add_argument("--data-dir", required=True,
                        help="dir with feats.scp (wav.scp for waveform models) and, for a labelled set, "
                        "utt2label (and utt2attack where the attacks are known)")
    parser.add_argument("--feats", help="feats.scp to score (default: DATA_DIR/feats.scp)")
    parser.add_argument("--out", required=True, help="score file to write")
    parser.add_argument("--checkpoint", default="best.pt",
                        help="checkpoint: a file name inside EXP_DIR, or a path (default: best.pt)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--batch-size", type=int, default=None,
                        help="windows per forward pass (default: eval.batch_size of the config)")
    parser.add_argument("--num-workers", type=int, default=0, help="DataLoader workers reading features")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--shard", default="1/1", metavar="K/N",
                        help="score the share K (1-based) of N of the set (default: %(default)s, all)")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = get_parser().parse_args(argv)
    run_logged(lambda: run(args), log, errors=(ValueError, FileNotFoundError))


def parse_shard(text: str) -> tuple[int, int]:
    """``K/N`` (1-based) as (k, n) 0-based, as score_table takes it."""
    match = re.fullmatch(r"(\d+)/(\d+)", text)
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise ValueError(f"--shard {text!r}: expected K/N with 1 <= K <= N, e.g. 2/4")
    return int(match[1]) - 1, int(match[2])


def _scorer(args: argparse.Namespace, device: torch.device):
    """(model, window, hop, policy, batch size, front end, what) of an experiment or a packed model."""
    if args.model is not None:
        from ssd.detector import Detector  # packed archives: the same model as ssd-detect builds

        det = Detector.load(args.model, device)
        return det.model, det.window, det.hop, det.policy, det.batch_size, det.frontend, args.model
    checkpoint = Path(args.checkpoint)
    if len(checkpoint.parts) == 1:
        checkpoint = Path(args.exp_dir) / checkpoint
    model, cfg = load_model(checkpoint, device)
    ev = cfg["eval"]
    return (model, int(cfg["model"]["input_length"]), int(ev["hop_length"]), str(ev["policy"]),
            int(ev["batch_size"]), model.frontend, str(checkpoint))


def run(args: argparse.Namespace) -> None:
    shard = parse_shard(args.shard)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    data_dir = Path(args.data_dir)
    device = pick_device(args.device, 0)
    model, length, hop, policy, batch_size, frontend, source = _scorer(args, device)
    batch_size = args.batch_size or batch_size
    raw = not frontend.dumps
    feats = Path(args.feats) if args.feats else data_dir / ("wav.scp" if raw else "feats.scp")
    if not feats.is_file():
        raise FileNotFoundError(f"{feats} does not exist")
    utt2label = data_dir / "utt2label"
    labelled = utt2label.is_file()
    if raw:
        table = WaveTable(feats, utt2label if labelled else None)
    else:
        check_dump_settings(feats.parent, frontend)
        table = FeatureTable(feats, utt2label if labelled else None, cache="no", feat_dim=frontend.dim,
                             utt2num_frames=feats.parent / "utt2num_frames")
    utts = c_sorted(read_kv(utt2label)) if labelled else table.utts
    labels = read_kv(utt2label) if labelled else dict.fromkeys(utts, UNKNOWN)
    utt2attack = data_dir / "utt2attack"  # none: the attacks are not known (In-the-Wild)
    attacks = read_kv(utt2attack) if utt2attack.is_file() else dict.fromkeys(utts, UNKNOWN)
    missing = sorted(set(labels) - set(table.utts))
    if missing:
        raise ValueError(f"{feats}: no features for {len(missing)} utterance(s) of {utt2label}, "
                         f"e.g. {missing[0]}")
    log.info("scoring %d utterances of %s%s with %s (%s policy, window %d, hop %d, batch %d, %s)%s",
             len(table), feats, "" if labelled else " (unlabelled)", source, policy, length, hop, batch_size,
             device, "" if shard == (0, 1) else f", shard {args.shard}")
    scores = score_table(model, table, length, hop, batch_size, device, num_workers=args.num_workers,
                         policy=policy, shard=shard)
    mine = table_plan(table, range(len(table)), length, hop, batch_size, policy, shard).owned
    owned = {table.utts[i]: float(scores[i]) for i in mine}
    bad = [utt for utt, score in owned.items() if not np.isfinite(score)]
    if bad:
        raise ValueError(f"{feats}: non-finite score for {len(bad)} utterance(s), e.g. {bad[0]} "
                         "(NaN/inf in its features, or a diverged model); no score file written")
    written = 0
    with atomic_write(args.out) as f:
        for utt in utts:
            if utt not in attacks:
                raise ValueError(f"{data_dir / 'utt2attack'}: no entry for utterance {utt}")
            if utt in owned:
                f.write(f"{utt} {attacks[utt]} {labels[utt]} {owned[utt]:.9g}\n")
                written += 1
    log.info("wrote %s (%d lines)", args.out, written)


if __name__ == "__main__":
    main()

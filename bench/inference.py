"""Inference throughput: utterances/s scoring a feature set with ssd.inference, on CPU and GPU.

Scores with the exact code of ``ssd.bin.infer`` (evaluation windows, batching, eval mode) a model
built from a training config (random weights: the speed does not depend on them) over a real
ark/scp dump or a synthetic one with ASVspoof-like lengths.

Usage:
  tools/venv/bin/python bench/inference.py --config egs/asvspoof2019_la/conf/train_ocsoftmax_vanilla.yaml
      [--base egs/asvspoof2019_la/conf/train_mini.yaml] [--feats-dir dump/lfcc/eval] [--utts 64]
      [--batch-size 64] [--devices cpu cuda] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from data_loading import synthetic_dump  # noqa: E402

from ssd.data.dataset import FeatureTable  # noqa: E402
from ssd.data.windows import window_starts  # noqa: E402
from ssd.inference import score_table  # noqa: E402
from ssd.tasks.multitask import MultiTaskModel  # noqa: E402
from ssd.utils.config import load_config  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--base")
    parser.add_argument("--feats-dir", help="dump dir with feats.scp and utt2label (default: synthetic)")
    parser.add_argument("--utts", type=int, default=64, help="utterances to score (the first N)")
    parser.add_argument("--batch-size", type=int, default=None, help="windows per forward (default: config)")
    parser.add_argument("--devices", nargs="+", default=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config(args.config, args.base)
    length, hop = int(cfg["model"]["input_length"]), int(cfg["eval"]["hop_length"])
    batch = args.batch_size or int(cfg["eval"]["batch_size"])
    torch.manual_seed(0)
    model = MultiTaskModel(cfg, 20).eval()
    with tempfile.TemporaryDirectory() as tmp:
        feats_dir = Path(args.feats_dir) if args.feats_dir else synthetic_dump(Path(tmp), args.utts)
        table = FeatureTable(feats_dir / "feats.scp", feats_dir / "utt2label",
                             utt2num_frames=feats_dir / "utt2num_frames", cache="yes")
        indices = list(range(min(args.utts, len(table))))
        windows = sum(len(window_starts(int(table.num_frames[i]), length, hop)) for i in indices)
        print(f"# {args.config} (base {args.base}): window {length}, hop {hop}, batch {batch}; "
              f"{len(indices)} utterances, {windows} windows; torch threads {torch.get_num_threads()}")
        print("| device | utterances/s | windows/s | seconds |")
        print("|---|---|---|---|")
        for name in args.devices:
            if name == "cuda" and not torch.cuda.is_available():
                print("| cuda | (no CUDA device) | | |")
                continue
            device = torch.device(name)
            model.to(device)
            score_table(model, table, length, hop, batch, device, indices=indices[:batch], progress=False)
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            score_table(model, table, length, hop, batch, device, indices=indices, progress=False)
            if device.type == "cuda":
                torch.cuda.synchronize()
            seconds = time.perf_counter() - start
            print(f"| {name} | {len(indices) / seconds:.1f} | {windows / seconds:.1f} | {seconds:.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()

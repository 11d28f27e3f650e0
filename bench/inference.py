"""Inference throughput: utterances/s scoring a feature set with ssd.inference, on CPU and GPU.

Scores with the exact code of ``ssd.bin.infer`` (evaluation windows, batching, eval mode) a model
built from a training config (random weights: the speed does not depend on them) over a real
ark/scp dump or a synthetic one with ASVspoof-like lengths. Two more tables, on request:

* ``--per-utterance``: the same utterances scored one at a time (each batch holds one utterance's
  windows, as a loop over files would), against the batched run, in the same process;
* ``--long-hours H [H ...]``: one utterance of H hours of LFCC scored in a fresh process each, with
  its wall time and peak resident memory, to show that time and memory grow linearly.

Usage:
  tools/venv/bin/python bench/inference.py --config egs/asvspoof2019_la/conf/train_ocsoftmax_vanilla.yaml
      [--base egs/asvspoof2019_la/conf/train_mini.yaml] [--feats-dir dump/lfcc/eval] [--utts 64]
      [--batch-size 64] [--devices cpu cuda] [--threads 2] [--per-utterance] [--long-hours 0.25 0.5 1]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from data_loading import synthetic_dump  # noqa: E402

from ssd.data.dataset import FeatureTable  # noqa: E402
from ssd.data.windows import window_starts  # noqa: E402
from ssd.inference import score_table  # noqa: E402
from ssd.tasks.multitask import MultiTaskModel  # noqa: E402
from ssd.utils.config import load_config  # noqa: E402


class _Matrices:
    """In-memory feature matrices offered as score_table reads a table."""

    def __init__(self, matrices: list[np.ndarray]) -> None:
        self.matrices = matrices
        self.num_frames = np.array([len(m) for m in matrices])

    def __len__(self) -> int:
        return len(self.matrices)

    def feats(self, index: int) -> np.ndarray:
        return self.matrices[index]


def score_long(model: torch.nn.Module, hours: float, length: int, hop: int, batch: int) -> dict[str, float]:
    """Score one ``hours``-long LFCC matrix (100 frames/s); wall seconds and peak RSS of this process."""
    frames = int(hours * 3600 * 100)
    feats = np.random.default_rng(0).standard_normal((frames, 60), dtype=np.float32)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    score_table(model, _Matrices([feats]), length, hop, batch, torch.device("cpu"), progress=False)
    return {"hours": hours, "frames": frames, "seconds": time.perf_counter() - start,
            "rss_before_mb": before, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "feats_mb": feats.nbytes / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--base")
    parser.add_argument("--feats-dir", help="dump dir with feats.scp and utt2label (default: synthetic)")
    parser.add_argument("--utts", type=int, default=64, help="utterances to score (the first N)")
    parser.add_argument("--batch-size", type=int, default=None, help="windows per forward (default: config)")
    parser.add_argument("--devices", nargs="+", default=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--per-utterance", action="store_true",
                        help="also score the utterances one at a time, against the batched run")
    parser.add_argument("--long-hours", type=float, nargs="*", default=[],
                        help="score one utterance of each length (hours), each in a fresh process")
    parser.add_argument("--one-long", type=float, help=argparse.SUPPRESS)  # the child of --long-hours
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config(args.config, args.base)
    length, hop = int(cfg["model"]["input_length"]), int(cfg["eval"]["hop_length"])
    batch = args.batch_size or int(cfg["eval"]["batch_size"])
    torch.manual_seed(0)
    model = MultiTaskModel(cfg, 20).eval()
    if args.one_long is not None:
        print(json.dumps(score_long(model, args.one_long, length, hop, batch)))
        return
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
            if args.per_utterance and device.type == "cpu":
                start = time.perf_counter()
                for i in indices:
                    score_table(model, table, length, hop, batch, device, indices=[i], progress=False)
                alone = time.perf_counter() - start
                print(f"| {name}, one utterance per batch | {len(indices) / alone:.1f} | "
                      f"{windows / alone:.1f} | {alone:.2f} |")
                print(f"\nbatched / one at a time: {alone / seconds:.2f}x\n")
    if args.long_hours:
        print("\n| hours | frames | seconds | x real time | peak RSS MB | of which the LFCC matrix MB |")
        print("|---|---|---|---|---|---|")
        for hours in args.long_hours:
            cmd = [sys.executable, __file__, "--config", args.config, "--one-long", str(hours),
                   "--batch-size", str(batch)] + (["--base", args.base] if args.base else []) + \
                (["--threads", str(args.threads)] if args.threads else [])
            out = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
            speed = hours * 3600 / out["seconds"]
            print(f"| {hours:g} | {out['frames']} | {out['seconds']:.1f} | {speed:.0f} | "
                  f"{out['peak_rss_mb']:.0f} | {out['feats_mb']:.0f} |", flush=True)


if __name__ == "__main__":
    main()

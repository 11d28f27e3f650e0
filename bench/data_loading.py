"""Training-data throughput: batches/s of random crops from ark/scp, as the training loop loads them.

Measures the exact pipeline of ``ssd.training.loop`` (FeatureTable -> RandomCropDataset ->
ShardedBatchSampler -> DataLoader) for several worker counts and for in-memory vs lazy (read from
the ark on every access) features, and compares it with what a training step consumes, so that one
can tell whether the accelerator would be starved. Target (issue 8): >= 10x the step's consumption.

Usage:
  tools/venv/bin/python bench/data_loading.py [--feats-dir dump/lfcc/train] [--crop 750] [--batch-size 64]
      [--workers 0 2] [--batches 200] [--step-samples-per-s 2000] [--measure-step conf/train_X.yaml]

Without ``--feats-dir`` a synthetic set (ASVspoof-like lengths: 0.5-12 s, median ~3 s) is written to a
temp dir as a real ark/scp. ``--step-samples-per-s`` is the training step's consumption measured
elsewhere (e.g. bench/train_step.py on the GPU); ``--measure-step CONFIG`` measures it here instead.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import kaldiio
import numpy as np
import torch
from torch.utils.data import DataLoader

from ssd.data.dataset import FeatureTable, RandomCropDataset, collate_crops, read_speakers
from ssd.data.sampler import ShardedBatchSampler


def synthetic_dump(out: Path, n_utts: int, seed: int = 0) -> Path:
    """Write a feature dump dir with ASVspoof-like utterance lengths (log-normal, 50-1200 frames)."""
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.lognormal(np.log(300), 0.45, n_utts), 50, 1200).astype(int)
    feats = {f"utt{i:06d}": rng.standard_normal((n, 60)).astype(np.float32) for i, n in enumerate(lengths)}
    out.mkdir(parents=True, exist_ok=True)
    kaldiio.save_ark(str(out / "feats.ark"), feats, scp=str(out / "feats.scp"))
    for name, value in (("utt2label", lambda i: "spoof" if i % 5 else "bonafide"),
                        ("utt2spk", lambda i: f"spk{i % 20:02d}")):
        (out / name).write_text("".join(f"utt{i:06d} {value(i)}\n" for i in range(n_utts)))
    (out / "utt2num_frames").write_text("".join(f"{u} {len(m)}\n" for u, m in feats.items()))
    return out


def measure_loader(table: FeatureTable, crop: int, batch_size: int, workers: int, batches: int) -> float:
    """Batches per second over ``batches`` batches (after one warm-up batch), across epochs if needed."""
    data = RandomCropDataset(table, crop, seed=0)
    sampler = ShardedBatchSampler(len(table), batch_size, seed=0)
    done, epoch, start = -1, 0, 0.0
    while done < batches:
        epoch += 1
        data.set_epoch(epoch)
        sampler.set_epoch(epoch)
        loader = DataLoader(data, batch_sampler=sampler, collate_fn=collate_crops, num_workers=workers)
        for feats, *_ in loader:
            assert feats.shape[1:] == (table.feat_dim, crop)
            done += 1
            if done == 0:
                start = time.perf_counter()
            if done == batches:
                break
    return batches / (time.perf_counter() - start)


def measure_step(config: str, base: str | None, crop: int, batch_size: int, steps: int) -> float:
    """Samples/s of the multi-task training step of ``config`` on this machine's CPU."""
    from ssd.tasks.multitask import MultiTaskModel, MultiTaskTrainer
    from ssd.utils.config import load_config

    cfg = load_config(config, base)
    cfg["model"]["input_length"] = crop
    model = MultiTaskModel(cfg, 20)
    trainer = MultiTaskTrainer(model, cfg)
    feats = torch.randn(batch_size, 60, crop)
    labels = torch.arange(batch_size) % 2
    speakers = torch.arange(batch_size) % 20
    trainer.train_step(feats, labels, speakers)
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step(feats, labels, speakers)
    return steps * batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feats-dir", help="a feature dump dir (default: a synthetic one)")
    parser.add_argument("--synthetic-utts", type=int, default=4000)
    parser.add_argument("--crop", type=int, default=750)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--step-samples-per-s", type=float, help="training step consumption to compare with")
    parser.add_argument("--measure-step", metavar="CONFIG", help="measure the step of this config here")
    parser.add_argument("--base", help="base override for --measure-step (e.g. conf/train_mini.yaml)")
    parser.add_argument("--step-batch-size", type=int, default=8, help="batch of the measured step")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        feats_dir = Path(args.feats_dir) if args.feats_dir else synthetic_dump(Path(tmp), args.synthetic_utts)
        step_rate = args.step_samples_per_s
        if args.measure_step:
            step_rate = measure_step(args.measure_step, args.base, args.crop, args.step_batch_size, 3)
        speakers = read_speakers(feats_dir / "utt2spk")
        tables = {"memory": FeatureTable.from_dir(feats_dir, speakers, cache="yes"),
                  "lazy (ark)": FeatureTable.from_dir(feats_dir, speakers, cache="no")}
        n = len(tables["memory"])
        frames = int(tables["memory"].num_frames.sum())
        print(f"# {n} utterances, {frames} frames ({frames * 240 / 2**20:.0f} MiB float32), "
              f"crop {args.crop}, batch {args.batch_size}, torch threads {torch.get_num_threads()}")
        if step_rate:
            print(f"# training step consumption: {step_rate:.1f} samples/s = "
                  f"{step_rate / args.batch_size:.2f} batches/s")
        print(f"| features | workers | batches/s | samples/s |{' x step |' if step_rate else ''}")
        print(f"|---|---|---|---|{'---|' if step_rate else ''}")
        for name, table in tables.items():
            for workers in args.workers:
                rate = measure_loader(table, args.crop, args.batch_size, workers, args.batches)
                ratio = f" {rate * args.batch_size / step_rate:.1f} |" if step_rate else ""
                samples = rate * args.batch_size
                print(f"| {name} | {workers} | {rate:.1f} | {samples:.0f} |{ratio}", flush=True)


if __name__ == "__main__":
    main()

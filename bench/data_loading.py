"""Training-data throughput: batches/s of random crops from ark/scp, as the training loop loads them.

Measures the exact pipeline of ``ssd.training.loop`` (FeatureTable -> RandomCropDataset ->
ShardedBatchSampler -> DataLoader) for several worker counts and for in-memory vs lazy (read from
the ark on every access) features, and compares it with what a training step consumes, so that one
can tell whether the accelerator would be starved. Target (issue 8): >= 10x the step's consumption.

Usage:
  tools/venv/bin/python bench/data_loading.py [--feats-dir dump/lfcc/train] [--crop 750] [--batch-size 64]
      [--workers 0 2] [--batches 200] [--step-samples-per-s 2000] [--measure-step conf/train_X.yaml]
      [--audio-dir dump/lfcc/train [--codecs all] [--codec-probability 0.5] [--codec-variants 2]
       [--rawboost rawboost_la rawboost_df]]

Without ``--feats-dir`` a synthetic set (ASVspoof-like lengths: 0.5-12 s, median ~3 s) is written to a
temp dir as a real ark/scp. ``--step-samples-per-s`` is the training step's consumption measured
elsewhere (e.g. bench/train_step.py on the GPU); ``--measure-step CONFIG`` measures it here instead.

``--audio-dir`` (a dir with wav.scp, utt2label, utt2spk: stage 2's dump dir) measures the pipeline of
augmented LFCC training instead: crops of ``--crop`` frames cut from the audio and turned into LFCC on
the fly, and with ``--codecs`` (data.codec.codecs) codec augmentation before the crop: the time to
prefill an empty cache (what training does before its first step), then loading with variants
encoded on first use (one whole first epoch from an empty cache, worker start included) and with the
cache prefilled; with ``--rawboost`` (data.rawboost settings) RawBoost on each crop before its LFCC.
"""

from __future__ import annotations

import argparse
import functools
import os
import tempfile
import time
from pathlib import Path

import kaldiio
import numpy as np
import torch
from torch.utils.data import DataLoader

from ssd.augment.codec import CodecAugmenter, settings_of
from ssd.augment.rawboost import algorithm_of, crop_augmenter
from ssd.data.dataset import FeatureTable, RandomCropDataset, WaveTable, collate_crops, read_speakers
from ssd.data.sampler import ShardedBatchSampler
from ssd.frontend.lfcc import frame_geometry, lfcc


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


def measure_loader(data: RandomCropDataset, shape: tuple[int, int], batch_size: int, workers: int,
                   batches: int, warm_up: int = 1) -> float:
    """Batches per second over ``batches`` batches after ``warm_up`` untimed ones, across epochs if needed.

    With ``warm_up`` 0 the time starts before the first loader is made, so worker start-up counts.
    """
    sampler = ShardedBatchSampler(len(data), batch_size, seed=0)
    done, epoch, start = 0, 0, time.perf_counter()
    while done < warm_up + batches:
        epoch += 1
        data.set_epoch(epoch)
        sampler.set_epoch(epoch)
        loader = DataLoader(data, batch_sampler=sampler, collate_fn=collate_crops, num_workers=workers)
        for feats, *_ in loader:
            assert feats.shape[1:] == shape
            done += 1
            if done == warm_up:
                start = time.perf_counter()
            if done == warm_up + batches:
                break
    return batches / (time.perf_counter() - start)


def audio_rows(args: argparse.Namespace, cache_root: Path) -> list[tuple[str, int, float]]:
    """(pipeline, workers, batches/s) of LFCC-on-the-fly training crops, plain and with codecs."""
    table = WaveTable.from_dir(args.audio_dir, read_speakers(Path(args.audio_dir) / "utt2spk"))
    fs = table.fs
    samples = frame_geometry(fs)[1] * (args.crop + 1)  # as the training loop cuts LFCC crops
    featurise = crop_augmenter(0, fs, functools.partial(lfcc, fs=fs))
    shape = (60, args.crop)
    seconds = table.num_frames.sum() / fs
    print(f"# audio: {len(table)} utterances, {seconds / 60:.1f} min; crops of {args.crop} frames "
          f"({samples} samples), LFCC on the fly")
    rows = []
    for workers in args.workers:
        plain = RandomCropDataset(table, samples, 0, augment=featurise)
        rows.append(("audio -> LFCC, no codec", workers, measure_loader(plain, shape, args.batch_size,
                                                                         workers, args.batches)))
    for setting in args.rawboost:  # as the training loop builds it: RawBoost, level restored, LFCC
        boosted = crop_augmenter(algorithm_of(setting), fs, functools.partial(lfcc, fs=fs))
        for workers in args.workers:
            data = RandomCropDataset(table, samples, 0, augment=boosted)
            rows.append((f"+ RawBoost {setting}", workers, measure_loader(data, shape, args.batch_size,
                                                                           workers, args.batches)))
    settings = settings_of({"codecs": args.codecs, "probability": args.codec_probability,
                            "variants": args.codec_variants, "cache_dir": None, "cache_max_gb": 100.0})
    if settings is None:
        return rows
    jobs = len(os.sched_getaffinity(0))
    codec = CodecAugmenter(table, settings, 0, cache_root / "prefill")
    started = time.perf_counter()
    done = codec.prefill(jobs)
    took = time.perf_counter() - started
    print(f"# codecs: {', '.join(codec.labels)}; probability {codec.probability:g}, {codec.variants} "
          f"variants per utterance")
    audio = codec.planned_bytes / 4 / fs  # seconds of audio encoded (a header's bytes aside)
    print(f"# prefill of an empty cache, as training starts: {done} variants in {took:.1f} s with {jobs} "
          f"threads ({done / took:.1f} files/s, {audio / took:.0f}x real time)", flush=True)
    for workers in args.workers:  # encoded on first use instead: the first epoch, from an empty cache
        codec = CodecAugmenter(table, settings, 0, cache_root / f"workers{workers}")
        data = RandomCropDataset(table, samples, 0, augment=featurise, utterance=codec)
        epoch = len(ShardedBatchSampler(len(table), args.batch_size))
        rows.append((f"+ codecs {args.codecs}, encoded on first use (epoch 1)", workers,
                     measure_loader(data, shape, args.batch_size, workers, epoch, warm_up=0)))
        codec.prefill(jobs)
        rows.append((f"+ codecs {args.codecs}, prefilled cache", workers,
                     measure_loader(data, shape, args.batch_size, workers, args.batches)))
    return rows


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
    parser.add_argument("--step-steps", type=int, default=3, help="timed steps of --measure-step")
    parser.add_argument("--audio-dir", help="measure LFCC-on-the-fly crops of this dir's wav.scp instead")
    parser.add_argument("--codecs", default="none", help="with --audio-dir: data.codec.codecs (e.g. all)")
    parser.add_argument("--codec-probability", type=float, default=0.5)
    parser.add_argument("--codec-variants", type=int, default=2)
    parser.add_argument("--rawboost", nargs="*", default=[],
                        help="with --audio-dir: data.rawboost settings to measure (e.g. rawboost_la 3)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        step_rate = args.step_samples_per_s
        if args.measure_step:
            step_rate = measure_step(args.measure_step, args.base, args.crop, args.step_batch_size,
                                     args.step_steps)
        print(f"# crop {args.crop}, batch {args.batch_size}, torch threads {torch.get_num_threads()}")
        if step_rate:
            print(f"# training step consumption: {step_rate:.1f} samples/s = "
                  f"{step_rate / args.batch_size:.2f} batches/s")
        rows = []
        if args.audio_dir:
            rows = audio_rows(args, Path(tmp))
        if args.feats_dir or not args.audio_dir:
            feats_dir = Path(args.feats_dir) if args.feats_dir else synthetic_dump(Path(tmp),
                                                                                   args.synthetic_utts)
            speakers = read_speakers(feats_dir / "utt2spk")
            tables = {"memory": FeatureTable.from_dir(feats_dir, speakers, cache="yes"),
                      "lazy (ark)": FeatureTable.from_dir(feats_dir, speakers, cache="no")}
            frames = int(tables["memory"].num_frames.sum())
            print(f"# features: {len(tables['memory'])} utterances, {frames} frames "
                  f"({frames * 240 / 2**20:.0f} MiB float32)")
            for name, table in tables.items():
                shape = (table.feat_dim, args.crop)
                for workers in args.workers:
                    rate = measure_loader(RandomCropDataset(table, args.crop, seed=0), shape, args.batch_size,
                                          workers, args.batches)
                    rows.append((name, workers, rate))
        print(f"| input | workers | batches/s | samples/s |{' x step |' if step_rate else ''}")
        print(f"|---|---|---|---|{'---|' if step_rate else ''}")
        for name, workers, rate in rows:
            ratio = f" {rate * args.batch_size / step_rate:.1f} |" if step_rate else ""
            print(f"| {name} | {workers} | {rate:.1f} | {rate * args.batch_size:.0f} |{ratio}", flush=True)


if __name__ == "__main__":
    main()

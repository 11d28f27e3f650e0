"""The training harness: epochs of the multi-task step, dev EER per epoch, checkpoints and resume.

What a run leaves in the experiment directory (only rank 0 writes):

* ``config.yaml`` (resolved config), ``run.sh`` (replays the command), ``model_info.json``
  (parameter counts per module);
* ``last.pt`` after every epoch: model, trainer (optimisers, schedulers), config, epoch, global step,
  every rank's RNG states and the history, so that a resumed run continues bit for bit;
* ``best.pt``: the model and config of the epoch with the lowest dev EER so far, computed with the
  documented score sign only (higher = more bona fide); optional ``checkpoints/epoch_N.pt``;
* ``history.tsv`` (every epoch) and ``curves.png`` (every few minutes and at the end): training
  losses and dev EER per epoch.

Logging goes to stderr (the recipe's queue script captures it into ``train.log``).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from ssd.audio.codecs import CodecError, CodecUnavailable
from ssd.augment import freq_mask
from ssd.augment.codec import CodecAugmenter, CodecSettings, settings_of
from ssd.augment.rawboost import algorithm_of, crop_augmenter
from ssd.data.dataset import RandomCropDataset, collate_crops, open_table, read_speakers
from ssd.data.sampler import ShardedBatchSampler
from ssd.data.windows import check_policy
from ssd.frontend.dump_settings import check_dump_settings
from ssd.frontend.ssl import SslBackbone, resolve_training_config
from ssd.inference import score_table
from ssd.metrics.eer import compute_eer
from ssd.tasks.multitask import MultiTaskModel, MultiTaskTrainer, recon_lfcc
from ssd.training import ema
from ssd.training.history import plot_history, write_history
from ssd.utils import config as config_lib
from ssd.utils.checkpoint import load_checkpoint, load_model_state, save_checkpoint
from ssd.utils.distributed import DistContext, all_gather_objects, all_reduce_sum, barrier
from ssd.utils.fileio import atomic_write
from ssd.utils.seed import get_rng_state, seed_everything, set_rng_state

log = logging.getLogger(__name__)

# Keys that may change between a run and its resumption: where and how fast it runs, and for how long
# (the codec cache is keyed by content, so it may move or grow).
RESUME_IGNORED = ("run", "train.epochs", "train.patience", "data.codec.cache_dir", "data.codec.cache_max_gb")
PLOT_INTERVAL_S = 300.0  # curves.png is redrawn at most this often, and after the last epoch


class TrainingError(RuntimeError):
    """Training cannot go on: diverged, or a configuration / checkpoint that does not fit."""


def model_info(model: MultiTaskModel) -> dict[str, Any]:
    """Parameter counts of the model's top-level modules and in total."""
    counts = {name: sum(p.numel() for p in child.parameters()) for name, child in model.named_children()}
    return {"parameters": counts, "total": sum(p.numel() for p in model.parameters())}


def write_run_script(path: Path, argv: list[str], ctx: DistContext) -> None:
    """Write a shell script replaying the command that started this run."""
    lines = ["#!/usr/bin/env bash", "# Replays the training run that made this directory (ssd.bin.train)."]
    if ctx.distributed:
        lines.append(f"# It ran as {ctx.world_size} processes: start it with the same launcher "
                     "(torchrun --nproc_per_node N ... or srun).")
    lines += [f"cd {shlex.quote(os.getcwd())}",
              " ".join([shlex.quote(sys.executable), "-m", "ssd.bin.train", *map(shlex.quote, argv)])]
    with atomic_write(path) as f:
        f.write("\n".join(lines) + "\n")
    path.chmod(0o755)


class Harness:
    """One training run: build data and model from ``cfg``, then :meth:`run` the epochs."""

    def __init__(self, cfg: dict[str, Any], exp_dir: str | os.PathLike, ctx: DistContext,
                 argv: list[str] | None = None, resume: bool = False, force: bool = False) -> None:
        saved = Path(exp_dir) / "config.yaml"  # the config of the run to resume, if any
        resuming = not force and (Path(exp_dir) / "last.pt").is_file() and saved.is_file()
        recorded = config_lib.load_config(saved) if resuming else None
        try:
            cfg = resolve_training_config(cfg, recorded)
        except (ValueError, OSError) as err:
            raise TrainingError(str(err)) from None
        self.cfg = cfg
        self.exp_dir = Path(exp_dir)
        self.ctx = ctx
        self.argv = argv or []
        data, train = cfg["data"], cfg["train"]
        for key in ("train_dir", "dev_dir"):
            if not data[key]:
                raise TrainingError(f"data.{key} is not set (--{key.replace('_', '-')} DIR)")
        self.length = int(cfg["model"]["input_length"])
        self.hop = int(cfg["eval"]["hop_length"])
        self.policy = check_policy(str(cfg["eval"]["policy"]))
        self.epochs = int(train["epochs"])
        self.patience = int(train["patience"])

        if int(cfg["run"]["threads"]) > 0:
            torch.set_num_threads(int(cfg["run"]["threads"]))
        checkpoint = self._prepare_exp_dir(resume, force)

        seed_everything(int(cfg["seed"]))
        self.speakers = read_speakers(Path(data["train_dir"]) / "utt2spk")
        self.model = MultiTaskModel(cfg, len(self.speakers)).to(ctx.device)
        frontend = self.model.frontend
        try:
            boost = algorithm_of(data["rawboost"])
            codec = settings_of(data["codec"])
            masking = freq_mask.settings_of(data["freq_mask"])
        except ValueError as err:
            raise TrainingError(str(err)) from None
        # Augmentation under a dumped front end (LFCC, spectrogram): training crops are cut from the audio
        # (the dump dir's wav.scp), augmented and turned into features on the fly; dev keeps the dump.
        augmented = [key for key, on in (("data.rawboost", boost), ("data.codec", codec)) if on]
        features_on_the_fly = bool(augmented) and not self.model.waveform_input
        if features_on_the_fly and not (Path(data["train_dir"]) / "wav.scp").is_file():
            raise TrainingError(f"{' and '.join(augmented)} on the {frontend.name} front end trains from the "
                                f"audio, and {data['train_dir']} has no wav.scp (stage 2 copies "
                                "data/<set>/wav.scp there when there is no segments file; rerun it)")
        if frontend.dumps:
            try:
                for key in ("dev_dir",) if features_on_the_fly else ("train_dir", "dev_dir"):
                    check_dump_settings(data[key], frontend)
            except ValueError as err:
                raise TrainingError(str(err)) from None
        table_args = {"cache": data["cache"], "cache_max_gb": float(data["cache_max_gb"]),
                      "feat_dim": frontend.dim}
        self.train_table = open_table("raw" if features_on_the_fly else frontend.table, data["train_dir"],
                                      self.speakers, **table_args)
        self.dev_table = open_table(frontend.table, data["dev_dir"], self.speakers, **table_args)
        for name, table in (("train", self.train_table), ("dev", self.dev_table)):
            n_bona = int((table.labels == 0).sum())
            if n_bona in (0, len(table)):
                raise TrainingError(f"{table.feats_scp}: the {name} set needs bona fide and spoof "
                                    "utterances, "
                                    f"has {n_bona} bona fide of {len(table)}")
        target = recon_lfcc if self.model.decoder is not None and self.model.waveform_input else None
        crop, augment = self.length, None
        if augmented:  # the train table is audio now
            fs, features = self.train_table.fs, None
            if features_on_the_fly:
                crop = frontend.samples_for(self.length, fs)
                features = functools.partial(frontend.features, fs=fs)
            if boost or features is not None:
                augment = crop_augmenter(boost, fs, features)
        if masking is not None:
            augment = self._with_freq_mask(augment, masking, frontend)
        self.codec = None if codec is None else self._codec_augmenter(codec)
        self.dataset = RandomCropDataset(self.train_table, crop, int(cfg["seed"]), target, augment,
                                         utterance=self.codec)
        self.sampler = ShardedBatchSampler(len(self.train_table), int(data["batch_size"]), ctx.rank,
                                           ctx.world_size, seed=int(cfg["seed"]))
        self.loader = DataLoader(self.dataset, batch_sampler=self.sampler, collate_fn=collate_crops,
                                 num_workers=int(data["num_workers"]),
                                 pin_memory=ctx.device.type == "cuda")

        self.trainer = MultiTaskTrainer(self.model, cfg, distributed=ctx.distributed)
        self.start_epoch = 1
        self.global_step = 0
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None
        self.last_plot = time.perf_counter()
        if checkpoint is None and isinstance(self.model.backbone, SslBackbone) \
                and self.model.backbone.encoder.config.checkpoint:
            self.model.backbone.encoder.load_pretrained()
        try:
            decay = ema.check_decay(train["ema"])
        except ValueError as err:
            raise TrainingError(str(err)) from None
        self.average = ema.WeightAverage(self.model, decay) if decay else None
        if checkpoint is not None:
            self._restore(checkpoint)
        if ctx.is_main:
            self._write_run_files()

    # --- set-up -------------------------------------------------------------------------------
    @staticmethod
    def _with_freq_mask(augment, settings: freq_mask.FreqMaskSettings, frontend):
        """``augment`` (None, or RawBoost/features of the crop) followed by frequency masking."""
        if not frontend.spectral:
            raise TrainingError(f"data.freq_mask masks frequency bins, and the {frontend.name} front end has "
                                "none (a spectrogram front end has: model.frontend spectrogram or "
                                "spectrogram_4ms)")
        try:
            mask = freq_mask.freq_masker(settings, frontend.dim)
        except ValueError as err:
            raise TrainingError(str(err)) from None
        if augment is None:
            return mask
        return lambda crop, rng: mask(augment(crop, rng), rng)

    def _codec_augmenter(self, settings: CodecSettings) -> CodecAugmenter:
        """Codec augmentation over the training audio; its cache defaults to ``<train_dir>/codec_cache``."""
        cache_dir = settings.cache_dir or Path(self.cfg["data"]["train_dir"]) / "codec_cache"
        try:
            augmenter = CodecAugmenter(self.train_table, settings, int(self.cfg["seed"]), cache_dir)
        except ValueError as err:
            raise TrainingError(str(err)) from None
        if any(labels != augmenter.labels for labels in all_gather_objects(augmenter.labels, self.ctx)):
            raise TrainingError("the ranks can run different codecs, so they would draw different variants: "
                                f"this one has {', '.join(augmenter.labels)} (install the same packages)")
        log.info("codec augmentation: %s; probability %g, %d variant(s) per utterance, cache %s (%.2f GB "
                 "when complete)", ", ".join(augmenter.labels), augmenter.probability, augmenter.variants,
                 augmenter.cache_dir, augmenter.planned_bytes / 2**30)
        # One rank fills the (shared) cache before the first step; a worker encodes what a node's lacks.
        if self.ctx.is_main and augmenter.probability > 0:
            try:
                augmenter.prefill(len(os.sched_getaffinity(0)))
            except (CodecError, CodecUnavailable) as err:
                raise TrainingError(f"codec augmentation: {err}") from None
        barrier(self.ctx)
        return augmenter

    @property
    def codec_choices(self) -> list[str]:
        """The codecs variants are drawn from (none without codec augmentation)."""
        return [] if self.codec is None else self.codec.labels

    @property
    def last_path(self) -> Path:
        return self.exp_dir / "last.pt"

    @property
    def best_path(self) -> Path:
        return self.exp_dir / "best.pt"

    def _last_good(self) -> str:
        """The checkpoint a diverged run can fall back to, for error messages."""
        if not self.history:
            return "none (no epoch completed)"
        return f"{self.last_path} (epoch {self.history[-1]['epoch']})"

    def _prepare_exp_dir(self, resume: bool, force: bool) -> dict[str, Any] | None:
        """Clear the directory (``force``) or load ``last.pt`` to resume; refuse a changed config.

        ``last.pt`` is resumed whenever it exists; ``resume`` only makes its absence an error.
        """
        if force:
            if resume:
                raise TrainingError("--resume and --force contradict each other")
            if self.ctx.is_main:
                for name in ("last.pt", "best.pt", "history.tsv", "curves.png"):
                    (self.exp_dir / name).unlink(missing_ok=True)
                shutil.rmtree(self.exp_dir / "checkpoints", ignore_errors=True)
            barrier(self.ctx)
            return None
        if not self.last_path.is_file():
            if resume:
                raise TrainingError(f"--resume: {self.last_path} does not exist")
            return None
        checkpoint = load_checkpoint(self.last_path)
        changes = config_lib.diff(checkpoint["config"], self.cfg, ignore=RESUME_IGNORED)
        if changes:
            raise TrainingError(f"cannot resume {self.last_path}: its config differs in "
                                + "; ".join(changes) + ". Use the same config, or --force to start afresh "
                                "(or another --exp-dir)")
        return checkpoint

    def _restore(self, checkpoint: dict[str, Any]) -> None:
        """Continue from ``last.pt``: weights, optimisers, schedulers, RNG, epoch and history."""
        if checkpoint["speakers"] != self.speakers:
            raise TrainingError(f"cannot resume {self.last_path}: the training speakers changed")
        if checkpoint.get("codec_choices", []) != self.codec_choices:
            raise TrainingError(f"cannot resume {self.last_path}: its codec variants were drawn from "
                                f"{', '.join(checkpoint.get('codec_choices', [])) or 'none'}, this machine "
                                f"can run {', '.join(self.codec_choices) or 'none'} (install the same "
                                "packages, or --force)")
        load_model_state(self.model, checkpoint["model"], str(self.last_path))
        if self.average is not None:
            self.average.load_state_dict(checkpoint["average"])
        self.trainer.load_state_dict(checkpoint["trainer"])
        self.start_epoch = int(checkpoint["epoch"]) + 1
        self.global_step = int(checkpoint["global_step"])
        self.history = list(checkpoint["history"])
        self.best = checkpoint["best"]
        rng = checkpoint["rng"]
        if len(rng) == self.ctx.world_size:
            set_rng_state(rng[self.ctx.rank])
        else:
            log.warning("checkpoint was written by %d rank(s), this run has %d: RNG streams are reseeded, "
                        "so the continuation is not bit-identical", len(rng), self.ctx.world_size)
            seed_everything(int(self.cfg["seed"]) + 7919 * self.start_epoch + self.ctx.rank)
        log.info("resuming %s after epoch %d (global step %d)", self.last_path, self.start_epoch - 1,
                 self.global_step)

    def _write_run_files(self) -> None:
        config_lib.write_config(self.exp_dir / "config.yaml", self.cfg)
        write_run_script(self.exp_dir / "run.sh", self.argv, self.ctx)
        info = model_info(self.model)
        info.update(num_speakers=len(self.speakers), train_utterances=len(self.train_table),
                    dev_utterances=len(self.dev_table), world_size=self.ctx.world_size,
                    device=str(self.ctx.device))
        if self.codec is not None:
            info["codec_augmentation"] = self.codec.summary()
        with atomic_write(self.exp_dir / "model_info.json") as f:
            json.dump(info, f, indent=2)
            f.write("\n")
        log.info("model parameters: %s", ", ".join(f"{k} {v:,}" for k, v in info["parameters"].items()))

    # --- epochs -------------------------------------------------------------------------------
    def run(self) -> dict[str, Any] | None:
        """Train the remaining epochs; return the best epoch's record (``None`` if none ran)."""
        if self.start_epoch > self.epochs:
            log.info("all %d epochs already done in %s", self.epochs, self.exp_dir)
        for epoch in range(self.start_epoch, self.epochs + 1):
            if self._out_of_patience(epoch - 1):
                break
            started = time.perf_counter()
            losses, samples = self._train_epoch(epoch)
            self.trainer.end_epoch()
            dev_eer = self._dev_eer(epoch)
            record = {"epoch": epoch, "train": losses, "dev_eer": dev_eer, "lr": self.trainer.lr,
                      "samples": samples, "seconds": time.perf_counter() - started}
            self.history.append(record)
            improved = self.best is None or dev_eer < self.best["dev_eer"]
            if improved:
                self.best = {"epoch": epoch, "dev_eer": dev_eer}
            log.info("epoch %d/%d: %s | dev EER %.3f%%%s | %.1fs", epoch, self.epochs,
                     " ".join(f"{k} {v:.4g}" for k, v in losses.items()), 100 * dev_eer,
                     " (best)" if improved else "", record["seconds"])
            rng_states = all_gather_objects(get_rng_state(), self.ctx)
            if self.ctx.is_main:
                self._save(epoch, improved, rng_states)
            barrier(self.ctx)
        if self.best is not None and self._out_of_patience(self.history[-1]["epoch"]):
            log.info("early stop: no better dev EER in the %d epochs after epoch %d", self.patience,
                     self.best["epoch"])
        if self.best is not None:
            log.info("best dev EER %.3f%% at epoch %d -> %s", 100 * self.best["dev_eer"], self.best["epoch"],
                     self.best_path)
        return self.best

    def _out_of_patience(self, done: int) -> bool:
        """True when ``train.patience`` epochs have passed since the best dev EER (0: never)."""
        return self.patience > 0 and self.best is not None and done - self.best["epoch"] >= self.patience

    def _train_epoch(self, epoch: int) -> tuple[dict[str, float], int]:
        self.sampler.set_epoch(epoch)
        self.dataset.set_epoch(epoch)
        self.model.train()
        steps = len(self.sampler)
        keys: list[str] | None = None
        totals: torch.Tensor | None = None
        window = torch.zeros(0)
        window_start = time.perf_counter()
        log_every = int(self.cfg["run"]["log_interval"])
        for step, (feats, labels, speakers, _index, *target) in enumerate(self.loader, 1):
            feats = feats.to(self.ctx.device, non_blocking=True)
            out = self.trainer.train_step(feats, labels.to(self.ctx.device), speakers.to(self.ctx.device),
                                          target[0] if target else None)
            self.global_step += 1
            if self.average is not None:
                self.average.update(self.model)
            if keys is None:
                keys = sorted(out)
            elif sorted(out) != keys:
                raise TrainingError(f"train_step returned losses {sorted(out)} at step {step}, "
                                    f"expected {keys}")
            n = len(labels)
            local = torch.tensor([n] + [out[k] * n for k in keys], dtype=torch.float64)
            reduced = all_reduce_sum(local, self.ctx)
            if not torch.isfinite(reduced).all():
                raise TrainingError(f"non-finite loss at epoch {epoch} step {step} (global step "
                                    f"{self.global_step}); this rank's losses {out}; last good checkpoint: "
                                    f"{self._last_good()}")
            totals = reduced if totals is None else totals + reduced
            window = reduced if window.numel() == 0 else window + reduced
            if log_every > 0 and (step % log_every == 0 or step == steps):
                elapsed = max(time.perf_counter() - window_start, 1e-9)
                mean = {k: float(window[i + 1] / window[0]) for i, k in enumerate(keys)}
                log.info("epoch %d step %d/%d: %s | %.1f samples/s | lr %.3g", epoch, step, steps,
                         " ".join(f"{k} {v:.4g}" for k, v in mean.items()), float(window[0]) / elapsed,
                         self.trainer.lr)
                window = torch.zeros(0)
                window_start = time.perf_counter()
        assert keys is not None and totals is not None
        return {k: float(totals[i + 1] / totals[0]) for i, k in enumerate(keys)}, int(totals[0])

    def _dev_eer(self, epoch: int) -> float:
        """Dev EER of the scored model; every rank scores a contiguous share of the dev set."""
        shares = np.array_split(np.arange(len(self.dev_table)), self.ctx.world_size)
        mine = shares[self.ctx.rank]
        scores = score_table(self.scored_model, self.dev_table, self.length, self.hop,
                             int(self.cfg["eval"]["batch_size"]), self.ctx.device, indices=mine,
                             progress=self.ctx.is_main, desc=f"epoch {epoch} dev scoring",
                             policy=self.policy)
        allscores = np.concatenate(all_gather_objects(scores, self.ctx))
        if not np.all(np.isfinite(allscores)):
            raise TrainingError(f"non-finite dev scores after epoch {epoch}; last good checkpoint: "
                                f"{self._last_good()}")
        labels = self.dev_table.labels
        eer, _ = compute_eer(allscores[labels == 0], allscores[labels == 1])
        return float(eer)

    @property
    def scored_model(self) -> MultiTaskModel:
        """What dev scoring sees and best.pt keeps: the weight average (train.ema), else the weights."""
        return self.model if self.average is None else self.average.module

    def _save(self, epoch: int, improved: bool, rng_states: list[dict[str, Any]]) -> None:
        state = {"config": self.cfg, "epoch": epoch, "global_step": self.global_step,
                 "speakers": self.speakers, "model": self.model.state_dict(),
                 "trainer": self.trainer.state_dict(), "rng": rng_states, "history": self.history,
                 "best": self.best, "codec_choices": self.codec_choices}
        if self.average is not None:
            state["average"] = self.average.state_dict()
        save_checkpoint(self.last_path, state)
        model_only = {"config": self.cfg, "epoch": epoch, "speakers": self.speakers,
                      "model": self.scored_model.state_dict(), "dev_eer": self.history[-1]["dev_eer"]}
        if improved:
            save_checkpoint(self.best_path, model_only)
        keep = int(self.cfg["train"]["keep_every"])
        if keep > 0 and epoch % keep == 0:
            save_checkpoint(self.exp_dir / "checkpoints" / f"epoch_{epoch}.pt", model_only)
        write_history(self.exp_dir / "history.tsv", self.history)
        now = time.perf_counter()
        if epoch == self.epochs or now - self.last_plot >= PLOT_INTERVAL_S:
            plot_history(self.exp_dir / "curves.png", self.history, title=self.exp_dir.name)
            self.last_plot = now

"""Train one of the mini corpus's neural vocoders on the bona fide training speech of the default profile.

Usage: python -m ssd.data.mini_la.neural.train --family nsf|wavegen|istft [--steps N] [--seed 0]

The data are the training split's bona fide prompts of the ``default`` profile at corpus seed 0, decoded
from G.722 before the channel: the vocoders never hear a dev or eval prompt (of that build). Training is
seeded and single-process; it writes ``weights/<family>.pt`` (the state dict, tensors only) and
``weights/<family>.json`` (data, settings, loss curve, versions, wall time).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ssd.data.mini_la.corpus import PROFILES, plan, usable_recordings
from ssd.data.mini_la.neural import FAMILIES, Family
from ssd.data.mini_la.neural.features import HOP, f0_condition, frames_of, log_mel, stft_loss
from ssd.data.mini_la.sources import Recording, decode_g722
from ssd.utils.fileio import atomic_write

log = logging.getLogger(__name__)
SEGMENT = 100 * HOP  # 0.5 s
CORPUS_PROFILE, CORPUS_SEED = "default", 0


def training_prompts() -> list[Recording]:
    """The bona fide CM prompts of the default profile's training split (seed 0), in plan order."""
    planned = plan(usable_recordings()[0], PROFILES[CORPUS_PROFILE], CORPUS_SEED, usable=set())
    return [u.source for u in planned if u.split == "train" and u.key == "bonafide"]


class Segments:
    """Random 0.5 s segments of the training audio (starting on a frame), with their F0 frames."""

    def __init__(self, waves: list[np.ndarray], f0s: list[np.ndarray], rng: np.random.Generator):
        keep = [i for i, w in enumerate(waves) if len(w) > SEGMENT + HOP]
        self.waves, self.f0s, self.rng = [waves[i] for i in keep], [f0s[i] for i in keep], rng

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        waves, f0s = [], []
        for i in self.rng.integers(len(self.waves), size=size):
            frame = int(self.rng.integers((len(self.waves[i]) - SEGMENT) // HOP))
            waves.append(self.waves[i][frame * HOP : frame * HOP + SEGMENT])
            f0s.append(self.f0s[i][frame : frame + frames_of(SEGMENT)])
        return torch.from_numpy(np.stack(waves)), torch.from_numpy(np.stack(f0s))


def train(family: Family, steps: int, batch_size: int, seed: int) -> tuple[torch.nn.Module, dict]:
    """Train ``family`` from scratch; returns the model and its training card."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    prompts = training_prompts()
    waves = [decode_g722(r.path).astype(np.float32) for r in prompts]
    data = Segments(waves, [f0_condition(w, family.uses_f0) for w in waves], rng)
    model = family.build()
    optimiser = torch.optim.Adam(model.parameters(), lr=family.lr, betas=(0.8, 0.99))
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps, eta_min=family.lr / 20)
    curve, running, start = [], 0.0, time.monotonic()
    for step in range(1, steps + 1):
        wave, f0 = data.batch(batch_size)
        noise = torch.randn(batch_size, frames_of(SEGMENT) * HOP)
        predicted = model(log_mel(wave), f0, noise)[:, :SEGMENT]
        loss = stft_loss(predicted, wave)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimiser.step()
        schedule.step()
        running += loss.item()
        if step % 50 == 0:
            curve.append([step, round(running / 50, 5)])
            log.info("%s step %d/%d: loss %.4f (%.0f s)", family.name, step, steps, running / 50,
                     time.monotonic() - start)
            running = 0.0
    names = "\n".join(f"{r.voice}/{r.name}" for r in prompts)
    return model, {
        "family": family.name, "architecture": type(model).__name__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "data": {"corpus_profile": CORPUS_PROFILE, "corpus_seed": CORPUS_SEED, "split": "train",
                 "prompts": len(prompts), "seconds": round(sum(len(w) for w in waves) / 16000, 1),
                 "prompt_list_sha256": hashlib.sha256(names.encode()).hexdigest()},
        "training": {"steps": steps, "batch_size": batch_size, "segment_samples": SEGMENT, "seed": seed,
                     "optimiser": "Adam(betas 0.8, 0.99), cosine to lr/20, grad clip 10", "lr": family.lr,
                     "loss": "multi-resolution STFT (256/512/1024)", "threads": torch.get_num_threads(),
                     "wall_seconds": round(time.monotonic() - start, 1)},
        "loss_curve": curve,
        "versions": {"torch": torch.__version__, "python": platform.python_version()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", required=True, choices=sorted(FAMILIES))
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out-dir", type=Path, default=None, help="default: the package's weights/")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    torch.set_num_threads(args.threads)
    family = FAMILIES[args.family]
    model, card = train(family, args.steps, args.batch_size, args.seed)
    out_dir = args.out_dir or family.weights.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(out_dir / family.weights.name, "wb") as f:
        torch.save(model.state_dict(), f)
    with atomic_write(out_dir / family.card.name) as f:
        json.dump(card, f, indent=1)
        f.write("\n")
    log.info("wrote %s (%d parameters)", out_dir / family.weights.name, card["parameters"])
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Two CPU processes (gloo): every rank holds the same weights, buffers and optimiser state after every
step, including steps where one rank's shard has no bona fide or no spoof sample."""

import os

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from task_helpers import MINI, NUM_SPEAKERS

from ssd.tasks.multitask import MultiTaskModel, MultiTaskTrainer

# per step, the labels of rank 0's and rank 1's shards
SHARDS = [
    ([1, 1, 1, 1], [0, 0, 1, 0]),  # rank 0: no bona fide
    ([0, 1, 1, 1], [0, 0, 0, 0]),  # rank 0: a single bona fide (no speaker-head step there); rank 1: no spoof
    ([0, 1, 0, 1], [1, 1, 0, 1]),
]


def _worker(rank: int, world: int, tmp: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{tmp}/pg", rank=rank, world_size=world)
    try:
        for efficient in (True, False):
            torch.manual_seed(100 + rank)  # different initial weights: the trainer must broadcast rank 0's
            cfg = {**MINI, "train": {"efficient_step": efficient}}
            model = MultiTaskModel(cfg, num_speakers=NUM_SPEAKERS)
            trainer = MultiTaskTrainer(model, cfg, distributed=True)
            g = torch.Generator().manual_seed(7 + rank)  # different data on each rank
            for step, shards in enumerate(SHARDS):
                labels = torch.tensor(shards[rank])
                feats = torch.randn(len(labels), 60, 24, generator=g)
                speakers = torch.randint(0, NUM_SPEAKERS, (len(labels),), generator=g)
                trainer.train_step(feats, labels, speakers)
                torch.save({"model": model.state_dict(), "trainer": trainer.state_dict()},
                           os.path.join(tmp, f"{efficient}_rank{rank}_step{step}.pt"))
    finally:
        dist.destroy_process_group()


def _flatten(obj, prefix=""):
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    if isinstance(obj, list | tuple):
        return _flatten(dict(enumerate(obj)), prefix)
    return {prefix: obj}


def test_two_gloo_ranks_hold_identical_state_after_every_step(tmp_path):
    """Efficient and reference steps alike (one spawn runs both, to keep the test short)."""
    mp.spawn(_worker, args=(2, str(tmp_path)), nprocs=2, join=True)
    for efficient in (True, False):
        previous = None
        for step in range(len(SHARDS)):
            states = [torch.load(tmp_path / f"{efficient}_rank{r}_step{step}.pt", weights_only=True)
                      for r in range(2)]
            a, b = _flatten(states[0]), _flatten(states[1])
            assert a.keys() == b.keys()
            differing = [k for k in a
                         if (not torch.equal(a[k], b[k]) if torch.is_tensor(a[k]) else a[k] != b[k])]
            assert differing == [], f"efficient={efficient} step {step}: ranks differ in {differing[:5]}"
            model = states[0]["model"]
            if previous is not None:  # and training does move every player
                for part in ("backbone.", "decoder.", "converter.", "speaker_head.", "cm_loss."):
                    moved = any(not torch.equal(v, previous[k])
                                for k, v in model.items() if k.startswith(part))
                    assert moved, f"efficient={efficient} step {step}: {part} did not change"
            previous = model

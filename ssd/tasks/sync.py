"""Keeping every rank's copy of the multi-task model identical under torch.distributed.

The step runs the backbone two or three times per backward, takes the converter's gradients with a
partial backward, and skips a task on a rank whose shard lacks bona fide or spoof samples.
DistributedDataParallel's reducer assumes one forward per backward and the same parameters used on
every rank, so instead each player's gradients are averaged explicitly, exactly as DDP averages
them: mean over ranks, a rank without a gradient for a parameter contributing zeros, and a parameter
without a gradient on every rank keeping none (so Adam skips it as it would in one process).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.distributed as dist
from torch import nn


def world_size() -> int:
    """Number of ranks of the initialised default process group (1 when none)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def average_gradients(params: Iterable[nn.Parameter], bucket_bytes: int = 32 << 20) -> None:
    """All-reduces the ``.grad`` of ``params`` to their mean over ranks, in flat buckets.

    Every rank must call this with the same parameter list, in the same order.
    """
    params = [p for p in params if p.requires_grad]
    if not params:
        return
    n = world_size()
    device = params[0].device
    present = torch.tensor([p.grad is not None for p in params], dtype=torch.float32, device=device)
    dist.all_reduce(present)
    used = [p for p, k in zip(params, present.tolist(), strict=True) if k > 0]
    for p, k in zip(params, present.tolist(), strict=True):
        if k == 0:
            p.grad = None
    bucket: list[nn.Parameter] = []
    size = 0
    for p in used:
        bucket.append(p)
        size += p.numel() * p.element_size()
        if size >= bucket_bytes:
            _reduce_bucket(bucket, n)
            bucket, size = [], 0
    if bucket:
        _reduce_bucket(bucket, n)


def _reduce_bucket(params: list[nn.Parameter], n: int) -> None:
    flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params])
    dist.all_reduce(flat)
    flat /= n
    offset = 0
    for p in params:
        chunk = flat[offset:offset + p.numel()].view_as(p)
        if p.grad is None:
            p.grad = chunk.clone()
        else:
            p.grad.copy_(chunk)
        offset += p.numel()


def broadcast_state(module: nn.Module, src: int = 0) -> None:
    """Copies rank ``src``'s parameters and buffers to every rank (start of training, like DDP).

    Tensors are broadcast in one flat buffer per dtype: one collective each instead of hundreds.
    """
    by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
    for t in list(module.parameters()) + list(module.buffers()):
        by_dtype.setdefault(t.dtype, []).append(t)
    with torch.no_grad():
        for tensors in by_dtype.values():
            flat = torch.cat([t.detach().reshape(-1) for t in tensors])
            dist.broadcast(flat, src)
            offset = 0
            for t in tensors:
                t.copy_(flat[offset:offset + t.numel()].view_as(t))
                offset += t.numel()


def average_batchnorm_stats(module: nn.Module) -> None:
    """Averages BatchNorm running means/variances over ranks; batch counters take the maximum.

    Used with plain BatchNorm (CPU) so that the whole state dict, buffers included, is identical on
    all ranks after each step; SyncBatchNorm keeps them identical by itself.
    """
    n = world_size()
    floats, counts = [], []
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats:
            floats += [m.running_mean, m.running_var]
            counts.append(m.num_batches_tracked)
    if not floats:
        return
    flat = torch.cat([t.reshape(-1) for t in floats])
    dist.all_reduce(flat)
    flat /= n
    offset = 0
    for t in floats:
        t.copy_(flat[offset:offset + t.numel()].view_as(t))
        offset += t.numel()
    stacked = torch.stack(counts)
    dist.all_reduce(stacked, op=dist.ReduceOp.MAX)
    for t, v in zip(counts, stacked, strict=True):
        t.copy_(v)


def all_sum(values: list[int], device: torch.device) -> list[int]:
    """Sums small integer counts over ranks."""
    t = torch.tensor(values, dtype=torch.int64, device=device)
    dist.all_reduce(t)
    return [int(v) for v in t.tolist()]

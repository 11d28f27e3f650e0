"""torch.distributed set-up from the launcher's environment: torchrun, Slurm's srun, or none.

* ``torchrun`` (and ``python -m torch.distributed.run``) sets ``RANK``, ``WORLD_SIZE``,
  ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; they are used as they are.
* ``srun`` sets ``SLURM_PROCID``, ``SLURM_NTASKS`` (``SLURM_STEP_NUM_TASKS`` inside a step),
  ``SLURM_LOCALID`` and the node list; the master is the first node of the list and the port is
  ``MASTER_PORT`` if set, else derived from the job id so that concurrent jobs do not collide.
* Otherwise the run is a single process.

The backend is NCCL on CUDA devices and gloo on CPU. Each process uses the GPU numbered by its local
rank among those visible to it; no device id is written anywhere else.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: its rank, the world size, its local rank and its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def distributed(self) -> bool:
        """Whether a process group is in use (more than one process)."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 writes logs, checkpoints and outputs."""
        return self.rank == 0


@dataclass(frozen=True)
class LaunchEnv:
    """Rank information read from a launcher's environment variables."""

    rank: int
    world_size: int
    local_rank: int
    master_addr: str
    master_port: str


def expand_nodelist(nodelist: str) -> list[str]:
    """Expand a Slurm node list such as ``gpu[01-03,07],cpu5`` into host names, in order."""
    hosts: list[str] = []
    for item in re.findall(r"[^,\[]+(?:\[[^\]]*\])?[^,]*", nodelist):
        m = re.fullmatch(r"([^\[]*)\[([^\]]*)\](.*)", item)
        if not m:
            hosts.append(item)
            continue
        prefix, ranges, suffix = m.groups()
        for part in ranges.split(","):
            lo, _, hi = part.partition("-")
            if not hi:
                hosts.append(f"{prefix}{lo}{suffix}")
                continue
            for n in range(int(lo), int(hi) + 1):
                hosts.append(f"{prefix}{n:0{len(lo)}d}{suffix}")
    return hosts


def _first_slurm_host(nodelist: str) -> str:
    """First host of a node list, asking ``scontrol`` when it exists (it knows every syntax)."""
    try:
        out = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True,
                             text=True, check=True, timeout=30).stdout.split()
        if out:
            return out[0]
    except (OSError, subprocess.SubprocessError):
        pass
    return expand_nodelist(nodelist)[0]


def launch_env(env: Mapping[str, str] | None = None) -> LaunchEnv | None:
    """Read the launcher's variables; ``None`` for a single process."""
    env = os.environ if env is None else env
    if "WORLD_SIZE" in env and "RANK" in env:
        return LaunchEnv(int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", "0")),
                         env.get("MASTER_ADDR", "127.0.0.1"), env.get("MASTER_PORT", "29500"))
    ntasks = int(env.get("SLURM_STEP_NUM_TASKS", env.get("SLURM_NTASKS", "1")))
    if "SLURM_PROCID" in env and ntasks > 1:
        nodelist = env.get("SLURM_STEP_NODELIST", env.get("SLURM_JOB_NODELIST", env.get("SLURM_NODELIST")))
        if not nodelist:
            raise RuntimeError("Slurm multi-task run without SLURM_JOB_NODELIST: cannot find the master node")
        port = env.get("MASTER_PORT", str(20000 + int(env.get("SLURM_JOB_ID", "0")) % 20000))
        return LaunchEnv(int(env["SLURM_PROCID"]), ntasks, int(env.get("SLURM_LOCALID", "0")),
                         env.get("MASTER_ADDR", _first_slurm_host(nodelist)), port)
    return None


def pick_device(device: str, local_rank: int) -> torch.device:
    """Resolve ``auto|cpu|cuda`` to this process's device (``cuda:<local rank>``)."""
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {device!r}")
    if device == "cpu" or (device == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise RuntimeError("device cuda requested but torch sees no CUDA device")
    count = torch.cuda.device_count()
    if local_rank >= count:
        raise RuntimeError(f"local rank {local_rank} needs GPU {local_rank}, but only {count} are visible")
    torch.cuda.set_device(local_rank)
    return torch.device("cuda", local_rank)


def init_distributed(device: str = "auto", env: Mapping[str, str] | None = None) -> DistContext:
    """Join the process group the launcher describes (if any) and pick this process's device."""
    launch = launch_env(env)
    if launch is None:
        return DistContext(0, 1, 0, pick_device(device, 0))
    dev = pick_device(device, launch.local_rank)
    if not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend, init_method=f"tcp://{launch.master_addr}:{launch.master_port}",
                                rank=launch.rank, world_size=launch.world_size,
                                device_id=dev if dev.type == "cuda" else None)
    return DistContext(launch.rank, launch.world_size, launch.local_rank, dev)


def shutdown() -> None:
    """Leave the process group, if one was joined."""
    if dist.is_initialized():
        dist.destroy_process_group()


def all_gather_objects(obj: Any, ctx: DistContext) -> list[Any]:
    """Every rank's ``obj``, in rank order (just ``[obj]`` for a single process)."""
    if not ctx.distributed:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def all_reduce_sum(values: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Sum a small float tensor over ranks (a copy; the input is left alone)."""
    total = values.detach().clone().to(torch.float64)
    if ctx.distributed:
        if ctx.device.type == "cuda":
            total = total.to(ctx.device)
        dist.all_reduce(total)
    return total.cpu()


def barrier(ctx: DistContext) -> None:
    """Wait for every rank (no-op for a single process)."""
    if ctx.distributed:
        dist.barrier()

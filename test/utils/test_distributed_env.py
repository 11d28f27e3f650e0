"""ssd.utils.distributed: launcher environments (torchrun, Slurm) and device choice, without a cluster."""

from __future__ import annotations

import pytest
import torch

from ssd.utils.distributed import LaunchEnv, expand_nodelist, init_distributed, launch_env, pick_device


@pytest.mark.parametrize("nodelist, hosts", [
    ("node001", ["node001"]),
    ("gpu[01-03,07],cpu5", ["gpu01", "gpu02", "gpu03", "gpu07", "cpu5"]),
    ("a[8-10]", ["a8", "a9", "a10"]),
    ("rack1-n[1,3]-ib,login", ["rack1-n1-ib", "rack1-n3-ib", "login"]),
])
def test_expand_nodelist(nodelist: str, hosts: list[str]) -> None:
    assert expand_nodelist(nodelist) == hosts


def test_torchrun_environment() -> None:
    env = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "MASTER_ADDR": "h1", "MASTER_PORT": "1234",
           "SLURM_PROCID": "0", "SLURM_NTASKS": "8"}
    assert launch_env(env) == LaunchEnv(3, 4, 1, "h1", "1234")  # torchrun inside a Slurm job wins


def test_slurm_environment_uses_first_node_and_job_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # no scontrol: the node list is parsed here
    env = {"SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1", "SLURM_JOB_ID": "123456",
           "SLURM_JOB_NODELIST": "gpu[07-10]"}
    assert launch_env(env) == LaunchEnv(5, 8, 1, "gpu07", str(20000 + 123456 % 20000))
    assert launch_env({**env, "MASTER_PORT": "2999", "SLURM_STEP_NUM_TASKS": "4"}).master_port == "2999"
    assert launch_env({**env, "SLURM_STEP_NUM_TASKS": "4"}).world_size == 4


def test_single_process_environments() -> None:
    assert launch_env({}) is None
    assert launch_env({"SLURM_PROCID": "0", "SLURM_NTASKS": "1"}) is None
    ctx = init_distributed("cpu", env={})
    assert (ctx.rank, ctx.world_size, ctx.distributed, ctx.is_main, ctx.device) == (
        0, 1, False, True, torch.device("cpu"))


def test_device_choice() -> None:
    assert pick_device("cpu", 3) == torch.device("cpu")
    with pytest.raises(ValueError, match="device must be"):
        pick_device("tpu", 0)
    if not torch.cuda.is_available():
        assert pick_device("auto", 0) == torch.device("cpu")
        with pytest.raises(RuntimeError, match="no CUDA device"):
            pick_device("cuda", 0)

"""The recipe on a real Slurm (--cmd-backend slurm): same features and scores as the local backend, and
two-rank DDP training launched by slurm.pl with srun.

Needs the single-node test cluster (test/shell/slurm_cluster.sh start, as root); skipped without it,
except under CI=true where it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import kaldiio
import numpy as np
import pytest
from helpers import TINY_TRAINING, TRACED_TRAIN, link_recipe, run_recipe

from ssd.data.dataset import FeatureTable

TEST_SLURM_CONF = Path(os.environ.get("SSD_SLURM_DIR", "/tmp/ssd-slurm")) / "etc" / "slurm.conf"


@pytest.fixture(scope="module")
def slurm_env() -> dict[str, str]:
    env = dict(os.environ)
    if "SLURM_CONF" not in env and not Path("/etc/slurm/slurm.conf").exists() and TEST_SLURM_CONF.exists():
        env["SLURM_CONF"] = str(TEST_SLURM_CONF)
    try:
        up = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=20, env=env)
        ok = up.returncode == 0 and "UP" in up.stdout
    except (FileNotFoundError, subprocess.TimeoutExpired):
        ok = False
    if not ok:
        reason = "no Slurm controller answers: start one with test/shell/slurm_cluster.sh start (as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    return env


@pytest.fixture(scope="module")
def slurm_recipe(tmp_path_factory, repo_root, trained_recipe, slurm_env) -> Path:
    """Stages 2-4 of the trained recipe's data again, every job submitted through slurm.pl."""
    recipe = link_recipe(tmp_path_factory.mktemp("slurm_recipe"))
    os.symlink(trained_recipe / "downloads", recipe / "downloads")
    shutil.copytree(trained_recipe / "data", recipe / "data")
    # The option, not an environment variable: cm.sh once parsed it after cmd.sh had set the launchers.
    result = run_recipe(recipe, "--stage", "2", "--stop-stage", "4", "--cmd-backend", "slurm", *TINY_TRAINING,
                        env=slurm_env)
    assert result.returncode == 0, result.stdout + result.stderr[-5000:]
    return recipe


def test_jobs_went_through_slurm(slurm_recipe):
    scripts = list((slurm_recipe / "dump" / "lfcc" / "eval" / "log" / "q").glob("*.sh"))
    assert scripts and "sbatch" in scripts[0].read_text()
    assert (slurm_recipe / "exp" / "ocsoftmax_vanilla" / "q").is_dir()


def test_same_features_as_local(slurm_recipe, trained_recipe):
    for subset in ("train", "dev", "eval"):
        local = dict(kaldiio.load_scp_sequential(str(trained_recipe / "dump/lfcc" / subset / "feats.scp")))
        slurm = dict(kaldiio.load_scp_sequential(str(slurm_recipe / "dump/lfcc" / subset / "feats.scp")))
        assert local.keys() == slurm.keys()
        assert all(np.array_equal(local[u], slurm[u]) for u in local)


def test_same_scores_as_local(slurm_recipe, trained_recipe):
    for tag in ("ocsoftmax_vanilla", "ocsoftmax_all"):
        for subset in ("dev", "eval"):
            local = np.array([float(line.split()[3]) for line in
                              (trained_recipe / "exp" / tag / "scores" / f"{subset}.txt").open()])
            slurm = np.array([float(line.split()[3]) for line in
                              (slurm_recipe / "exp" / tag / "scores" / f"{subset}.txt").open()])
            assert np.abs(local - slurm).max() < 1e-5, f"{tag} {subset}"


def test_two_rank_ddp_through_slurm(trained_recipe, slurm_env, tmp_path, repo_root):
    # test/traced_train.py: ssd.bin.train with a test-side recorder of batches and per-step state hashes.
    trace = tmp_path / "trace"
    exp = tmp_path / "exp"
    train = trained_recipe / "dump" / "lfcc" / "train"
    cmd = [str(repo_root / "utils" / "slurm.pl"), "--config", "conf/slurm.conf", "--ntasks-per-node", "2",
           str(tmp_path / "ddp.log"), "srun", "python", str(TRACED_TRAIN),
           "--trace", str(trace),
           "--config", "conf/train_ocsoftmax_all.yaml", "--base", "conf/train_mini.yaml", "--epochs", "2",
           "--run.threads", "1", "--train-dir", str(train),
           "--dev-dir", str(trained_recipe / "dump" / "lfcc" / "dev"), "--exp-dir", str(exp)]
    proc = subprocess.run(cmd, cwd=trained_recipe, capture_output=True, text=True, timeout=900,
                          env=slurm_env)
    assert proc.returncode == 0, proc.stderr + (tmp_path / "ddp.log").read_text()[-5000:]
    ranks = [json.loads((trace / f"rank{r}.json").read_text()) for r in range(2)]
    utts = FeatureTable.from_dir(train).utts
    for epoch in ("1", "2"):
        a, b = ranks[0]["epochs"][epoch], ranks[1]["epochs"][epoch]
        assert not set(a) & set(b) and sorted(a + b) == sorted(utts), f"epoch {epoch}: not a partition"
    assert ranks[0]["step_hashes"] and ranks[0]["step_hashes"] == ranks[1]["step_hashes"]
    assert json.loads((exp / "model_info.json").read_text())["world_size"] == 2


def test_sharded_inference_through_slurm_is_byte_identical(slurm_recipe, slurm_env):
    """Stage 4 as 3 Slurm jobs, each a share of the set's batches: the merged file is the one job's."""
    scores = slurm_recipe / "exp" / "ocsoftmax_vanilla" / "scores" / "eval.txt"
    single = scores.read_bytes()
    result = run_recipe(slurm_recipe, "--stage", "4", "--stop-stage", "4", "--cmd-backend", "slurm",
                        *TINY_TRAINING, "--variants", "vanilla", "--test-sets", "eval", "--inference-nj", "3",
                        env=slurm_env)
    assert result.returncode == 0, result.stdout + result.stderr[-5000:]
    assert len(list((slurm_recipe / "exp" / "ocsoftmax_vanilla" / "log").glob("infer_eval.*.log"))) >= 3
    assert scores.read_bytes() == single

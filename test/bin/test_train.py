"""ssd.bin.train end to end on tiny real ark/scp dumps: every variant, resume, divergence, DDP."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import torch
import yaml
from helpers import (
    ONE_THREAD,
    TRACED_TRAIN,
    kill_group,
    run_python,
    start,
    train_argv,
    wait_until,
    write_dump,
)

from ssd.bin.train import main
from ssd.data.dataset import FeatureTable, RandomCropDataset
from ssd.data.sampler import ShardedBatchSampler
from ssd.utils.checkpoint import load_checkpoint

VARIANT_MODULES = {"vanilla": set(), "recon": {"decoder"}, "conv": {"converter"}, "spk": {"speaker_head"},
                   "all": {"decoder", "converter", "speaker_head"}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("variant", list(VARIANT_MODULES))
def test_each_variant_trains_and_writes_its_experiment_dir(dumps: dict[str, Path], tmp_path: Path,
                                                           variant: str) -> None:
    exp = tmp_path / variant
    main(train_argv(dumps, exp, variant))
    assert {p.name for p in exp.iterdir()} == {"config.yaml", "run.sh", "model_info.json", "last.pt",
                                               "best.pt", "history.tsv", "curves.png"}
    cfg = yaml.safe_load((exp / "config.yaml").read_text())
    assert cfg["data"]["train_dir"] == str(dumps["train"]) and cfg["model"]["input_length"] == 32
    info = json.loads((exp / "model_info.json").read_text())
    assert set(info["parameters"]) == {"backbone", "cm_loss"} | VARIANT_MODULES[variant]
    assert info["total"] == sum(info["parameters"].values()) and info["num_speakers"] == 4
    last = load_checkpoint(exp / "last.pt")
    assert last["epoch"] == 2 and last["global_step"] == 10 and last["speakers"][0] == "LA_0001"
    history = last["history"]
    assert [h["epoch"] for h in history] == [1, 2]
    for h in history:
        assert all(np.isfinite(v) for v in h["train"].values()) and 0.0 <= h["dev_eer"] <= 0.5
        assert h["samples"] == 40
    best = load_checkpoint(exp / "best.pt")
    assert best["dev_eer"] == min(h["dev_eer"] for h in history)
    assert best["epoch"] == min(history, key=lambda h: h["dev_eer"])["epoch"]
    assert {k.split(".")[0] for k in best["model"]} == {"backbone", "cm_loss"} | VARIANT_MODULES[variant]
    rows = (exp / "history.tsv").read_text().splitlines()
    assert len(rows) == 3 and rows[0].startswith("epoch\tlr\t")
    assert (exp / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "ssd.bin.train" in (exp / "run.sh").read_text()


def test_print_config_and_errors(dumps: dict[str, Path], tmp_path: Path,
                                 capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(train_argv(dumps, tmp_path / "x", "recon", "ocsoftmax", "--lambda-r", "0.5", "--print_config"))
    assert exit_info.value.code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["tasks"]["recon"]["weight"] == 0.5 and printed["model"]["input_length"] == 32
    assert not (tmp_path / "x").exists()
    with pytest.raises(SystemExit) as exit_info:
        main(train_argv(dumps, tmp_path / "x", "recon", "ocsoftmax", "--tasks.recon.wieght", "0.5"))
    assert exit_info.value.code == 2
    assert "--tasks.recon.wieght" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(train_argv(dumps, tmp_path / "y", "vanilla", "ocsoftmax", "--resume"))
    assert exit_info.value.code == 1
    assert "last.pt does not exist" in capsys.readouterr().err


def test_resume_after_kill_is_bitwise_identical(dumps: dict[str, Path], tmp_path: Path) -> None:
    main(train_argv(dumps, tmp_path / "whole", "all"))  # in this process: one thread, as the others
    # The same run as a real process, held after global step 7 (epoch 2, step 2: last.pt of epoch 1 is on
    # disk) and SIGKILLed there from outside.
    log, held = tmp_path / "killed.log", tmp_path / "held"
    proc = start([sys.executable, str(TRACED_TRAIN), "--hold-after-step", "7", str(held),
                  *train_argv(dumps, tmp_path / "split", "all")], log)
    wait_until(held.exists, proc, log, "the run held after step 7")
    assert kill_group(proc) == -signal.SIGKILL
    assert load_checkpoint(tmp_path / "split" / "last.pt")["epoch"] == 1
    assert len((tmp_path / "split" / "history.tsv").read_text().splitlines()) == 2  # header + epoch 1
    resumed = run_python("ssd.bin.train", *train_argv(dumps, tmp_path / "split", "all"))
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr
    a, b = load_checkpoint(tmp_path / "whole" / "last.pt"), load_checkpoint(tmp_path / "split" / "last.pt")
    assert a["epoch"] == b["epoch"] == 2 and a["global_step"] == b["global_step"] == 10
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    assert a["history"][-1]["train"] == b["history"][-1]["train"]
    for name, opt in a["trainer"]["optimisers"].items():
        for pid, st in opt["state"].items():
            for k, v in st.items():
                assert torch.equal(v, b["trainer"]["optimisers"][name]["state"][pid][k]), (name, pid, k)
    assert a["trainer"]["schedulers"] == b["trainer"]["schedulers"]


def test_resume_refuses_another_config_and_force_restarts(dumps: dict[str, Path], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    exp = tmp_path / "exp"
    main(train_argv(dumps, exp, "vanilla", "ocsoftmax", "--epochs", "1"))
    main(train_argv(dumps, exp, "vanilla", "ocsoftmax", "--epochs", "1"))  # done: resumes, nothing to do
    assert "all 1 epochs already done" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(train_argv(dumps, exp, "recon", "ocsoftmax", "--epochs", "1", "--lambda-r", "0.1"))
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "config differs" in err and "tasks.recon.weight: 0.0 -> 0.1" in err
    main(train_argv(dumps, exp, "recon", "ocsoftmax", "--epochs", "1", "--force"))
    assert any(k.startswith("decoder.") for k in load_checkpoint(exp / "best.pt")["model"])
    main(train_argv(dumps, exp, "recon", "ocsoftmax", "--epochs", "2", "--run.log_interval", "1"))
    assert load_checkpoint(exp / "last.pt")["epoch"] == 2  # more epochs: resumed and extended


def test_divergence_stops_naming_step_and_last_good_checkpoint(dumps: dict[str, Path], tmp_path: Path,
                                                               capsys: pytest.CaptureFixture) -> None:
    # Poison one frame that epoch 2's crop of a long utterance covers but epoch 1's does not.
    train = write_dump(tmp_path / "train", 40, ["LA_0001", "LA_0002"], seed=0, frames=(60, 80))
    crops = RandomCropDataset(FeatureTable.from_dir(train), crop_frames=32, seed=0)
    crops.set_epoch(1)
    first = int(crops.offsets[0])
    crops.set_epoch(2)
    second = int(crops.offsets[0])
    frame = next(f for f in range(second, second + 32) if not first <= f < first + 32)
    feats = {utt: mat.copy() for utt, mat in kaldiio.load_scp_sequential(str(train / "feats.scp"))}
    feats["U0000"][frame, 3] = np.inf
    kaldiio.save_ark(str(train / "feats.ark"), feats, scp=str(train / "feats.scp"))
    exp = tmp_path / "exp"
    argv = train_argv({**dumps, "train": train}, exp, "vanilla")
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "non-finite loss at epoch 2 step" in err
    assert f"last good checkpoint: {exp / 'last.pt'} (epoch 1)" in err
    assert load_checkpoint(exp / "last.pt")["epoch"] == 1
    best = load_checkpoint(exp / "best.pt")
    assert best["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in best["model"].values() if v.is_floating_point())


def test_two_process_ddp_on_cpu(dumps: dict[str, Path], tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    exp = tmp_path / "ddp"
    launcher = ["-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port())]
    # test/traced_train.py: ssd.bin.train with a test-side recorder of batches and per-step state hashes.
    proc = subprocess.run([sys.executable, *launcher, str(TRACED_TRAIN), "--trace", str(trace),
                           *train_argv(dumps, exp, "all", "ocsoftmax", "--epochs", "3")],
                          env={**os.environ, **ONE_THREAD}, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((trace / f"rank{r}.json").read_text()) for r in range(2)]
    utts = FeatureTable.from_dir(dumps["train"]).utts  # every sample exactly once per epoch:
    for epoch in ("1", "2", "3"):
        a, b = ranks[0]["epochs"][epoch], ranks[1]["epochs"][epoch]
        assert not set(a) & set(b) and sorted(a + b) == utts, f"epoch {epoch}: not a partition"
    assert len(ranks[0]["step_hashes"]) == 15
    table = FeatureTable.from_dir(dumps["train"])
    one_class_shards = 0
    for epoch in (1, 2, 3):
        for rank in (0, 1):
            sampler = ShardedBatchSampler(len(table), 8, rank, 2, seed=0)
            sampler.set_epoch(epoch)
            one_class_shards += sum(len(set(table.labels[batch].tolist())) == 1 for batch in sampler)
    assert one_class_shards > 0, "the run should include a rank whose shard lacks a class"
    assert ranks[0]["step_hashes"] == ranks[1]["step_hashes"], "ranks hold different weights after a step"
    history = load_checkpoint(exp / "last.pt")["history"]
    assert history[-1]["train"]["cm"] < history[0]["train"]["cm"]
    assert all(h["samples"] == 40 for h in history)
    assert not [line for line in proc.stderr.splitlines() if "[rank 1]" in line and "INFO" in line]
    info = json.loads((exp / "model_info.json").read_text())
    assert info["world_size"] == 2


def test_early_stopping_after_patience_epochs_and_on_resume(dumps: dict[str, Path], tmp_path: Path,
                                                            capsys: pytest.CaptureFixture) -> None:
    """Near-frozen weights (lr 0; only batch-norm statistics move) soon stop improving the dev EER:
    the run stops ``patience`` epochs after its best, a resume with the same patience trains nothing,
    a larger patience trains on from where it stopped."""
    exp = tmp_path / "exp"
    frozen = ("--epochs", "30", "--optim.lr", "0", "--optim.centre_lr", "0", "--optim.aux_lr", "0")
    main(train_argv(dumps, exp, "vanilla", "ocsoftmax", *frozen, "--train.patience", "2"))
    last = load_checkpoint(exp / "last.pt")
    stopped, best = last["epoch"], last["best"]["epoch"]
    assert stopped - best == 2 and stopped < 30
    assert f"early stop: no better dev EER in the 2 epochs after epoch {best}" in capsys.readouterr().err
    assert load_checkpoint(exp / "best.pt")["epoch"] == best
    main(train_argv(dumps, exp, "vanilla", "ocsoftmax", *frozen, "--train.patience", "2"))
    assert load_checkpoint(exp / "last.pt")["epoch"] == stopped
    main(train_argv(dumps, exp, "vanilla", "ocsoftmax", *frozen, "--train.patience", "5"))
    last = load_checkpoint(exp / "last.pt")
    assert last["epoch"] > stopped and (last["epoch"] - last["best"]["epoch"] == 5 or last["epoch"] == 30)
    assert len((exp / "history.tsv").read_text().splitlines()) == 1 + last["epoch"]


def test_run_scores_and_keeps_the_average_and_resumes_it_exactly(dumps: dict[str, Path],
                                                                 tmp_path: Path) -> None:
    ema = ["--train.ema", "0.8"]
    main(train_argv(dumps, tmp_path / "whole", "recon", "ocsoftmax", *ema))
    main(train_argv(dumps, tmp_path / "split", "recon", "ocsoftmax", *ema, "--epochs", "1"))
    shutil.copy(tmp_path / "split" / "last.pt", tmp_path / "epoch1.pt")
    main(train_argv(dumps, tmp_path / "split", "recon", "ocsoftmax", *ema, "--epochs", "2"))
    whole, split = (load_checkpoint(tmp_path / name / "last.pt") for name in ("whole", "split"))
    assert whole["average"]["updates"] == whole["global_step"] == 10
    for key, value in whole["average"]["model"].items():
        assert torch.equal(value, split["average"]["model"][key]), key
    assert whole["history"] == [{**h, "seconds": w["seconds"]} for h, w in
                                zip(split["history"], whole["history"], strict=True)]
    # The kept model is the average of the best epoch, not the weights the optimiser left there.
    best = load_checkpoint(tmp_path / "whole" / "best.pt")
    at_best = whole if best["epoch"] == 2 else load_checkpoint(tmp_path / "epoch1.pt")
    assert best["model"].keys() == at_best["model"].keys()
    for key, value in best["model"].items():
        assert torch.equal(value, at_best["average"]["model"][key]), key
    assert any(not torch.equal(v, at_best["model"][k]) for k, v in best["model"].items()
               if v.dtype.is_floating_point)
    with pytest.raises(SystemExit):
        main(train_argv(dumps, tmp_path / "split", "recon", "ocsoftmax", "--train.ema", "0.9"))

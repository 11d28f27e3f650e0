"""bench/gpu.sh must work the first time it meets a GPU: its CPU dry run goes through every part."""

import os
import shutil
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_gpu_script_dry_run_prints_every_figure(repo_root, tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHON": sys.executable, "OMP_WAIT_POLICY": "PASSIVE"}
    proc = subprocess.run(["bash", "bench/gpu.sh", "--dry-run", "--out", str(out)], cwd=repo_root, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = (out / "table.md").read_text()
    rows = [line.split("|")[1:-1] for line in table.splitlines() if line.startswith("| train step")]
    cells = {tuple(c.strip() for c in (r[1], r[2], r[3], r[4])) for r in rows}
    for variant in ("vanilla", "all"):
        for amp in ("none", "bf16"):
            for path in ("reference", "efficient"):
                assert (variant, amp, "NCHW", path) in cells, (variant, amp, path, table)
        assert (variant, "bf16", "NHWC", "efficient") in cells
        assert (variant, "bf16", "NCHW, compiled (aot_eager)", "efficient") in cells
    assert sum(line.startswith("| scoring") for line in table.splitlines()) == 2
    assert "DDP training run (torchrun, 1 process): done" in table
    assert "last dev EER n/a" not in table
    assert "ssd.bin.infer on dev: 8 utterances" in table
    assert sorted(p.name for p in out.iterdir()) == [  # at most 8 flat files: what the device tool returns
        "ddp_train.log", "device.txt", "infer.log", "score.jsonl", "score.txt", "table.md",
        "train_step.jsonl", "train_step.txt"]


def test_gpu_script_is_shellcheck_clean_and_rejects_unknown_options(repo_root):
    if shutil.which("shellcheck") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("shellcheck is not installed")
        pytest.skip("shellcheck is not installed")
    subprocess.run(["shellcheck", "bench/gpu.sh"], cwd=repo_root, check=True)
    proc = subprocess.run(["bash", "bench/gpu.sh", "--gpus", "2"], cwd=repo_root, capture_output=True,
                          text=True)
    assert proc.returncode == 2 and "unknown option --gpus" in proc.stderr


def test_pack_dump_copies_train_and_dev_features_and_tables(repo_root, tmp_path):
    kaldiio = pytest.importorskip("kaldiio")
    np = pytest.importorskip("numpy")
    rng = np.random.default_rng(0)
    mats = {}
    for name in ("train", "dev"):
        d = tmp_path / "src" / name
        d.mkdir(parents=True)
        with kaldiio.WriteHelper(f"ark,scp:{d / 'feats.ark'},{d / 'feats.scp'}") as writer:
            for i in range(3):
                mats[(name, f"u{i}")] = rng.standard_normal((5 + i, 60)).astype(np.float32)
                writer(f"u{i}", mats[(name, f"u{i}")])
        (d / "utt2label").write_text("u0 bonafide\nu1 spoof\nu2 spoof\n")
    env = {**os.environ, "PYTHON": sys.executable}
    subprocess.run(["bash", "bench/gpu.sh", "--pack-dump", str(tmp_path / "src"), str(tmp_path / "dst")],
                   cwd=repo_root, env=env, check=True, capture_output=True)
    for name in ("train", "dev"):
        d = tmp_path / "dst" / name
        assert (d / "utt2label").read_text() == "u0 bonafide\nu1 spoof\nu2 spoof\n"
        assert all(line.split()[1].startswith(str(d / "feats.ark")) for line in open(d / "feats.scp"))
        for utt, mat in kaldiio.load_scp_sequential(str(d / "feats.scp")):
            assert np.array_equal(mat, mats[(name, utt)])

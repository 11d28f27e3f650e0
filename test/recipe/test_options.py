"""Recipe options do what they say: --help and path.sh install nothing, options are parsed before they act,
the training profile survives --train-opts, the paper configuration does not train on a CPU by accident,
and the README's option table is the one ./run.sh --help prints.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from helpers import link_recipe

RECIPE = Path("egs") / "asvspoof2019_la"


def _bare_checkout(repo_root: Path, dest: Path) -> Path:
    """The scripts of a fresh checkout (no tools/venv), so that any install attempt would show."""
    for part in ("utils", "egs/TEMPLATE", "egs/asvspoof2019_la"):
        shutil.copytree(repo_root / part, dest / part, symlinks=True,
                        ignore=shutil.ignore_patterns("downloads", "data", "dump", "exp", "RESULTS.md"))
    (dest / "tools").mkdir()
    for script in (repo_root / "tools").glob("*.sh"):
        shutil.copy2(script, dest / "tools" / script.name)
    return dest


def _run(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_help_answers_at_once_and_installs_nothing(repo_root, tmp_path):
    root = _bare_checkout(repo_root, tmp_path)
    # PYTHON=false: were tools/setup.sh run, creating the venv would fail and so would --help.
    result = _run(root / RECIPE, "run.sh", "--help", env={"PYTHON": "false"})
    assert result.returncode == 0, result.stderr
    assert "--train-base conf/train_mini_spectrogram_4ms.yaml" in result.stdout + result.stderr
    assert not (root / "tools" / "venv").exists()


def test_path_sh_installs_nothing(repo_root, tmp_path):
    root = _bare_checkout(repo_root, tmp_path)
    result = _run(root / RECIPE, "-c", ". ./path.sh", env={"PYTHON": "false"})
    assert result.returncode == 1
    assert "tools/venv does not exist yet: run" in result.stderr
    assert not (root / "tools" / "venv").exists()


@pytest.fixture
def scratch_recipe(repo_root, tmp_path) -> Path:
    return link_recipe(tmp_path / "recipe")


def test_cmd_backend_option_reaches_cmd_sh(scratch_recipe):
    no_stage = ("--stage", "99", "--stop-stage", "99")
    bogus = _run(scratch_recipe, "run.sh", *no_stage, "--cmd-backend", "bogus")
    assert bogus.returncode != 0
    assert "unknown cmd_backend 'bogus'" in bogus.stderr
    assert _run(scratch_recipe, "run.sh", *no_stage, "--cmd-backend", "slurm").returncode == 0


def test_base_inside_train_opts_points_to_train_base(scratch_recipe):
    result = _run(scratch_recipe, "run.sh", "--stage", "3", "--train-opts", "--base conf/train_base.yaml")
    assert result.returncode == 2
    assert "the training profile is its own option, --train-base FILE" in result.stderr


def test_real_corpus_on_a_cpu_asks_for_explicit_ngpu_0(scratch_recipe):
    stage3 = ("--asvspoof2019-la", "/nonexistent/LA", "--stage", "3", "--stop-stage", "3")
    no_gpu = {"CUDA_VISIBLE_DEVICES": ""}
    refused = _run(scratch_recipe, "run.sh", *stage3, env=no_gpu)
    assert refused.returncode == 2
    assert "conf/train_base.yaml is a paper-size configuration" in refused.stderr
    assert "--ngpu 0 trains on the CPU anyway" in refused.stderr
    # An explicit --ngpu 0 passes the check and goes on to the variant (which does not exist here).
    explicit = _run(scratch_recipe, "run.sh", *stage3, "--ngpu", "0", "--variants", "nosuch", env=no_gpu)
    assert "paper-size" not in explicit.stderr
    assert "no conf/train_ocsoftmax_nosuch.yaml" in explicit.stderr


def test_reference_systems_run_without_variants(trained_recipe, scratch_recipe):
    """--variants "" trains and scores the reference systems alone (this once failed on an unset
    variable); with no systems either there is nothing to run, and the recipe says so."""
    result = _run(trained_recipe, "run.sh", "--stage", "3", "--stop-stage", "4", "--variants", "",
                  "--systems", "lfcc_gmm", "--gmm-opts", "--components 4", "--expdir", "exp_systems_only")
    assert result.returncode == 0, result.stderr[-3000:]
    exp = trained_recipe / "exp_systems_only"
    assert sorted(p.name for p in exp.iterdir()) == ["lfcc_gmm"]
    scores = (exp / "lfcc_gmm" / "scores" / "eval.txt").read_text().splitlines()
    utts = (trained_recipe / "dump" / "lfcc" / "eval" / "utt2spk").read_text().splitlines()
    assert len(scores) == len(utts) > 0
    nothing = _run(scratch_recipe, "run.sh", "--stage", "3", "--stop-stage", "3", "--variants", "",
                   "--systems", "")
    assert nothing.returncode == 2
    assert "nothing to run: --variants and --systems are both empty" in nothing.stderr


def test_fuse_with_needs_its_system(scratch_recipe):
    """run.sh fuses with lfcc_gmm by default; without that system there is nothing to fuse, and the recipe
    says so instead of failing."""
    no_stage = ("--stage", "99", "--stop-stage", "99")
    alone = _run(scratch_recipe, "run.sh", *no_stage, "--systems", "")
    assert alone.returncode == 0, alone.stderr
    assert "note: --fuse-with lfcc_gmm is not among --systems (none): nothing is fused" in alone.stderr
    assert "nothing is fused" not in _run(scratch_recipe, "run.sh", *no_stage).stderr


def test_mini_corpus_keeps_its_profile_under_train_opts(trained_recipe, repo_root):
    """The recipe tests train with --train-opts "--epochs 1" only: the mini profile must still apply."""
    conf = repo_root / RECIPE / "conf"
    profile = yaml.safe_load((conf / "train_mini_spectrogram_4ms.yaml").read_text())
    mini = yaml.safe_load((conf / profile["base"]).read_text())
    config = yaml.safe_load((trained_recipe / "exp" / "ocsoftmax_vanilla" / "config.yaml").read_text())
    assert config["model"]["frontend"] == profile["model"]["frontend"] == "spectrogram_4ms"
    assert config["model"]["input_length"] == profile["model"]["input_length"]
    assert config["model"]["resnet"]["channels"] == mini["model"]["resnet"]["channels"]
    assert config["train"]["epochs"] == 1


HELP_LINE = re.compile(r"^\s+--(?P<name>[a-z0-9-]+) (?P<value>.*?)\s+# (?P<comment>.*)$")
README_ROW = re.compile(r"^\| `--(?P<name>[a-z0-9-]+)` \| `(?P<value>.*)` \| (?P<comment>.*) \|$")


def test_readme_option_table_is_the_help_output(repo_root):
    result = _run(repo_root / RECIPE, "run.sh", "--help")
    assert result.returncode == 0, result.stderr
    helped = {m["name"]: (m["value"], m["comment"])
              for m in map(HELP_LINE.match, (result.stdout + result.stderr).splitlines()) if m}
    documented = {m["name"]: (m["value"], m["comment"].replace("\\|", "|"))
                  for m in map(README_ROW.match, (repo_root / "README.md").read_text().splitlines()) if m}
    assert len(helped) > 20
    assert documented == helped

"""ssd.utils.config: base inheritance, overrides, unknown keys, --print_config, the recipe's conf files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ssd.losses import LOSSES
from ssd.utils import config as config_lib
from ssd.utils.config import ConfigError, load_config

CONF = Path(__file__).resolve().parents[2] / "egs" / "asvspoof2019_la" / "conf"
VARIANTS = ("vanilla", "recon", "conv", "spk", "all")
PAPER_WEIGHTS = {"recon": 0.04, "conv": 0.0003, "spk": 0.00005}


@pytest.fixture
def chain(tmp_path: Path) -> Path:
    """root.yaml <- mid.yaml <- leaf.yaml, plus other.yaml (another base for leaf)."""
    (tmp_path / "root.yaml").write_text(
        "seed: 0\nmodel: {width: 8, blocks: [1, 1], name: small}\noptim: {lr: 0.1, flag: false}\n"
        "data: {dir: null}\n")
    (tmp_path / "mid.yaml").write_text("base: root.yaml\nmodel: {width: 16}\n")
    (tmp_path / "other.yaml").write_text("base: root.yaml\nmodel: {width: 32, name: other}\n")
    (tmp_path / "leaf.yaml").write_text("base: mid.yaml\noptim: {lr: 1}\n")
    return tmp_path


def test_inheritance_merges_dicts_and_replaces_leaves(chain: Path) -> None:
    cfg = load_config(chain / "leaf.yaml")
    assert cfg == {"seed": 0, "model": {"width": 16, "blocks": [1, 1], "name": "small"},
                   "optim": {"lr": 1.0, "flag": False}, "data": {"dir": None}}
    assert isinstance(cfg["optim"]["lr"], float)  # an int may stand for the root's float


def test_base_override_replaces_the_files_own_base(chain: Path) -> None:
    cfg = load_config(chain / "leaf.yaml", base=chain / "other.yaml")
    assert cfg["model"] == {"width": 32, "blocks": [1, 1], "name": "other"}
    assert cfg["optim"]["lr"] == 1.0


@pytest.mark.parametrize("text, message", [
    ("base: root.yaml\nmodel: {widht: 3}\n", "unknown key 'model.widht'"),
    ("base: root.yaml\nextra: 1\n", "unknown key 'extra'"),
    ("base: root.yaml\nmodel: {width: 0.5}\n", "model.width must be int"),
    ("base: root.yaml\noptim: {flag: 1}\n", "optim.flag must be bool"),
    ("base: root.yaml\nmodel: 3\n", "model must be dict"),
    ("base: missing.yaml\n", "base config file"),
    ("base: root.yaml\nmodel: {width: [}\n", "invalid yaml"),
])
def test_bad_files_are_errors_naming_key_and_file(chain: Path, text: str, message: str) -> None:
    (chain / "bad.yaml").write_text(text)
    with pytest.raises(ConfigError, match="bad.yaml") as err:
        load_config(chain / "bad.yaml")
    assert message in str(err.value)


def test_circular_base_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    with pytest.raises(ConfigError, match="circular"):
        load_config(tmp_path / "a.yaml")


def test_command_line_overrides_aliases_and_order(chain: Path) -> None:
    cfg, _ = config_lib.parse(
        ["--config", str(chain / "leaf.yaml"), "--optim.lr", "1e-3", "--model.blocks", "[2, 3]",
         "--model.name", "0.5", "--data.dir", "/x", "--lr", "0.2", "--seed=7"],
        "test", aliases={"--lr": "optim.lr"})
    assert cfg["optim"]["lr"] == 0.2  # the alias came last
    assert cfg["model"]["blocks"] == [2, 3]
    assert cfg["model"]["name"] == "0.5"  # string keys keep the text
    assert cfg["data"]["dir"] == "/x"
    assert cfg["seed"] == 7
    cfg, _ = config_lib.parse(["--config", str(chain / "leaf.yaml"), "--lr", "0.2", "--optim.lr", "3"],
                              "test", aliases={"--lr": "optim.lr"})
    assert cfg["optim"]["lr"] == 3.0


@pytest.mark.parametrize("args, message", [
    (["--optim.lrr", "1"], "--optim.lrr"),
    (["--model.width", "wide"], "model.width must be int"),
    (["--optim.flag", "yes-please"], "optim.flag must be bool"),
])
def test_bad_command_line_is_an_error_naming_the_key(chain: Path, capsys: pytest.CaptureFixture,
                                                     args: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        config_lib.parse(["--config", str(chain / "leaf.yaml"), *args], "test")
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_print_config_prints_the_resolved_config(chain: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        config_lib.parse(["--config", str(chain / "leaf.yaml"), "--model.width", "64", "--print_config"], "t")
    assert exit_info.value.code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    expected = load_config(chain / "leaf.yaml")
    expected["model"]["width"] = 64
    assert printed == expected


def test_write_config_round_trips_and_diff_names_keys(tmp_path: Path, chain: Path) -> None:
    cfg = load_config(chain / "leaf.yaml")
    config_lib.write_config(tmp_path / "out" / "config.yaml", cfg)
    assert yaml.safe_load((tmp_path / "out" / "config.yaml").read_text()) == cfg
    other = load_config(chain / "leaf.yaml", base=chain / "other.yaml")
    assert config_lib.diff(cfg, other) == ["model.name: 'small' -> 'other'", "model.width: 16 -> 32"]
    assert config_lib.diff(cfg, other, ignore=["model"]) == []


@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("profile", ["train_base.yaml", "train_mini.yaml"])
def test_recipe_configs_resolve_with_paper_weights(loss: str, variant: str, profile: str) -> None:
    cfg = load_config(CONF / f"train_{loss}_{variant}.yaml", base=CONF / profile)
    assert cfg["loss"]["name"] == loss
    on = set(PAPER_WEIGHTS) if variant == "all" else {variant} & set(PAPER_WEIGHTS)
    for task, weight in PAPER_WEIGHTS.items():
        assert cfg["tasks"][task]["weight"] == (weight if task in on else 0.0)
    assert cfg["tasks"]["conv"]["adversary_weight"] == 1.0
    assert cfg["tasks"]["conv"]["mse_weight"] == 1.0
    assert cfg["model"]["frontend"] == "lfcc" and cfg["model"]["backbone"] == "resnet"
    if profile == "train_base.yaml":
        assert cfg["model"]["resnet"]["blocks"] == [3, 4, 6, 3] and cfg["model"]["input_length"] == 750
        assert (cfg["data"]["batch_size"], cfg["train"]["epochs"], cfg["optim"]["lr"]) == (64, 100, 3e-4)
        assert (cfg["optim"]["weight_decay"], cfg["optim"]["halve_every"]) == (5e-4, 10)
    assert load_config(CONF / f"train_{loss}_{variant}.yaml") == load_config(
        CONF / f"train_{loss}_{variant}.yaml", base=CONF / "train_base.yaml")


def test_variant_files_are_small_overrides() -> None:
    losses = ("ocsoftmax", "amsoftmax", "softmax")
    variants = [p for loss in losses for p in CONF.glob(f"train_{loss}_*.yaml")]
    assert len(variants) == 15
    for path in variants:
        data = yaml.safe_load(path.read_text())
        assert data["base"] == "train_base.yaml", path
        assert set(data) <= {"base", "loss", "tasks"}, path

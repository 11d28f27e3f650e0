"""The registered parts: every recipe profile builds with every variant file (as ESPnet's config dry
runs), the published parameter counts, and combinations that cannot work are refused saying why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ssd.bin import model_info
from ssd.frontend.registry import build_frontend
from ssd.nets.config import ModelConfig
from ssd.nets.registry import BACKBONES, build_backbone
from ssd.tasks.multitask import MultiTaskModel
from ssd.utils.config import load_config

CONF = Path(__file__).resolve().parents[2] / "egs" / "asvspoof2019_la" / "conf"
PROFILES = sorted(p.name for p in CONF.glob("train_*.yaml") if not p.name.startswith(
    tuple(f"train_{loss}_" for loss in ("ocsoftmax", "amsoftmax", "softmax"))))
VARIANTS = sorted(p.name for p in CONF.glob("train_*_*.yaml") if p.name not in PROFILES)
# Backbones made for a learned front end have the front end's profile instead (XLS-R wants a GPU even
# on the mini corpus); the architecture given here stands in for the user's checkpoint.
SSL_PROFILES = {"aasist-ssl": "train_xlsr_aasist.yaml"}
TINY_ENCODER = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
                "conv_dim": [8, 8], "conv_kernel": [10, 3], "conv_stride": [5, 2],
                "num_conv_pos_embeddings": 8,
                "num_conv_pos_embedding_groups": 2}


def test_every_backbone_has_a_full_and_a_mini_profile():
    for name in BACKBONES:
        if name in SSL_PROFILES:
            assert load_config(CONF / SSL_PROFILES[name])["model"]["backbone"] == name
        elif name != "resnet":
            assert {f"train_{name}.yaml", f"train_{name}_mini.yaml"} <= set(PROFILES), name


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_builds_with_every_variant_file(profile):
    for variant in VARIANTS:
        cfg = load_config(CONF / variant, CONF / profile)
        parts = ModelConfig.from_dict(cfg["model"])
        learned = parts.frontend == "ssl"
        if learned:
            pytest.importorskip("transformers")
            cfg["model"]["ssl"]["architecture"] = TINY_ENCODER
        waveform = learned or BACKBONES[parts.backbone].input_kind == "waveform"
        if waveform and cfg["tasks"]["conv"]["weight"] > 0:
            with pytest.raises(ValueError, match="S2 has nothing to convert"):
                MultiTaskModel(cfg, 20)
            continue
        model = MultiTaskModel(cfg, 20)
        assert (model.decoder is not None) == (cfg["tasks"]["recon"]["weight"] > 0), (profile, variant)
        assert model.frontend.name == load_config(CONF / profile)["model"]["frontend"]


@pytest.mark.parametrize(("profile", "backbone"), [("train_base.yaml", 22_558_450),
                                                   ("train_aasist.yaml", 297_866),
                                                   ("train_aasist-l.yaml", 85_306)])
def test_model_info_shows_the_published_parameter_counts(profile, backbone, capsys):
    assert model_info.main(["--config", str(CONF / "train_ocsoftmax_vanilla.yaml"), "--base",
                            str(CONF / profile), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["modules"]["backbone"]["parameters"] == backbone
    assert info["total"] == sum(m["parameters"] for m in info["modules"].values())
    assert model_info.main(["--config", str(CONF / "train_ocsoftmax_all.yaml")]) == 0
    table = capsys.readouterr().out
    assert "22,558,450" in table and "S2 conversion autoencoder" in table and "3,386,531" in table


def test_combinations_that_cannot_work_are_refused_saying_why():
    lfcc, raw = build_frontend("lfcc"), build_frontend("raw")
    with pytest.raises(ValueError, match="backbone 'aasist' reads waveform .* use model.frontend: raw"):
        build_backbone("aasist", {}, lfcc, 64600)
    with pytest.raises(ValueError, match="backbone 'lcnn' reads features .* a feature front end"):
        build_backbone("lcnn", {}, raw, 750)
    with pytest.raises(ValueError, match=r"model.rawnet2.nb_samp \(64600\) differs from model.input_length"):
        build_backbone("rawnet2", {"nb_samp": 64600}, raw, 16000)
    with pytest.raises(ValueError, match="feat_dim is 40 but front end 'lfcc' gives 60"):
        build_backbone("resnet", {"feat_dim": 40}, lfcc, 750)
    with pytest.raises(ValueError, match="unknown backbone model.backbone='resnet50'; registered: aasist"):
        ModelConfig.from_dict({"backbone": "resnet50"})
    with pytest.raises(ValueError, match="unknown front end model.frontend='mfcc'"):
        ModelConfig.from_dict({"frontend": "mfcc"})
    with pytest.raises(ValueError, match="unknown LCNN config key"):
        build_backbone("lcnn", {"width": 3}, lfcc, 750)

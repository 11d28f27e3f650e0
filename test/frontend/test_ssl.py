"""The ssl front end: tiny randomly initialised wav2vec 2.0 and WavLM encoders, checkpoint conversion
(Hugging Face directories and fairseq pickles read without fairseq), layers, freezing, training."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import CONF, write_audio_dir

pytest.importorskip("transformers", reason="the ssl extra (pip install -e '.[ssl]')")

from safetensors.torch import save_file  # noqa: E402

from ssd.bin.convert_ssl import main as convert_main  # noqa: E402
from ssd.bin.train import main as train_main  # noqa: E402
from ssd.frontend.ssl import SslConfig, SslEncoder, resolve_training_config, transformers_classes  # noqa: E402
from ssd.importers.ssl_checkpoint import (  # noqa: E402
    CheckpointError,
    convert,
    load_pickle,
    parse_conv_layers,
    read_header,
)
from ssd.tasks.multitask import MultiTaskModel  # noqa: E402
from ssd.utils.checkpoint import load_checkpoint  # noqa: E402

HERE = Path(__file__).parent
CONV = {"conv_dim": [16, 16, 16], "conv_kernel": [10, 3, 3], "conv_stride": [5, 2, 2]}
# XLS-R's layout (layer-norm feature extractor, pre-LN transformer) and wav2vec 2.0 base's (group norm,
# post-LN), each tiny; WavLM adds its relative position buckets.
TINY = {
    "xlsr": {"hidden_size": 32, "num_hidden_layers": 3, "num_attention_heads": 2, "intermediate_size": 48,
             **CONV, "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 2,
             "feat_extract_norm": "layer", "do_stable_layer_norm": True, "conv_bias": True},
    "base": {"hidden_size": 24, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 40,
             **CONV, "num_conv_pos_embeddings": 8, "num_conv_pos_embedding_groups": 2,
             "feat_extract_norm": "group", "do_stable_layer_norm": False},
}
TINY["wavlm"] = {**TINY["xlsr"], "conv_bias": False, "num_buckets": 16, "max_bucket_distance": 40}
FAMILY = {"xlsr": "wav2vec2", "base": "wav2vec2", "wavlm": "wavlm"}


def fairseq_config(layout: str) -> dict:
    """The fairseq model config that describes TINY[layout]."""
    arch = TINY[layout]
    spec = " + ".join(f"[({d}, {k}, {s})]" for d, k, s in zip(arch["conv_dim"], arch["conv_kernel"],
                                                             arch["conv_stride"], strict=True))
    cfg = {"_name": FAMILY[layout], "encoder_embed_dim": arch["hidden_size"],
           "encoder_layers": arch["num_hidden_layers"],
           "encoder_attention_heads": arch["num_attention_heads"],
           "encoder_ffn_embed_dim": arch["intermediate_size"], "conv_feature_layers": spec,
           "conv_pos": arch["num_conv_pos_embeddings"],
           "conv_pos_groups": arch["num_conv_pos_embedding_groups"],
           "extractor_mode": "layer_norm" if arch["feat_extract_norm"] == "layer" else "default",
           "layer_norm_first": arch["do_stable_layer_norm"], "conv_bias": arch.get("conv_bias", False),
           "dropout": 0.1, "attention_dropout": 0.1, "activation_dropout": 0.0, "dropout_input": 0.0,
           "activation_fn": "gelu", "layerdrop": 0.05, "feature_grad_mult": 1.0}
    if layout == "wavlm":
        cfg.update(num_buckets=arch["num_buckets"], max_distance=arch["max_bucket_distance"],
                   relative_position_embedding=True, gru_rel_pos=True)
    return cfg


def reference_model(layout: str, seed: int = 0) -> torch.nn.Module:
    """A randomly initialised transformers model of the tiny layout, in eval mode."""
    config_class, model_class = transformers_classes(FAMILY[layout])
    torch.manual_seed(seed)
    model = model_class(config_class(**TINY[layout], layerdrop=0.0, apply_spec_augment=False,
                                     mask_time_prob=0.0))
    with torch.no_grad():  # non-trivial norms and biases, so that a swapped tensor shows
        for name, p in model.named_parameters():
            if "norm" in name or name.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))
    # Frozen, as the encoders under test: attention may take another kernel (rounding differently) when
    # weights require gradients.
    return model.eval().requires_grad_(False)


def encoder(layout: str, **section) -> SslEncoder:
    return SslEncoder(SslConfig.from_dict({"family": FAMILY[layout], "architecture": TINY[layout],
                                           "proj_dim": 0, **section}))


def wave(batch: int = 2, samples: int = 4000, seed: int = 1) -> torch.Tensor:
    return 0.1 * torch.randn(batch, samples, generator=torch.Generator().manual_seed(seed))


def write_fairseq(tmp_path: Path, layout: str, style: str) -> tuple[Path, torch.nn.Module]:
    """A fairseq-layout checkpoint of a reference model, written by another process (see the script)."""
    model = reference_model(layout)
    state = tmp_path / f"{layout}_hf.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(state))
    out = tmp_path / f"{layout}_{style}.pt"
    proc = subprocess.run([sys.executable, str(HERE / "fairseq_checkpoint.py"), str(state), str(out),
                           FAMILY[layout], style, "--arch", json.dumps(fairseq_config(layout))],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return out, model


@pytest.mark.parametrize("layout", sorted(TINY))
def test_tiny_encoder_gives_a_feature_map_at_the_conv_stack_rate(layout):
    enc = encoder(layout, proj_dim=12).eval()
    out = enc(wave(samples=4000))
    frames = enc.num_frames(4000)
    assert frames == int(reference_model(layout)._get_feat_extract_output_lengths(4000))
    assert out.shape == (2, 12, frames) and enc.dim == 12 and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="long enough"):
        enc(wave(samples=5))


def test_layer_k_keeps_k_layers_and_equals_the_full_models_hidden_state():
    """Post-LN layout: layer K's output is the full model's hidden_states[K]; the layers above K are
    gone from the module and its state dict (never computed)."""
    ref = reference_model("base")
    enc = encoder("base", layer=1)
    enc.model.load_state_dict({k: v for k,
                               v in ref.state_dict().items() if not k.startswith("encoder.layers.1.")})
    enc.eval()
    x = wave()
    with torch.no_grad():
        expected = ref(x, output_hidden_states=True).hidden_states[1]
    assert torch.equal(enc(x).transpose(1, 2), expected)
    assert len(enc.model.encoder.layers) == 1
    assert not any(k.startswith("model.encoder.layers.1.") for k in enc.state_dict())
    with pytest.raises(ValueError, match="beyond the model's 2 layers"):
        encoder("base", layer=3)


def test_weighted_layers_learn_while_the_encoder_stays_frozen():
    enc = encoder("wavlm", layer="weighted", proj_dim=8, freeze=True)
    enc.train()
    assert not enc.model.training and enc.layer_weights.shape == (4,)
    enc(wave()).square().mean().backward()
    assert enc.layer_weights.grad is not None and enc.proj.weight.grad is not None
    assert all(p.grad is None and not p.requires_grad for p in enc.model.parameters())
    groups = enc.param_groups(1e-3)
    assert len(groups) == 1 and len(groups[0]["params"]) == 3  # layer weights, projection weight and bias


def test_fine_tuning_trains_the_encoder_at_its_own_learning_rate():
    cfg = {"model": {"frontend": "ssl", "backbone": "aasist-ssl", "input_length": 8000,
                     "ssl": {"family": "wav2vec2", "architecture": TINY["xlsr"], "freeze": False, "lr": 1e-5,
                             "proj_dim": 12},
                     "aasist-ssl": {"widths": [[1, 4], [4, 4], [4, 8], [8, 8]], "gat_dims": [8, 6]}},
           "loss": {"name": "ocsoftmax"}}
    from ssd.tasks.multitask import MultiTaskTrainer

    model = MultiTaskModel(cfg)
    trainer = MultiTaskTrainer(model, {**cfg, "optim": {"lr": 3e-4}})
    lrs = sorted({g["lr"] for g in trainer.optimisers.detector.param_groups})
    assert lrs == [1e-5, 3e-4]
    assert model.waveform_input
    embedding, logits = model(wave(4, 8000).unsqueeze(1))
    assert embedding.shape == (4, 30) and logits.shape == (4, 2)
    with pytest.raises(ValueError, match="S2 has nothing to convert"):
        MultiTaskModel({**cfg, "tasks": {"conv": {"weight": 0.1}}})
    with pytest.raises(ValueError, match="reads the waveform: use resnet, lcnn or aasist-ssl"):
        MultiTaskModel({**cfg, "model": {**cfg["model"], "backbone": "aasist"}})


def test_hugging_face_directory_converts_and_reproduces_its_outputs(tmp_path):
    ref = reference_model("base", seed=3)
    ref.save_pretrained(tmp_path / "hf")
    out = tmp_path / "base.safetensors"
    assert convert_main([str(tmp_path / "hf"), str(out)]) == 0
    header = read_header(out)
    assert header["family"] == "wav2vec2" and header["architecture"]["hidden_size"] == 24
    enc = SslEncoder(SslConfig.from_dict({"checkpoint": str(out), "proj_dim": 0}).resolved())
    enc.load_pretrained()
    enc.eval()
    x = wave()
    with torch.no_grad():
        expected = ref(x).last_hidden_state
    assert torch.equal(enc(x).transpose(1, 2), expected)


@pytest.mark.parametrize(("layout", "style"), [("xlsr", "hydra"), ("xlsr", "finetuned"), ("base",
                                                                                          "namespace"),
                                               ("wavlm", "plain")])
def test_fairseq_checkpoint_converts_without_fairseq_and_reproduces_the_model(tmp_path, layout, style):
    """The converted file of a fairseq-layout checkpoint gives the source model's outputs exactly; the
    converting process imports neither omegaconf nor fairseq (they are not installed) and keeps none of
    the pre-training heads."""
    source, ref = write_fairseq(tmp_path, layout, style)
    out = tmp_path / "converted.safetensors"
    family = ["--family", "wavlm"] if style == "plain" else []
    probe = ("import sys; from ssd.bin.convert_ssl import main; rc = main(sys.argv[1:]); "
             "assert not any(m.split('.')[0] in ('fairseq', 'omegaconf') for m in sys.modules); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", probe, str(source), str(out), *family],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    header = read_header(out)
    assert header["architecture"] == {**TINY[layout], "hidden_act": "gelu", "hidden_dropout": 0.1,
                                      "attention_dropout": 0.1, "activation_dropout": 0.0,
                                      "feat_proj_dropout": 0.0, "feat_extract_activation": "gelu",
                                      "conv_bias": TINY[layout].get("conv_bias", False)}
    enc = SslEncoder(SslConfig.from_dict({"family": FAMILY[layout], "checkpoint": str(out),
                                          "proj_dim": 0}).resolved())
    enc.load_pretrained()
    enc.eval()
    x = wave(samples=6000)
    with torch.no_grad():
        expected = ref(x).last_hidden_state
    assert torch.equal(enc(x).transpose(1, 2), expected)


def test_a_checkpoint_in_torchs_legacy_format_converts_too(tmp_path):
    """Before torch 1.6 checkpoints were not zip files, whose pickle cannot be listed without loading:
    the classes it names are then learnt from the loader's refusals."""
    source, ref = write_fairseq(tmp_path, "base", "namespace")
    legacy = tmp_path / "legacy.pt"
    torch.save({"args": argparse.Namespace(**fairseq_config("base")), "model": load_pickle(source)["model"]},
               legacy, _use_new_zipfile_serialization=False)
    convert(legacy, tmp_path / "legacy.safetensors")
    enc = SslEncoder(SslConfig.from_dict({"checkpoint": str(tmp_path / "legacy.safetensors"),
                                          "proj_dim": 0}).resolved())
    enc.load_pretrained()
    enc.eval()
    x = wave()
    with torch.no_grad():
        expected = ref(x).last_hidden_state
    assert torch.equal(enc(x).transpose(1, 2), expected)


def test_a_pickle_that_would_run_code_runs_nothing(tmp_path):
    """A checkpoint whose config references one list from everywhere converts at once; one whose extra
    state reduces to os.system is refused naming the file and the function, which never runs."""
    source, _ = write_fairseq(tmp_path, "base", "namespace")
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    state = load_pickle(source)["model"]
    bomb: list = ["x"]
    for _ in range(64):  # 2**64 paths through 65 objects: copied per reference, it would never end
        bomb = [bomb, bomb]
    shared = tmp_path / "shared.pt"
    torch.save({"args": argparse.Namespace(**fairseq_config("base"), bomb=bomb), "model": state}, shared)
    convert(shared, tmp_path / "shared.safetensors")
    evil = tmp_path / "evil.pt"
    torch.save({"args": argparse.Namespace(**fairseq_config("base")), "model": state,
                "extra_state": {"hook": Evil()}}, evil)
    with pytest.raises(CheckpointError, match=r"(?s)evil\.pt: not a readable torch checkpoint.*system"):
        convert(evil, tmp_path / "evil.safetensors")
    assert not marker.exists() and not (tmp_path / "evil.safetensors").exists()


def test_bad_checkpoints_are_refused_naming_the_file(tmp_path):
    source, _ = write_fairseq(tmp_path, "base", "hydra")
    ckpt = {"args": argparse.Namespace(**fairseq_config("base")),
            "model": load_pickle(source)["model"]}
    ckpt["model"]["encoder.layers.0.adapter.weight"] = torch.zeros(3)
    odd = tmp_path / "odd.pt"
    torch.save(ckpt, odd)
    with pytest.raises(CheckpointError, match=r"odd\.pt: 1 key\(s\) of no known .*layers\.0\.adapter"):
        convert(odd, tmp_path / "odd.safetensors")
    ckpt["model"].pop("encoder.layers.0.adapter.weight")
    ckpt["model"]["encoder.layers.0.fc1.weight"] = torch.zeros(3, 3)
    torch.save(ckpt, odd)
    with pytest.raises(CheckpointError, match="shape differs for encoder.layers.0.feed_forward"):
        convert(odd, tmp_path / "odd.safetensors")
    assert not (tmp_path / "odd.safetensors").exists()
    with pytest.raises(CheckpointError, match="not a converted SSL checkpoint"):
        read_header(source)
    plain = tmp_path / "plain.safetensors"
    save_file({"x": torch.zeros(2)}, str(plain))
    with pytest.raises(CheckpointError, match="without ssd-convert-ssl's header"):
        read_header(plain)
    with pytest.raises(CheckpointError, match="only lists of"):
        parse_conv_layers("[(512, 10, 5)] * __import__('os').getpid()")
    assert parse_conv_layers("[(512, 10, 5)] + [(512, 3, 2)] * 2") == [(512, 10, 5), (512, 3, 2), (512, 3, 2)]


def test_training_config_records_the_architecture_of_the_checkpoint(tmp_path):
    reference_model("xlsr").save_pretrained(tmp_path / "hf")
    out = tmp_path / "xlsr.safetensors"
    convert(tmp_path / "hf", out)
    cfg = resolve_training_config({"model": {"frontend": "ssl", "ssl": {"checkpoint": str(out)}}})
    assert cfg["model"]["ssl"]["architecture"] == read_header(out)["architecture"]
    lfcc = {"model": {"frontend": "lfcc"}}
    assert resolve_training_config(lfcc) is lfcc
    with pytest.raises(ValueError, match="holds a wav2vec2 model"):
        resolve_training_config({"model": {"frontend": "ssl", "ssl": {"family": "wavlm",
                                                                      "checkpoint": str(out)}}})


def test_training_from_a_converted_checkpoint_starts_from_its_weights_and_resumes(tmp_path):
    """ssd.bin.train with a tiny converted encoder: the first checkpoint's config carries the
    architecture, a frozen encoder keeps the converted weights, and the trained model scores."""
    reference_model("xlsr", seed=5).save_pretrained(tmp_path / "hf")
    ssl_file = tmp_path / "xlsr.safetensors"
    convert(tmp_path / "hf", ssl_file)
    train = write_audio_dir(tmp_path / "train", 8, 0, ["S1", "S2"], "T")
    dev = write_audio_dir(tmp_path / "dev", 6, 1, ["S1", "S2"], "D")
    base = tmp_path / "ssl.yaml"
    base.write_text(f"base: {CONF / 'train_mini.yaml'}\n"
                    "model:\n  frontend: ssl\n  backbone: aasist-ssl\n  input_length: 4000\n"
                    f"  ssl: {{checkpoint: {ssl_file}, proj_dim: 12, layer: 2}}\n"
                    "  aasist-ssl: {widths: [[1, 4], [4, 4], [4, 8], [8, 8]], gat_dims: [8, 6]}\n"
                    "train: {epochs: 2, patience: 0}\ndata: {batch_size: 4, num_workers: 0}\n"
                    "eval: {hop_length: 2000}\nrun: {threads: 1, log_interval: 1}\n")
    argv = ["--config", str(CONF / "train_ocsoftmax_spk.yaml"), "--base", str(base), "--train-dir",
            str(train),
            "--dev-dir", str(dev), "--exp-dir", str(tmp_path / "exp")]
    assert train_main(argv) in (0, None)
    state = load_checkpoint(tmp_path / "exp" / "last.pt")
    assert state["config"]["model"]["ssl"]["architecture"]["hidden_size"] == 32
    from safetensors.torch import load_file

    converted = load_file(str(ssl_file))
    key = "encoder.layers.1.attention.q_proj.weight"
    assert torch.equal(state["model"][f"backbone.encoder.model.{key}"], converted[key])
    assert not any(k.startswith("backbone.encoder.model.encoder.layers.2.") for k in state["model"])
    header, *rows = (tmp_path / "exp" / "history.tsv").read_text().splitlines()
    dev_eer = header.split("\t").index("dev_eer")
    assert len(rows) == 2 and all(np.isfinite(float(r.split("\t")[dev_eer])) for r in rows)
    # Resumed for a third epoch after the checkpoint file is gone: last.pt holds the weights and the
    # experiment's config the architecture.
    ssl_file.unlink()
    assert train_main([*argv, "--train.epochs", "3"]) in (0, None)
    resumed = load_checkpoint(tmp_path / "exp" / "last.pt")
    assert len((tmp_path / "exp" / "history.tsv").read_text().splitlines()) == 4
    assert torch.equal(resumed["model"][f"backbone.encoder.model.{key}"], converted[key])
    with pytest.raises(ValueError, match=str(ssl_file)):  # a new run does need the file
        resolve_training_config({"model": {"frontend": "ssl", "ssl": {"checkpoint": str(ssl_file)}}})

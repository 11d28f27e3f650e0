"""Write a synthetic fairseq checkpoint of a transformers wav2vec 2.0 / WavLM model, in fairseq's layout.

Run as a script: ``python fairseq_checkpoint.py HF_STATE.safetensors OUT.pt FAMILY STYLE`` with STYLE
``hydra`` (cfg an omegaconf DictConfig, args None, as fairseq >= 0.10 saves), ``namespace`` (args an
argparse Namespace, older fairseq), ``finetuned`` (a wav2vec2_asr model: ``w2v_encoder.w2v_model.``
keys, the encoder's config under ``w2v_args``) or ``plain`` (cfg a plain dict, Microsoft's WavLM
release). The pickle names classes of ``omegaconf`` and ``fairseq`` as the real files do; this script
defines stand-ins for them under those module names only to write the file, so the process that reads
it has neither.
"""

from __future__ import annotations

import argparse
import enum
import json
import re
import sys
import types

import torch
from safetensors.torch import load_file


def _module(name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    sys.modules[name] = module
    return module


_omegaconf = _module("omegaconf")
_dictconfig = _module("omegaconf.dictconfig")
_nodes = _module("omegaconf.nodes")
_base = _module("omegaconf.base")
_fairseq = _module("fairseq")
_fairseq_dc = _module("fairseq.dataclass")
_fairseq_constants = _module("fairseq.dataclass.constants")


class ContainerMetadata:
    def __init__(self, key_type: object = None) -> None:
        self.ref_type, self.object_type, self.optional, self.key, self.flags = object, dict, True, None, {}
        self.key_type = key_type


class AnyNode:
    def __init__(self, value: object, parent: object) -> None:
        self._metadata, self._parent, self._val = ContainerMetadata(), parent, value


class DictConfig:
    def __init__(self, content: dict) -> None:
        self._metadata, self._parent = ContainerMetadata(), None
        self._content = {k: (v if isinstance(v, DictConfig) else AnyNode(v, self)) for k,
                         v in content.items()}
        for v in self._content.values():
            if isinstance(v, DictConfig):
                v._parent = self


class ChoiceEnum(enum.Enum):
    LAYER_NORM = "layer_norm"


for cls, module in ((ContainerMetadata, _base), (AnyNode, _nodes), (DictConfig, _dictconfig),
                    (ChoiceEnum, _fairseq_constants)):
    cls.__module__ = module.__name__
    setattr(module, cls.__name__, cls)

_LAYER = {"attention.q_proj": "self_attn.q_proj", "attention.k_proj": "self_attn.k_proj",
          "attention.v_proj": "self_attn.v_proj", "attention.out_proj": "self_attn.out_proj",
          "attention.gru_rel_pos_linear": "self_attn.grep_linear",
          "attention.gru_rel_pos_const": "self_attn.grep_a",
          "attention.rel_attn_embed": "self_attn.relative_attention_bias",
          "layer_norm": "self_attn_layer_norm",
          "feed_forward.intermediate_dense": "fc1", "feed_forward.output_dense": "fc2",
          "final_layer_norm": "final_layer_norm"}


def fairseq_key(key: str, layer_norm_mode: bool) -> str:
    """transformers name -> the name fairseq's own modules give the same tensor."""
    if m := re.fullmatch(r"feature_extractor\.conv_layers\.(\d+)\.conv\.(\w+)", key):
        return f"feature_extractor.conv_layers.{m[1]}.0.{m[2]}"
    if m := re.fullmatch(r"feature_extractor\.conv_layers\.(\d+)\.layer_norm\.(\w+)", key):
        return f"feature_extractor.conv_layers.{m[1]}.2{'.1' if layer_norm_mode else ''}.{m[2]}"
    fixed = {"feature_projection.layer_norm": "layer_norm",
             "feature_projection.projection": "post_extract_proj",
             "encoder.pos_conv_embed.conv.parametrizations.weight.original0": "encoder.pos_conv.0.weight_g",
             "encoder.pos_conv_embed.conv.parametrizations.weight.original1": "encoder.pos_conv.0.weight_v",
             "encoder.pos_conv_embed.conv.weight_g": "encoder.pos_conv.0.weight_g",
             "encoder.pos_conv_embed.conv.weight_v": "encoder.pos_conv.0.weight_v",
             "encoder.pos_conv_embed.conv.bias": "encoder.pos_conv.0.bias",
             "encoder.layer_norm": "encoder.layer_norm"}
    for hf, fs in fixed.items():
        if key == hf or key.startswith(hf + "."):
            return fs + key[len(hf):]
    m = re.fullmatch(r"encoder\.layers\.(\d+)\.(.+)\.(\w+)", key)
    if m and m[2] in _LAYER:
        return f"encoder.layers.{m[1]}.{_LAYER[m[2]]}.{m[3]}"
    if m := re.fullmatch(r"encoder\.layers\.(\d+)\.attention\.gru_rel_pos_const", key):
        return f"encoder.layers.{m[1]}.self_attn.grep_a"
    raise KeyError(key)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("state")
    parser.add_argument("out")
    parser.add_argument("family", choices=("wav2vec2", "wavlm"))
    parser.add_argument("style", choices=("hydra", "namespace", "finetuned", "plain"))
    parser.add_argument("--arch", required=True, help="the fairseq model config, as JSON")
    args = parser.parse_args()
    model_cfg = json.loads(args.arch)
    layer_norm_mode = model_cfg.get("extractor_mode") == "layer_norm"
    hidden = int(model_cfg["encoder_embed_dim"])
    state = {fairseq_key(k, layer_norm_mode): v for k, v in load_file(args.state).items()}
    state.update({"mask_emb": torch.rand(hidden), "quantizer.vars": torch.rand(1, 8, 4),
                  "quantizer.weight_proj.weight": torch.rand(8, 16),
                  "quantizer.weight_proj.bias": torch.rand(8),
                  "project_q.weight": torch.rand(4, 4), "project_q.bias": torch.rand(4),
                  "final_proj.weight": torch.rand(4, hidden), "final_proj.bias": torch.rand(4)})
    history = [{"criterion_name": "Wav2vecCriterion", "optimizer_name": "FairseqAdam",
                "lr_scheduler_state": {"best": None}, "num_updates": 400000, "mode": ChoiceEnum.LAYER_NORM}]
    if args.style == "finetuned":
        state = {f"w2v_encoder.w2v_model.{k}": v for k, v in state.items()}
        state["w2v_encoder.proj.weight"], state["w2v_encoder.proj.bias"] = torch.rand(32,
                                                                                      hidden), torch.rand(32)
        inner = DictConfig({"model": DictConfig(model_cfg), "task": DictConfig({"normalize": True})})
        ckpt = {"args": None, "cfg": DictConfig({"model": DictConfig({"_name": "wav2vec_ctc",
                                                                      "w2v_args": inner})}),
                "model": state, "optimizer_history": history, "extra_state": {"epoch": 3}}
    elif args.style == "hydra":
        ckpt = {"args": None, "cfg": DictConfig({"common": DictConfig({"seed": 1}),
                                                 "model": DictConfig(model_cfg),
                                                 "task": DictConfig({"normalize": True})}),
                "model": state, "optimizer_history": history, "extra_state": {"epoch": 3}}
    elif args.style == "namespace":
        ckpt = {"args": argparse.Namespace(**model_cfg, arch="wav2vec2"), "model": state,
                "optimizer_history": history}
    else:
        ckpt = {"cfg": dict(model_cfg), "model": state}
    torch.save(ckpt, args.out)


if __name__ == "__main__":
    main()

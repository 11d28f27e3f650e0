"""Convert a fairseq or Hugging Face wav2vec 2.0 / XLS-R / WavLM checkpoint into a safe, tensor-only file.

Output: a safetensors file of the encoder's tensors under transformers' key names, whose metadata holds
the family, the architecture (transformers config keys) and the source file's name and SHA-256. It is
what ``model.ssl.checkpoint`` reads; nothing else is ever loaded at training or inference time.

Inputs:

* **fairseq** ``.pt`` (XLS-R, wav2vec 2.0, and Microsoft's WavLM release): a pickle holding, besides the
  tensors, argparse namespaces and omegaconf configs, which ``weights_only=True`` refuses by design.
  :func:`load_pickle` still reads it with torch's ``weights_only`` unpickler, every class it names
  allowed only as an inert :class:`Opaque` record of its arguments and state under that name (no
  code of the named module runs, and fairseq need not be installed); :func:`plain` then turns those
  records into dicts and lists. Pre-trained and fine-tuned (``w2v_encoder.``)
  layouts are accepted; pre-training heads (quantiser, projections) are dropped.
* **Hugging Face**: a model directory (``config.json`` and ``model.safetensors`` or
  ``pytorch_model.bin``, the latter read with ``weights_only=True``); task heads are dropped.

The converted tensors are checked against the architecture (every key and shape of a model built from it
on the meta device), so a file that loads is one the encoder accepts.
"""

from __future__ import annotations

import ast
import json
import os
import pickle
import re
from pathlib import Path
from typing import Any

import torch

from ssd.frontend.ssl import (
    ARCHITECTURE_KEYS,
    FAMILIES,
    FIXED_SETTINGS,
    check_architecture,
    transformers_classes,
)
from ssd.utils.fileio import atomic_write, file_digest

FORMAT = "ssd-ssl-1"
# Canonical names of the positional convolution's weight-norm factors; transformers releases differ
# (weight_g/weight_v, or torch parametrizations), mapped to whichever the installed one builds.
POS_CONV = "encoder.pos_conv_embed.conv."
POS_CONV_G, POS_CONV_V = POS_CONV + "weight_g", POS_CONV + "weight_v"
POS_CONV_ALIASES = {POS_CONV + "parametrizations.weight.original0": POS_CONV_G,
                    POS_CONV + "parametrizations.weight.original1": POS_CONV_V}


class CheckpointError(ValueError):
    """A checkpoint that cannot be converted or loaded; the message names the file and why."""


# --- reading fairseq pickles safely ---------------------------------------------------------------
class Opaque:
    """What a pickled object of a class weights_only does not know becomes: its arguments and state."""

    qualname = "?"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs, self.state = args, kwargs, None

    def __new__(cls, *args: Any, **kwargs: Any) -> Opaque:
        obj = super().__new__(cls)
        obj.args, obj.kwargs, obj.state = args, kwargs, None
        return obj

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<opaque {self.qualname}>"


_opaque_classes: dict[str, type] = {}


def _opaque(qualname: str) -> type:
    if qualname not in _opaque_classes:
        _opaque_classes[qualname] = type(f"Opaque[{qualname}]", (Opaque,), {"qualname": qualname})
    return _opaque_classes[qualname]


MAX_STAND_INS = 200  # distinct classes a checkpoint may name (fairseq's name a dozen or two)
_UNSUPPORTED_GLOBAL = re.compile(r"Unsupported global: GLOBAL (\S+)")


def load_pickle(path: Path) -> Any:
    """A torch checkpoint through torch's own ``weights_only`` unpickler, every class it names that
    weights_only does not allow standing in as an inert :class:`Opaque` under that name: nothing the
    pickle names is imported, and no function outside torch's allowlist is called."""
    try:  # the zip format lists its globals without unpickling anything
        names = set(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except ValueError:  # the legacy format: learn them from the loader's refusals
        names = set()
    for _ in range(MAX_STAND_INS):
        with torch.serialization.safe_globals([(_opaque(name), name) for name in sorted(names)]):
            try:
                return torch.load(path, map_location="cpu", weights_only=True)
            except pickle.UnpicklingError as err:
                missing = _UNSUPPORTED_GLOBAL.search(str(err))
                if missing is None or missing[1] in names:
                    raise
                names.add(missing[1])
    raise CheckpointError(f"{path}: names more than {MAX_STAND_INS} classes")


def plain(obj: Any, depth: int = 0, memo: dict[int, Any] | None = None) -> Any:
    """Opaque records (argparse namespaces, omegaconf nodes, enums) turned into dicts, lists and values.

    Each object is converted once (a pickle may reference one object from many places: copying it
    each time would let a small file expand exponentially); nesting is bounded.
    """
    memo = {} if memo is None else memo
    if id(obj) in memo:
        return memo[id(obj)]
    if depth > 200:
        raise CheckpointError("the checkpoint's config nests more than 200 levels")
    down = depth + 1
    if isinstance(obj, dict):
        out: Any = {plain(k, down, memo): plain(v, down, memo) for k, v in obj.items()}
    elif isinstance(obj, (list, tuple, set, frozenset)):
        out = [plain(v, down, memo) for v in obj]
    elif not isinstance(obj, Opaque):
        return obj
    else:
        state = obj.state
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], dict | None) \
                and isinstance(state[1], dict):
            state = {**(state[0] or {}), **state[1]}  # (__dict__, __slots__ values)
        if isinstance(state, dict):
            inner = state.get("_content", state.get("_val", state))  # omegaconf container, value node
            out = plain(inner, down, memo)  # or argparse.Namespace and other plain objects
        elif obj.args:  # an enum member or a single-value wrapper, else its arguments
            out = plain(obj.args[0] if len(obj.args) == 1 else list(obj.args), down, memo)
        else:
            out = None
    memo[id(obj)] = out
    return out


def read_fairseq(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(model tensors, model config as plain values) of a fairseq checkpoint, without fairseq."""
    try:
        ckpt = load_pickle(path)
    except CheckpointError:
        raise
    except Exception as err:  # noqa: BLE001 - any unreadable pickle is the same user error
        raise CheckpointError(f"{path}: not a readable torch checkpoint "
                              f"({type(err).__name__}: {err})") from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("model"), dict):
        raise CheckpointError(f"{path}: no 'model' state dict: not a fairseq checkpoint")
    state = {k: v for k, v in ckpt["model"].items() if isinstance(v, torch.Tensor)}
    config = None
    try:
        if ckpt.get("cfg") is not None:
            cfg = plain(ckpt["cfg"])
            config = cfg.get("model", cfg) if isinstance(cfg, dict) else None
        if config is None and ckpt.get("args") is not None:
            config = plain(ckpt["args"])
    except TypeError as err:  # e.g. a key that is not hashable once plain
        raise CheckpointError(f"{path}: its config is not made of plain values ({err})") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: no model config (neither cfg.model nor args)")
    if isinstance(config.get("w2v_args"), dict):  # a fine-tuned model: the encoder's own config
        inner = config["w2v_args"]
        config = inner.get("model", inner)
    return state, config


# --- fairseq -> transformers --------------------------------------------------------------------
def parse_conv_layers(spec: str) -> list[tuple[int, int, int]]:
    """fairseq's ``conv_feature_layers`` ("[(512, 10, 5)] + [(512, 3, 2)] * 4 + ...") without eval."""
    def value(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            return [value(e) for e in node.elts]
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
            left, right = value(node.left), value(node.right)
            if isinstance(node.op, ast.Add) and isinstance(left, list) and isinstance(right, list):
                return left + right
            if isinstance(node.op, ast.Mult) and isinstance(left, list) and isinstance(right, int) \
                    and 0 <= right <= 64:
                return left * right
        raise CheckpointError(f"conv_feature_layers {spec!r}: only lists of (dim, kernel, stride) tuples, "
                              "+ and * are understood")

    try:
        layers = value(ast.parse(str(spec), mode="eval").body)
    except SyntaxError:
        raise CheckpointError(f"conv_feature_layers {spec!r} is not a Python list expression") from None
    if not layers or any(not isinstance(t, list) or len(t) != 3 for t in layers):
        raise CheckpointError(f"conv_feature_layers {spec!r}: need (dim, kernel, stride) tuples")
    return [tuple(t) for t in layers]


DEFAULT_CONV_LAYERS = "[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512, 2, 2)] * 2"


def fairseq_architecture(config: dict[str, Any], family: str, where: str) -> dict[str, Any]:
    """transformers config keys equivalent to a fairseq wav2vec 2.0 / WavLM model config."""
    def get(key: str, default: Any) -> Any:
        value = config.get(key)
        return default if value is None else value

    if get("layer_type", "transformer") != "transformer":
        raise CheckpointError(f"{where}: layer_type {config['layer_type']!r}: only transformer layers "
                              "convert")
    if int(get("pos_conv_depth", 1)) != 1:
        raise CheckpointError(f"{where}: pos_conv_depth {config['pos_conv_depth']}: only 1 converts")
    mode = get("extractor_mode", "default")
    if mode not in ("default", "layer_norm"):
        raise CheckpointError(f"{where}: extractor_mode {mode!r} is neither default nor layer_norm")
    conv = parse_conv_layers(get("conv_feature_layers", DEFAULT_CONV_LAYERS))
    arch = {
        "hidden_size": int(get("encoder_embed_dim", 768)),
        "num_hidden_layers": int(get("encoder_layers", 12)),
        "num_attention_heads": int(get("encoder_attention_heads", 12)),
        "intermediate_size": int(get("encoder_ffn_embed_dim", 3072)),
        "hidden_act": str(get("activation_fn", "gelu")),
        "hidden_dropout": float(get("dropout", 0.1)),
        "attention_dropout": float(get("attention_dropout", 0.1)),
        "activation_dropout": float(get("activation_dropout", 0.0)),
        "feat_proj_dropout": float(get("dropout_input", 0.0)),
        "feat_extract_norm": "group" if mode == "default" else "layer",
        "feat_extract_activation": "gelu",
        "conv_dim": [c[0] for c in conv], "conv_kernel": [c[1] for c in conv],
        "conv_stride": [c[2] for c in conv], "conv_bias": bool(get("conv_bias", False)),
        "num_conv_pos_embeddings": int(get("conv_pos", 128)),
        "num_conv_pos_embedding_groups": int(get("conv_pos_groups", 16)),
        "do_stable_layer_norm": bool(get("layer_norm_first", False)),
    }
    if family == "wavlm":
        if not get("relative_position_embedding", True) or not get("gru_rel_pos", True):
            raise CheckpointError(f"{where}: a WavLM without relative position embedding or gated relative "
                                  "position bias does not convert")
        arch["num_buckets"] = int(get("num_buckets", 320))
        arch["max_bucket_distance"] = int(get("max_distance", 800))
    return arch


_FAIRSEQ_LAYER = {
    "self_attn.q_proj": "attention.q_proj", "self_attn.k_proj": "attention.k_proj",
    "self_attn.v_proj": "attention.v_proj", "self_attn.out_proj": "attention.out_proj",
    "self_attn.grep_linear": "attention.gru_rel_pos_linear",
    "self_attn.grep_a": "attention.gru_rel_pos_const",
    "self_attn.relative_attention_bias": "attention.rel_attn_embed",
    "self_attn_layer_norm": "layer_norm", "fc1": "feed_forward.intermediate_dense",
    "fc2": "feed_forward.output_dense", "final_layer_norm": "final_layer_norm",
}
_FAIRSEQ_TOP = {
    "layer_norm": "feature_projection.layer_norm", "post_extract_proj": "feature_projection.projection",
    "encoder.layer_norm": "encoder.layer_norm",
    "encoder.pos_conv.0.weight_g": POS_CONV_G, "encoder.pos_conv.0.weight_v": POS_CONV_V,
    "encoder.pos_conv.0.parametrizations.weight.original0": POS_CONV_G,
    "encoder.pos_conv.0.parametrizations.weight.original1": POS_CONV_V,
    "encoder.pos_conv.0.bias": POS_CONV + "bias",
}
# Pre-training and fine-tuning heads, and the masking embedding (never used: no masking here).
_FAIRSEQ_DROPPED = ("quantizer.", "project_q.", "final_proj.", "project_inp.", "target_glu.",
                    "label_embs_concat", "mask_emb", "proj.", "layer_norm_target.")


def fairseq_to_hf(state: dict[str, torch.Tensor], where: str) -> dict[str, torch.Tensor]:
    """fairseq key names -> transformers ones; an unknown key is an error, never silently dropped."""
    prefixes = ("w2v_encoder.w2v_model.", "w2v_model.", "encoder.w2v_model.")
    out, unknown = {}, []
    for key, tensor in state.items():
        for prefix in prefixes:
            if key.startswith(prefix):
                key = key[len(prefix):]
                break
        if key.startswith(_FAIRSEQ_DROPPED) or key.startswith("w2v_encoder.proj"):
            continue
        stem, _, leaf = key.rpartition(".")
        if key in _FAIRSEQ_TOP or stem in _FAIRSEQ_TOP:
            out[_FAIRSEQ_TOP[key] if key in _FAIRSEQ_TOP else f"{_FAIRSEQ_TOP[stem]}.{leaf}"] = tensor
            continue
        if m := re.fullmatch(r"feature_extractor\.conv_layers\.(\d+)\.0\.(weight|bias)", key):
            out[f"feature_extractor.conv_layers.{m[1]}.conv.{m[2]}"] = tensor
            continue
        if m := re.fullmatch(r"feature_extractor\.conv_layers\.(\d+)\.2(?:\.1)?\.(weight|bias)", key):
            out[f"feature_extractor.conv_layers.{m[1]}.layer_norm.{m[2]}"] = tensor
            continue
        if m := re.fullmatch(r"encoder\.layers\.(\d+)\.(.+)", key):
            part = m[2]
            name = next((k for k in _FAIRSEQ_LAYER if part == k or part.startswith(k + ".")), None)
            if name is not None:
                out[f"encoder.layers.{m[1]}.{_FAIRSEQ_LAYER[name]}{part[len(name):]}"] = tensor
                continue
        unknown.append(key)
    if unknown:
        raise CheckpointError(f"{where}: {len(unknown)} key(s) of no known wav2vec 2.0 / WavLM module, e.g. "
                              f"{', '.join(sorted(unknown)[:5])}")
    return out


# --- Hugging Face --------------------------------------------------------------------------------
_HF_DROPPED = ("quantizer.", "project_q.", "project_hid.", "lm_head.", "classifier.", "projector.",
               "masked_spec_embed", "dropout_features", "adapter.")


def read_hf_dir(path: Path) -> tuple[dict[str, torch.Tensor], str, dict[str, Any]]:
    """(tensors, family, architecture) of a Hugging Face model directory."""
    config_file = path / "config.json"
    if not config_file.is_file():
        raise CheckpointError(f"{path}: a Hugging Face model directory needs config.json")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{config_file}: not a JSON config ({err})") from None
    family = config.get("model_type")
    if family not in FAMILIES:
        raise CheckpointError(f"{config_file}: model_type {family!r} is not one of {', '.join(FAMILIES)}")
    arch = {k: v for k, v in config.items() if k in ARCHITECTURE_KEYS}
    if (path / "model.safetensors").is_file():
        from safetensors.torch import load_file

        state = load_file(path / "model.safetensors")
    elif (path / "pytorch_model.bin").is_file():
        try:
            state = torch.load(path / "pytorch_model.bin", map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001
            raise CheckpointError(f"{path / 'pytorch_model.bin'}: not a tensor-only file ({err})") from None
    else:
        raise CheckpointError(f"{path}: neither model.safetensors nor pytorch_model.bin")
    out = {}
    for key, tensor in state.items():
        for prefix in (f"{family}.", "wav2vec2."):
            if key.startswith(prefix):
                key = key[len(prefix):]
                break
        if key.startswith(_HF_DROPPED):
            continue
        out[POS_CONV_ALIASES.get(key, key)] = tensor
    return out, family, arch


# --- the converted file --------------------------------------------------------------------------
def check_tensors(state: dict[str, Any], family: str, architecture: dict[str, Any], where: str
                  ) -> dict[str, str]:
    """Check that every key and shape of ``state`` (canonical names) matches a model of ``architecture``,
    built on the meta device, or raise a CheckpointError; returns canonical -> installed name for the
    keys the installed transformers names otherwise."""
    config_class, model_class = transformers_classes(family)
    with torch.device("meta"):
        model = model_class(config_class(**check_architecture(architecture, where), **FIXED_SETTINGS))
    expected = {POS_CONV_ALIASES.get(k, k): tuple(v.shape) for k, v in model.state_dict().items()}
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    missing, extra = sorted(set(expected) - set(shapes)), sorted(set(shapes) - set(expected))
    wrong = sorted(k for k in set(expected) & set(shapes) if expected[k] != shapes[k])
    if missing or extra or wrong:
        parts = [f"{len(missing)} missing (e.g. {', '.join(missing[:3])})" if missing else "",
                 f"{len(extra)} unexpected (e.g. {', '.join(extra[:3])})" if extra else "",
                 "shape differs for " + ", ".join(f"{k} {shapes[k]} != {expected[k]}" for k in wrong[:3])
                 if wrong else ""]
        raise CheckpointError(f"{where}: the tensors do not fit the {family} architecture: "
                              + "; ".join(p for p in parts if p))
    return {canonical: name for name, canonical in POS_CONV_ALIASES.items() if name in model.state_dict()}


def convert(source: str | os.PathLike, output: str | os.PathLike,
            family: str | None = None) -> dict[str, Any]:
    """Convert ``source`` (fairseq .pt, or a Hugging Face directory) into ``output``; returns its header.

    ``family`` is needed for fairseq files (they do not say whether they are wav2vec2 or WavLM when the
    config lacks ``_name``); Hugging Face directories name it in config.json.
    """
    from safetensors.torch import save

    source = Path(source)
    if source.is_dir():
        state, found, arch = read_hf_dir(source)
        digest = file_digest(source / "config.json")[0]
    elif source.is_file():
        state, config = read_fairseq(source)
        named = str(config.get("_name", "")).lower()
        found = family or ("wavlm" if "wavlm" in named else "wav2vec2" if "wav2vec" in named else None)
        if found is None:
            raise CheckpointError(f"{source}: cannot tell the family from its config: pass --family")
        arch = fairseq_architecture(config, found, str(source))
        state = fairseq_to_hf(state, str(source))
        digest = file_digest(source)[0]
    else:
        raise CheckpointError(f"{source}: no such file or directory")
    if family is not None and family != found:
        raise CheckpointError(f"{source} holds a {found} model, not {family}")
    check_tensors(state, found, arch, str(source))
    header = {"format": FORMAT, "family": found, "architecture": arch, "source": source.name,
              "source_sha256": digest}
    tensors = {k: v.detach().to(torch.float32).contiguous() if v.is_floating_point() else v.contiguous()
               for k, v in state.items()}
    with atomic_write(output, "wb") as f:
        f.write(save(tensors, metadata={"ssd": json.dumps(header, sort_keys=True)}))
    return header


def read_header(path: str | os.PathLike) -> dict[str, Any]:
    """The header a converted file carries; anything else (a raw fairseq .pt, a pickle) is refused."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (OSError, SafetensorError) as err:
        raise CheckpointError(f"{path}: not a converted SSL checkpoint (a safetensors file written by "
                              f"ssd-convert-ssl): {err}") from None
    try:
        header = json.loads(meta["ssd"])
        if header["format"] != FORMAT or header["family"] not in FAMILIES:
            raise KeyError("format")
        header["architecture"] = check_architecture(header["architecture"], str(path))
    except (KeyError, TypeError, ValueError, json.JSONDecodeError):
        raise CheckpointError(f"{path}: a safetensors file without ssd-convert-ssl's header: convert the "
                              "checkpoint with ssd-convert-ssl first") from None
    return header


def load_encoder_state(path: str | os.PathLike, family: str, architecture: dict[str, Any]
                       ) -> dict[str, torch.Tensor]:
    """The converted tensors under the installed transformers' key names, checked against ``architecture``."""
    from safetensors.torch import load_file

    header = read_header(path)
    if header["family"] != family or header["architecture"] != check_architecture(architecture, str(path)):
        raise CheckpointError(f"{path}: its architecture differs from model.ssl's (the config was resolved "
                              "from another checkpoint)")
    state = load_file(str(path))
    to_installed = check_tensors(state, family, architecture, str(path))
    return {to_installed.get(k, k): v for k, v in state.items()}

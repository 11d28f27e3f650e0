"""Self-supervised speech encoders as a learned front end: wav2vec 2.0 / XLS-R and WavLM.

The encoder is a ``transformers`` model built from an architecture config, never from a hub: the
weights come only from a file the user converted (:mod:`ssd.importers.ssl_checkpoint`, a tensor-only
safetensors file that also records the architecture). ``transformers`` is an optional extra
(``pip install -e .[ssl]``); it is imported only when an SSL model is built, with the hub switched off.

``model.ssl`` (checked by :class:`SslConfig`)::

    family: wav2vec2 | wavlm        # the architecture family (XLS-R is wav2vec2)
    checkpoint: PATH                # converted file; its weights initialise a new training run
    architecture: {...}             # the transformers config keys; read from the checkpoint when absent
    layer: last | K | weighted      # (null: last) the last layer, layer K (0 = the transformer's input;
                                    # layers above K are dropped, never computed), or a learned
                                    # softmax-weighted sum
    freeze: true                    # frozen: eval mode, no gradients; false: fine-tuned
    lr: null                        # fine-tuning learning rate (null: optim.lr, like the back end)
    proj_dim: 128                   # linear projection of the hidden size (0: none), as Tak et al.
    normalize: false                # zero-mean unit-variance per crop (what XLS-R saw in pre-training)

The backbone reads the (B, proj_dim, frames) output as a feature map (50 frames per second).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import torch
from torch import nn

FAMILIES = ("wav2vec2", "wavlm")
LAYER_CHOICES = ("last", "weighted")
# Settings that always hold, whatever the checkpoint's config says: no LayerDrop (a skipped layer would
# make "layer K" and the weighted sum depend on chance) and no SpecAugment masking inside the encoder
# (the field's recipes fine-tune without it; augment the waveform instead).
FIXED_SETTINGS = {"layerdrop": 0.0, "apply_spec_augment": False, "mask_time_prob": 0.0,
                  "mask_feature_prob": 0.0}
# transformers config keys an architecture may carry (anything else in a file is refused).
ARCHITECTURE_KEYS = frozenset({
    "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "hidden_act",
    "hidden_dropout", "activation_dropout", "attention_dropout", "feat_proj_dropout", "final_dropout",
    "layer_norm_eps", "feat_extract_norm", "feat_extract_activation", "conv_dim", "conv_stride",
    "conv_kernel", "conv_bias", "num_conv_pos_embeddings", "num_conv_pos_embedding_groups",
    "do_stable_layer_norm", "num_buckets", "max_bucket_distance",
})


class SslUnavailable(ValueError):
    """transformers is not installed; the message says how to install it. A ValueError, as a config
    naming a part this installation lacks: every command reports it as a bad input, not a crash."""


def transformers_classes(family: str) -> tuple[type, type]:
    """(config class, model class) of ``family``, importing transformers offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import transformers
    except ImportError:
        raise SslUnavailable("the ssl front end needs the transformers package: pip install -e '.[ssl]' "
                             "(or pip install 'transformers>=4.40')") from None
    if family == "wav2vec2":
        return transformers.Wav2Vec2Config, transformers.Wav2Vec2Model
    if family == "wavlm":
        return transformers.WavLMConfig, transformers.WavLMModel
    raise ValueError(f"unknown model.ssl.family {family!r}; known: {', '.join(FAMILIES)}")


def check_architecture(architecture: dict[str, Any], where: str) -> dict[str, Any]:
    """The architecture's keys, checked: only known transformers keys of plain types."""
    if not isinstance(architecture, dict):
        raise ValueError(f"{where}: the architecture must be a mapping, got {type(architecture).__name__}")
    unknown = sorted(set(architecture) - ARCHITECTURE_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown architecture key(s) {', '.join(unknown)}; known: "
                         f"{', '.join(sorted(ARCHITECTURE_KEYS))}")
    for key, value in architecture.items():
        plain = (list, tuple) if key.startswith("conv_") and key != "conv_bias" else (int, float, str, bool)
        if not isinstance(value, plain):
            raise ValueError(f"{where}: architecture key {key} has a {type(value).__name__} value")
    return {k: list(v) if isinstance(v, tuple) else v for k, v in architecture.items()}


def read_checkpoint_header(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata of a converted checkpoint (family, architecture, source) without reading tensors."""
    from ssd.importers.ssl_checkpoint import read_header

    return read_header(path)


@dataclass(frozen=True)
class SslConfig:
    """The ``model.ssl`` section (see the module docstring)."""

    family: str = "wav2vec2"
    checkpoint: str | None = None
    architecture: dict[str, Any] = field(default_factory=dict)
    layer: str | int = "last"
    freeze: bool = True
    lr: float | None = None
    proj_dim: int = 128
    normalize: bool = False

    @classmethod
    def from_dict(cls, cfg: dict[str, Any] | None) -> SslConfig:
        cfg = {k: v for k, v in dict(cfg or {}).items() if v is not None or k in ("checkpoint", "lr")}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ValueError(f"unknown model.ssl key(s): {', '.join(unknown)}; known: {sorted(known)}")
        out = cls(**cfg)
        if out.family not in FAMILIES:
            raise ValueError(f"unknown model.ssl.family {out.family!r}; known: {', '.join(FAMILIES)}")
        if not (out.layer in LAYER_CHOICES or (isinstance(out.layer, int) and not isinstance(out.layer, bool)
                                              and out.layer >= 0)):
            raise ValueError(f"model.ssl.layer must be last, weighted or a layer number >= 0, "
                             f"got {out.layer!r}")
        if out.proj_dim < 0:
            raise ValueError(f"model.ssl.proj_dim must be >= 0 (0: no projection), got {out.proj_dim}")
        if out.lr is not None and not float(out.lr) > 0:
            raise ValueError(f"model.ssl.lr must be positive or null, got {out.lr}")
        if out.architecture:
            check_architecture(out.architecture, "model.ssl.architecture")
        return out

    def resolved(self) -> SslConfig:
        """This config with the architecture read from the checkpoint when it is not given."""
        if self.architecture:
            return self
        if not self.checkpoint:
            raise ValueError("model.ssl needs a checkpoint, a file converted by ssd-convert-ssl (e.g. "
                             "--model.ssl.checkpoint FILE), or an architecture (a transformers config, e.g. "
                             "a tiny randomly initialised one)")
        header = read_checkpoint_header(self.checkpoint)
        if header["family"] != self.family:
            raise ValueError(f"model.ssl.family is {self.family} but {self.checkpoint} holds a "
                             f"{header['family']} model")
        return SslConfig(**{**self.__dict__, "architecture": header["architecture"]})


class SslEncoder(nn.Module):
    """(B, samples) waveform at 16 kHz -> (B, dim, frames): the front end the backbone reads."""

    name: ClassVar[str] = "ssl"
    unit: ClassVar[str] = "frames"

    def __init__(self, cfg: SslConfig | dict[str, Any]) -> None:
        super().__init__()
        c = cfg if isinstance(cfg, SslConfig) else SslConfig.from_dict(cfg)
        if not c.architecture:
            raise ValueError("model.ssl.architecture is not resolved (SslConfig.resolved reads it from the "
                             "checkpoint)")
        self.config = c
        config_class, model_class = transformers_classes(c.family)
        self.hf_config = config_class(**check_architecture(c.architecture, "model.ssl.architecture"),
                                      **FIXED_SETTINGS)
        layers = int(self.hf_config.num_hidden_layers)
        if isinstance(c.layer, int) and c.layer > layers:
            raise ValueError(f"model.ssl.layer {c.layer} is beyond the model's {layers} layers")
        self.model = model_class(self.hf_config)
        self.kept_layers = c.layer if isinstance(c.layer, int) else layers
        del self.model.encoder.layers[self.kept_layers:]  # never computed: not kept, trained or saved
        self.layer_weights = nn.Parameter(torch.zeros(layers + 1)) if c.layer == "weighted" else None
        hidden = int(self.hf_config.hidden_size)
        self.proj = nn.Linear(hidden, c.proj_dim) if c.proj_dim else None
        self.dim = c.proj_dim or hidden
        if c.freeze:
            self.model.requires_grad_(False)

    def load_pretrained(self) -> None:
        """Copy the converted checkpoint's weights into the encoder (a new training run's start)."""
        from ssd.importers.ssl_checkpoint import load_encoder_state

        state = load_encoder_state(self.config.checkpoint, self.config.family, self.config.architecture)
        kept = self.model.state_dict().keys()  # the file holds every layer; those above model.ssl.layer go
        self.model.load_state_dict({k: v for k, v in state.items() if k in kept}, strict=True)

    def train(self, mode: bool = True) -> SslEncoder:
        super().train(mode)
        if self.config.freeze:
            self.model.eval()  # a frozen encoder never runs its dropouts
        return self

    def num_frames(self, num_samples: int) -> int:
        """Frames of the output for an input of ``num_samples`` samples (the conv stack's strides)."""
        frames = int(num_samples)
        for kernel, stride in zip(self.hf_config.conv_kernel, self.hf_config.conv_stride, strict=True):
            frames = (frames - kernel) // stride + 1
        return frames

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        if wave.dim() != 2 or self.num_frames(wave.shape[1]) < 1:
            raise ValueError(f"the ssl front end expects a waveform (B, samples) long enough for one frame, "
                             f"got {tuple(wave.shape)}")
        if self.config.normalize:
            mean = wave.mean(dim=1, keepdim=True)
            wave = (wave - mean) / torch.sqrt(wave.var(dim=1, keepdim=True, unbiased=False) + 1e-7)
        with torch.no_grad() if self.config.freeze else contextlib.nullcontext():
            if self.layer_weights is None:
                hidden = self.model(wave).last_hidden_state  # (B, frames, hidden)
            else:
                states = self.model(wave, output_hidden_states=True).hidden_states
        if self.layer_weights is not None:  # learned even when the encoder is frozen
            weights = torch.softmax(self.layer_weights, dim=0)
            hidden = sum(w * h for w, h in zip(weights, states, strict=True))
        out = self.proj(hidden) if self.proj is not None else hidden
        return out.transpose(1, 2)

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        """Optimiser groups: the encoder's trainable weights at ``model.ssl.lr`` (default ``lr``), and
        the projection and layer weights (back-end parameters) at ``lr``."""
        head = [p for n, p in self.named_parameters() if not n.startswith("model.")]
        groups = [{"params": head}] if head else []
        if not self.config.freeze:
            encoder_lr = lr if self.config.lr is None else float(self.config.lr)
            groups.append({"params": list(self.model.parameters()), "lr": encoder_lr})
        return groups


class SslBackbone(nn.Module):
    """The SSL encoder followed by a feature backbone: what ``MultiTaskModel.backbone`` is for ``ssl``."""

    input_kind: ClassVar[str] = "waveform"

    def __init__(self, encoder: SslEncoder, head: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.embedding_dim = head.embedding_dim
        self.logit_order = head.logit_order

    def forward(self, wave: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(self.encoder(wave))

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        return [{"params": list(self.head.parameters())}, *self.encoder.param_groups(lr)]


def resolve_training_config(cfg: dict[str, Any], recorded: dict[str, Any] | None = None) -> dict[str, Any]:
    """``cfg`` with ``model.ssl.architecture`` read from the checkpoint when the front end is ssl, so that
    the experiment's saved config builds the model anywhere, without the user's checkpoint file.

    ``recorded`` is the saved config of the run being resumed: when it names the same checkpoint, its
    architecture is taken, so a resumed run (whose weights come from ``last.pt``) no longer needs the
    checkpoint file."""
    model = dict(cfg.get("model") or {})
    if model.get("frontend") != "ssl":
        return cfg
    ssl = dict(model.get("ssl") or {})
    saved = ((recorded or {}).get("model") or {}).get("ssl") or {}
    if not ssl.get("architecture") and saved.get("architecture") and saved.get("checkpoint") == ssl.get(
            "checkpoint"):
        ssl["architecture"] = saved["architecture"]
    section = SslConfig.from_dict(ssl).resolved()
    model["ssl"] = {**ssl, "architecture": section.architecture}
    return {**cfg, "model": model}

"""Name -> backbone: the networks that turn a front end's output into (embedding, logits).

Every backbone class declares ``input_kind`` ("features": a (B, dim, frames) matrix such as LFCC;
"waveform": (B, samples)), ``logit_order`` (which of its two logits is bona fide) and an
``embedding_dim`` attribute, and is built from its own ``model.<name>`` section, checked by its config
class. The auxiliary tasks and the CM loss only see the embedding, so they work on any backbone. A new
backbone is one module in :mod:`ssd.nets` and one line in :data:`BACKBONES`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from ssd.nets.aasist import AASIST, AASIST_L_CONFIG, AasistConfig
from ssd.nets.aasist_ssl import AasistSsl, AasistSslConfig
from ssd.nets.lcnn import LCNN, LcnnConfig
from ssd.nets.rawnet2 import RawNet2, RawNet2Config
from ssd.nets.resnet import ResNetBackbone, ResNetConfig


@dataclass(frozen=True)
class Backbone:
    """A registered backbone: its class, the config class of its section, and that section's defaults."""

    network: type[nn.Module]
    config: type
    defaults: dict[str, Any] = field(default_factory=dict)
    length_key: str | None = None  # a section key that must equal model.input_length (the authors' nb_samp)

    @property
    def input_kind(self) -> str:
        return self.network.input_kind

    @property
    def bonafide_logit(self) -> int:
        return self.network.logit_order.index("bonafide")


BACKBONES: dict[str, Backbone] = {
    "resnet": Backbone(ResNetBackbone, ResNetConfig),
    "lcnn": Backbone(LCNN, LcnnConfig),
    "rawnet2": Backbone(RawNet2, RawNet2Config, length_key="nb_samp"),
    "aasist": Backbone(AASIST, AasistConfig, length_key="nb_samp"),
    "aasist-l": Backbone(AASIST, AasistConfig, AASIST_L_CONFIG, length_key="nb_samp"),
    "aasist-ssl": Backbone(AasistSsl, AasistSslConfig),
}

# Which front-end time unit each input kind reads.
INPUT_UNITS = {"features": "frames", "waveform": "samples"}


def backbone_entry(name: str) -> Backbone:
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; registered: {', '.join(sorted(BACKBONES))}")
    return BACKBONES[name]


def build_backbone(name: str, section: dict[str, Any] | None, frontend: Any, input_length: int) -> nn.Module:
    """The backbone ``name`` from its ``model.<name>`` section, fitted to ``frontend`` and the crop length.

    A combination that cannot work (a waveform backbone on LFCC, a section that contradicts the front end
    or the crop length) is an error saying why.
    """
    entry = backbone_entry(name)
    if INPUT_UNITS[entry.input_kind] != frontend.unit:
        fix = "model.frontend: raw" if entry.input_kind == "waveform" else "a feature front end (lfcc, ssl)"
        raise ValueError(f"backbone {name!r} reads {entry.input_kind} counted in "
                         f"{INPUT_UNITS[entry.input_kind]}, but front end {frontend.name!r} gives "
                         f"{frontend.unit}: use {fix}")
    defaults = {k: v for k, v in entry.defaults.items() if k != entry.length_key}  # the crop length decides
    cfg = {**defaults, **dict(section or {})}
    if entry.input_kind == "features":
        if cfg.get("feat_dim", frontend.dim) != frontend.dim:
            raise ValueError(f"model.{name}.feat_dim is {cfg['feat_dim']} but front end {frontend.name!r} "
                             f"gives {frontend.dim} dims: leave feat_dim out, the front end sets it")
        cfg["feat_dim"] = frontend.dim
    if entry.length_key is not None:
        if cfg.get(entry.length_key, input_length) != input_length:
            raise ValueError(f"model.{name}.{entry.length_key} ({cfg[entry.length_key]}) differs from "
                             f"model.input_length ({input_length}): set the crop length once, in "
                             "input_length")
        cfg[entry.length_key] = input_length
    return entry.network(entry.config.from_dict(cfg))

"""The ``model:`` section of a training config: which registered parts, and their sizes.

``model: {frontend: lfcc, backbone: resnet, input_length: 750, converter_width: 16, resnet: {...},
lcnn: {...}, ...}``: like ``loss:``, a base config may hold one section per registered backbone and a
variant switch only ``backbone``; only the chosen backbone's section is read. Lengths are counted in the
front end's unit (LFCC frames, or samples for ``raw``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ssd.frontend.registry import FRONTENDS
from ssd.nets.registry import BACKBONES

MOVED = {  # keys of the ResNet-only schema, with where they went
    "input_frames": "model.input_length", "feat_dim": "the front end (model.frontend)",
    **{k: f"model.resnet.{k}" for k in ("stem_channels", "channels", "blocks", "pool_channels",
                                        "embedding_dim", "pool_noise")},
}


@dataclass(frozen=True)
class ModelConfig:
    """The parts of the model; defaults are the paper's (LFCC, ResNet-34, 750-frame crops)."""

    frontend: str = "lfcc"
    backbone: str = "resnet"
    input_length: int = 750  # training crop = evaluation window, in the front end's unit
    converter_width: int = 16  # S2 conversion autoencoder's first width (all others scale with it)
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)  # model.<backbone> sections
    ssl: dict[str, Any] = field(default_factory=dict)  # model.ssl: the SSL encoder (ssd.frontend.ssl)

    @property
    def backbone_section(self) -> dict[str, Any]:
        return dict(self.sections.get(self.backbone) or {})

    @classmethod
    def from_dict(cls, cfg: dict[str, Any] | None) -> ModelConfig:
        """Builds from a ``model:`` mapping; unknown keys, front ends and backbones are errors."""
        cfg = dict(cfg or {})
        moved = sorted(set(cfg) & set(MOVED))
        if moved:
            raise ValueError("model key(s) moved: " + "; ".join(f"{k} -> {MOVED[k]}" for k in moved))
        scalars = {"frontend", "backbone", "input_length", "converter_width", "ssl"}
        unknown = sorted(set(cfg) - scalars - set(BACKBONES))
        if unknown:
            raise ValueError(f"unknown model config key(s): {', '.join(unknown)}; known: {sorted(scalars)} "
                             f"and one section per backbone {sorted(BACKBONES)}")
        sections = {name: dict(cfg.pop(name) or {}) for name in list(cfg) if name in BACKBONES}
        ssl = dict(cfg.pop("ssl", None) or {})
        out = cls(**cfg, sections=sections, ssl=ssl)
        if out.frontend not in FRONTENDS:
            raise ValueError(f"unknown front end model.frontend={out.frontend!r}; registered: "
                             f"{', '.join(sorted(FRONTENDS))}")
        if out.backbone not in BACKBONES:
            raise ValueError(f"unknown backbone model.backbone={out.backbone!r}; registered: "
                             f"{', '.join(sorted(BACKBONES))}")
        if int(out.input_length) < 16:
            raise ValueError(f"model.input_length must be >= 16, got {out.input_length}")
        return out

"""The countermeasure backbone: pre-activation ResNet with attentive statistics pooling (Mo & Wang 2022)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ssd.nets.blocks import PreActBlock
from ssd.nets.pooling import AttentiveStatsPooling

STEM_KERNEL = (9, 3)
STEM_STRIDE = (3, 1)
STAGE_STRIDES = (1, 2, 2, 2)


@dataclass(frozen=True)
class ResNetConfig:
    """The ``model.resnet`` sizes; defaults are the paper's ResNet-34.

    A mini configuration may shrink every width and block count; the frequency strides
    (60 -> 18 -> 9 -> 5 -> 3, collapsed by the final conv) follow from ``feat_dim``, which the front end
    sets, and are not configurable.
    """

    feat_dim: int = 60  # set from the front end (LFCC: 20 static + delta + delta-delta)
    stem_channels: int = 16  # first conv, kernel (9, 3), stride (3, 1)
    channels: tuple[int, ...] = (64, 128, 256, 512)  # widths of the four pre-activation stages
    blocks: tuple[int, ...] = (3, 4, 6, 3)  # blocks per stage (ResNet-34)
    pool_channels: int = 256  # output of the frequency-collapsing conv, input of the pooling
    embedding_dim: int = 256
    pool_noise: float = 1e-5  # std of the noise added before the pooling std, training only
    # Zero each block's last conv after the reference initialisation, so that every block starts as its
    # shortcut (Goyal et al. 2017's zero-init residual): off is the reference.
    zero_init_residual: bool = False

    @classmethod
    def from_dict(cls, cfg: dict[str, Any] | None) -> ResNetConfig:
        """Builds from a ``model.resnet`` mapping; unknown keys and impossible sizes are errors."""
        cfg = dict(cfg or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ValueError(f"unknown model.resnet key(s): {', '.join(unknown)}; known: {sorted(known)}")
        for key in ("channels", "blocks"):
            if key in cfg:
                cfg[key] = tuple(int(v) for v in cfg[key])
        out = cls(**cfg)
        if len(out.channels) != 4 or len(out.blocks) != 4:
            raise ValueError(f"model.resnet.channels and blocks need 4 stages, got {out.channels}, "
                             f"{out.blocks}")
        if not isinstance(out.zero_init_residual, bool):
            raise ValueError(f"model.resnet.zero_init_residual must be true or false, got "
                             f"{out.zero_init_residual!r}")
        if min(out.blocks) < 1 or min(out.channels) < 1:
            raise ValueError(f"model.resnet.channels/blocks must be positive, got {out.channels}, "
                             f"{out.blocks}")
        return out


def collapsed_freq(feat_dim: int) -> int:
    """Frequency bins left after the stem and the four stages (60 -> 18 -> 9 -> 5 -> 3)."""
    size = (feat_dim + 2 - STEM_KERNEL[0]) // STEM_STRIDE[0] + 1
    for stride in STAGE_STRIDES:
        size = (size - 1) // stride + 1
    return size


class ResNetBackbone(nn.Module):
    """LFCC (B, 60, T) or (B, 1, 60, T) -> (embedding (B, D), logits (B, 2)).

    Layout: conv (9,3)/(3,1) -> BN-ReLU -> 4 pre-activation stages -> conv (F', 3) collapsing the
    remaining F' frequency bins -> BN-ReLU -> attentive stats pooling -> linear to D -> linear to 2.
    The reference module also builds a 5-layer GRU that ``forward`` never calls; it is left out, so the
    paper-size backbone has 22,558,450 parameters. The logits layer is trained by the softmax loss only.
    """

    input_kind: ClassVar[str] = "features"
    logit_order: ClassVar[tuple[str, str]] = ("bonafide", "spoof")

    def __init__(self, cfg: dict[str, Any] | ResNetConfig | None = None) -> None:
        super().__init__()
        c = cfg if isinstance(cfg, ResNetConfig) else ResNetConfig.from_dict(cfg)
        self.config = c
        self.embedding_dim = c.embedding_dim
        freq = collapsed_freq(c.feat_dim)
        if freq < 1:
            raise ValueError(f"feature dim {c.feat_dim} is too small for the backbone's strides")
        self.conv1 = nn.Conv2d(1, c.stem_channels, STEM_KERNEL, stride=STEM_STRIDE, padding=(1, 1),
                               bias=False)
        self.bn1 = nn.BatchNorm2d(c.stem_channels)
        stages = []
        width = c.stem_channels
        for out_width, n_blocks, stride in zip(c.channels, c.blocks, STAGE_STRIDES, strict=True):
            blocks = [PreActBlock(width, out_width, stride)]
            blocks += [PreActBlock(out_width, out_width, 1) for _ in range(n_blocks - 1)]
            stages.append(nn.Sequential(*blocks))
            width = out_width
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.conv5 = nn.Conv2d(width, c.pool_channels, (freq, 3), stride=1, padding=(0, 1), bias=False)
        self.bn5 = nn.BatchNorm2d(c.pool_channels)
        self.fc = nn.Linear(2 * c.pool_channels, c.embedding_dim)
        self.fc_mu = nn.Linear(c.embedding_dim, 2)
        self._init_weights()
        self.pooling = AttentiveStatsPooling(c.pool_channels, c.pool_noise)

    def _init_weights(self) -> None:
        """The reference initialisation: He-normal (fan-out) convs, He-uniform linears, BN at identity;
        with ``zero_init_residual`` the blocks' last convs are then zeroed (the same random draws)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, a=0, mode="fan_out")
            elif isinstance(m, nn.Linear):
                nn.init.kaiming_uniform_(m.weight)
            elif isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if self.config.zero_init_residual:
            for m in self.modules():
                if isinstance(m, PreActBlock):
                    nn.init.zeros_(m.conv2.weight)

    def forward(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = as_image(feats, self.config.feat_dim)
        x = F.relu(self.bn1(self.conv1(x)), inplace=True)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = F.relu(self.bn5(self.conv5(x)), inplace=True).squeeze(2)  # (B, C, T')
        embedding = self.fc(self.pooling(x.transpose(1, 2)))
        return embedding, self.fc_mu(embedding)


def as_image(feats: torch.Tensor, feat_dim: int) -> torch.Tensor:
    """(B, F, T) or (B, 1, F, T) -> (B, 1, F, T), with a clear error for any other shape."""
    if feats.dim() == 3:
        feats = feats.unsqueeze(1)
    if feats.dim() != 4 or feats.shape[1] != 1 or feats.shape[2] != feat_dim:
        raise ValueError(f"expected features (B, {feat_dim}, T) or (B, 1, {feat_dim}, T), "
                         f"got {tuple(feats.shape)}")
    return feats

"""LFCC-LCNN, the ASVspoof 2021 spectral baseline (Wang & Yamagishi, Interspeech 2021; challenge baseline).

The challenge's network (``LA/Baseline-LFCC-LCNN/project/baseline_LA/model.py``): a light CNN of
max-feature-map (MFM) convolutions on (time, LFCC) images - conv 5x5, then four groups of a 1x1 and a
3x3 MFM conv with BatchNorm (no affine) between them and max-pool 2x2 after groups 1, 2, 3 and 5 - and
dropout 0.7; the (time/16, channels x dims/16) sequence goes through two BLSTM layers, is added to its
input and averaged over time. That average is the embedding; a linear layer gives the logits.

The baseline ends with one sigmoid output (BCE); here the last layer has two logits ordered (spoof,
bona fide) like the other backbones, which adds ``embedding_dim + 1`` parameters (97 at full size).
``channels`` are the MFM output widths of the stem and of the four groups' 3x3 convs (each conv has
twice as many filters); the baseline's are 32, 48, 64, 32, 32.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import nn

POOLS = 4  # 2x2 max-pools: time and LFCC dims shrink by 16
MIN_FRAMES = 2 ** POOLS


@dataclass(frozen=True)
class LcnnConfig:
    """LCNN sizes; defaults are the ASVspoof 2021 baseline's on 60-dim LFCC."""

    feat_dim: int = 60  # LFCC dims (20 static + delta + delta-delta)
    channels: tuple[int, ...] = (32, 48, 64, 32, 32)  # MFM widths: stem, then the four groups
    dropout: float = 0.7  # on the CNN output, as the baseline

    @classmethod
    def from_dict(cls, cfg: dict[str, Any] | None) -> LcnnConfig:
        """Builds from a mapping; unknown keys and impossible sizes are errors."""
        cfg = dict(cfg or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ValueError(f"unknown LCNN config key(s): {', '.join(unknown)}; known: {sorted(known)}")
        if "channels" in cfg:
            cfg["channels"] = tuple(int(v) for v in cfg["channels"])
        out = cls(**cfg)
        if len(out.channels) != 5 or min(out.channels) < 1:
            raise ValueError(f"LCNN channels must be 5 positive widths, got {out.channels}")
        if out.feat_dim < MIN_FRAMES:
            raise ValueError(f"LCNN feat_dim must be >= {MIN_FRAMES} (four 2x2 pools), got {out.feat_dim}")
        if not 0 <= out.dropout < 1:
            raise ValueError(f"LCNN dropout must be in [0, 1), got {out.dropout}")
        return out


class MaxFeatureMap(nn.Module):
    """Element-wise max of the first and second half of the channels (Wu et al.'s light CNN)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first, second = x.chunk(2, dim=1)
        return torch.maximum(first, second)


def _mfm_conv(in_channels: int, out_channels: int, kernel: int) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, 2 * out_channels, kernel, padding=kernel // 2), MaxFeatureMap()]


def _norm(channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels, affine=False)


class BLSTM(nn.Module):
    """(B, T, D) -> (B, T, D): a bidirectional LSTM with D/2 units each way."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(dim, dim // 2, batch_first=True, bidirectional=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lstm(x)[0]


class LCNN(nn.Module):
    """LFCC (B, feat_dim, frames) -> (embedding (B, D), logits (B, 2) = (spoof, bona fide)),
    D = channels[-1] * (feat_dim // 16)."""

    input_kind = "features"
    logit_order = ("spoof", "bonafide")

    def __init__(self, cfg: dict[str, Any] | LcnnConfig | None = None) -> None:
        super().__init__()
        c = cfg if isinstance(cfg, LcnnConfig) else LcnnConfig.from_dict(cfg)
        self.config = c
        stem, g1, g2, g3, g4 = c.channels
        pool = nn.MaxPool2d(2, 2)
        self.cnn = nn.Sequential(
            *_mfm_conv(1, stem, 5), pool,
            *_mfm_conv(stem, stem, 1), _norm(stem), *_mfm_conv(stem, g1, 3), pool, _norm(g1),
            *_mfm_conv(g1, g1, 1), _norm(g1), *_mfm_conv(g1, g2, 3), pool,
            *_mfm_conv(g2, g2, 1), _norm(g2), *_mfm_conv(g2, g3, 3), _norm(g3),
            *_mfm_conv(g3, g3, 1), _norm(g3), *_mfm_conv(g3, g4, 3), pool,
            nn.Dropout(c.dropout),
        )
        self.embedding_dim = g4 * (c.feat_dim // 2 ** POOLS)
        if self.embedding_dim % 2:
            raise ValueError(f"LCNN embedding width channels[-1] * (feat_dim // 16) = {self.embedding_dim} "
                             f"must be even for the BLSTM")
        self.blstm = nn.Sequential(BLSTM(self.embedding_dim), BLSTM(self.embedding_dim))
        self.out_layer = nn.Linear(self.embedding_dim, 2)

    def forward(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if feats.dim() != 3 or feats.shape[1] != self.config.feat_dim or feats.shape[2] < MIN_FRAMES:
            raise ValueError(f"LCNN expects features (B, {self.config.feat_dim}, frames >= {MIN_FRAMES}), "
                             f"got {tuple(feats.shape)}")
        x = self.cnn(feats.transpose(1, 2).unsqueeze(1))  # (B, C, frames/16, dims/16)
        x = x.permute(0, 2, 1, 3).flatten(2)  # (B, frames/16, C * dims/16)
        embedding = (self.blstm(x) + x).mean(dim=1)
        return embedding, self.out_layer(embedding)

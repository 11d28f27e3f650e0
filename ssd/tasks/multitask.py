"""The multi-task countermeasure (Mo & Wang 2022) and its training step: CM loss + S1/S2/S3.

One step, as the paper's code does it (label 0 = bona fide, 1 = spoof):

1. Detector player (backbone, decoder, loss centres, speaker head), one backward of
   ``cm + lambda_r * recon + lambda_c * conv_det + lambda_m * spk`` where ``cm`` is the CM loss of the
   batch, ``recon`` the decoder's MSE to the bona fide inputs (times B / n_bona, as the reference),
   ``conv_det`` the CM loss of the converted spoofs labelled spoof, ``spk`` the speaker cross-entropy of
   the bona fide embeddings; Adam steps the backbone (+decoder), SGD the centres, Adam the speaker head.
2. Converter player (S2), with the updated detector: ``delta * adv + mse_weight * mse`` where ``adv`` is
   the CM loss of the converted spoofs labelled bona fide (a third backbone forward, required because
   the detector has changed) and ``mse`` their distance to the input spoofs; its own Adam steps it.

The efficient step (default) computes the same numbers with less work: the converter runs once per
step instead of twice (its output does not change in between; the second BatchNorm running-statistics
update of the reference is reproduced by one update with momentum 1 - (1 - m)^2), the detector's
backward stops at the converted spoofs instead of filling converter gradients that are then zeroed,
and the converter's backward computes only the converter's gradients (``torch.autograd.grad``), not
the detector's that the reference discards. ``train.efficient_step: false`` runs the reference way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from ssd.frontend import lfcc
from ssd.frontend.registry import build_frontend
from ssd.frontend.ssl import SslBackbone, SslConfig, SslEncoder
from ssd.losses import build_loss
from ssd.nets.config import ModelConfig
from ssd.nets.conversion import ConversionAutoencoder
from ssd.nets.reconstruction import ReconstructionDecoder
from ssd.nets.registry import backbone_entry, build_backbone
from ssd.nets.speaker_head import SpeakerHead
from ssd.tasks import sync
from ssd.tasks.config import OptimConfig, StepConfig, TaskWeights
from ssd.tasks.optim import build_optimisers

# Rate at which S1 computes the LFCC it reconstructs from a raw-waveform crop (the recipes' rate).
RECON_FS = 16000


def recon_frames(model_cfg: ModelConfig) -> int:
    """Frames of the LFCC that S1 reconstructs: the crop itself, or the LFCC of a waveform crop."""
    if build_frontend(model_cfg.frontend).unit == "frames":
        return model_cfg.input_length
    return lfcc.num_frames(model_cfg.input_length, RECON_FS)


def recon_lfcc(crop: np.ndarray) -> np.ndarray:
    """The (60, frames) float32 LFCC of a (samples, 1) waveform crop: what S1 reconstructs for it."""
    return lfcc.lfcc(crop[:, 0].astype(np.float64), RECON_FS).astype(np.float32).T


class MultiTaskModel(nn.Module):
    """Front end + backbone + CM loss, and the auxiliary networks of the tasks whose weight is > 0.

    ``cfg`` is the whole training config (sections ``model``, ``loss``, ``tasks``); ``num_speakers`` is
    the number of training speakers (from utt2spk), needed when the speaker task is on. Which tasks fit
    which parts: S3 (``spk``) reads the embedding, so any backbone; S1 (``recon``) decodes the embedding
    to the LFCC of the crop (the crop itself for LFCC backbones, its LFCC computed by the data loader for
    waveform backbones); S2 (``conv``) converts the network's input, which it can do for an LFCC map only,
    so it needs a feature front end.
    """

    def __init__(self, cfg: dict[str, Any], num_speakers: int = 0) -> None:
        super().__init__()
        parts = ModelConfig.from_dict(cfg.get("model"))
        weights = TaskWeights.from_dict(cfg.get("tasks"))
        loss_cfg = dict(cfg.get("loss") or {})
        if "name" not in loss_cfg:
            raise ValueError("config section 'loss' needs a 'name' (ocsoftmax, amsoftmax or softmax)")
        if weights.spk > 0 and num_speakers < 1:
            raise ValueError("the speaker task (tasks.spk.weight > 0) needs num_speakers >= 1 from utt2spk")
        self.parts = parts
        self.frontend = build_frontend(parts.frontend)
        entry = backbone_entry(parts.backbone)
        if weights.conv > 0 and (entry.input_kind != "features" or self.frontend.learned):
            raise ValueError(f"tasks.conv (S2) converts the network's LFCC input; {parts.frontend} + "
                             f"{parts.backbone!r} reads the waveform, so S2 has nothing to convert: set "
                             "tasks.conv.weight 0")
        self.bonafide_logit = entry.bonafide_logit
        if self.frontend.learned:  # the SSL encoder is the front end the backbone reads
            if entry.input_kind != "features":
                raise ValueError(f"the ssl front end gives a feature map, and backbone {parts.backbone!r} "
                                 "reads the waveform: use resnet, lcnn or aasist-ssl")
            encoder = SslEncoder(SslConfig.from_dict(parts.ssl).resolved())
            head = build_backbone(parts.backbone, parts.backbone_section, encoder, parts.input_length)
            self.backbone = SslBackbone(encoder, head)
        else:
            self.backbone = build_backbone(parts.backbone, parts.backbone_section, self.frontend,
                                           parts.input_length)
        self.waveform_input = self.backbone.input_kind == "waveform"
        emb = self.backbone.embedding_dim
        self.cm_loss = build_loss(loss_cfg["name"], loss_cfg, emb)
        # S1 decodes the input map of a feature front end that counts frames, the LFCC of any other crop.
        recon_dim = self.frontend.dim if self.frontend.unit == "frames" else lfcc.FEATURE_DIM
        self.decoder = (ReconstructionDecoder(emb, recon_dim, recon_frames(parts))
                        if weights.recon > 0 else None)
        self.converter = ConversionAutoencoder(parts.converter_width) if weights.conv > 0 else None
        self.speaker_head = SpeakerHead(num_speakers, emb) if weights.spk > 0 else None

    def check_input(self, x: torch.Tensor) -> torch.Tensor:
        """A (B, dim, length) batch of the front end's output, or an error saying what was expected."""
        dim = self.frontend.dim
        if x.dim() == 4 and x.shape[1] == 1:  # (B, 1, F, T) images of LFCC
            x = x[:, 0]
        if x.dim() == 2 and dim == 1:
            x = x.unsqueeze(1)
        if x.dim() != 3 or x.shape[1] != dim:
            raise ValueError(f"expected {self.frontend.name} input (B, {dim}, {self.frontend.unit}), "
                             f"got {tuple(x.shape)}")
        return x

    def embed(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(embedding, logits ordered (bona fide, spoof)) of a checked (B, dim, length) batch."""
        embedding, logits = self.backbone(x[:, 0] if self.waveform_input else x)
        return embedding, logits.flip(1) if self.bonafide_logit else logits

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(embedding, logits) of (B, dim, length) front-end output."""
        return self.embed(self.check_input(x))

    @torch.no_grad()
    def score(self, x: torch.Tensor) -> torch.Tensor:
        """CM scores (B,), higher = more bona fide; the caller puts the model in eval mode."""
        embedding, logits = self.forward(x)
        return self.cm_loss.score(_loss_precision(embedding), _loss_precision(logits))


@dataclass
class _Batch:
    x: torch.Tensor  # (B, dim, length) on the model's device
    recon_target: torch.Tensor | None  # (n_bona, 1, 60, frames) LFCC that S1 reconstructs
    labels: torch.Tensor
    idx_bona: torch.Tensor
    idx_spoof: torch.Tensor
    speakers_bona: torch.Tensor | None
    run_recon: bool
    run_conv: bool
    run_spk: bool


def _loss_precision(t: torch.Tensor) -> torch.Tensor:
    """Autocast's half-precision outputs in float32 for the losses; float32 and float64 stay as they are
    (a float64 model trains in float64 throughout, which makes a numbers check CPU-independent)."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def _sq_err(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean squared error that is 0 (and still differentiable) for empty tensors."""
    return (_loss_precision(a) - _loss_precision(b)).pow(2).sum() / max(a.numel(), 1)


@contextlib.contextmanager
def _frozen_running_stats(module: nn.Module) -> Iterator[None]:
    """Training forwards that normalise with their batch statistics but leave the running ones as they
    are (``tasks.conv.converted_bn_stats: false``)."""
    bns = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
           and m.training and m.track_running_stats]
    for m in bns:
        m.track_running_stats = False
    try:
        yield
    finally:
        for m in bns:
            m.track_running_stats = True


@contextlib.contextmanager
def _double_running_stats_update(module: nn.Module) -> Iterator[None]:
    """Makes one training forward update BatchNorm running stats as two identical forwards would.

    Two EMA updates with the same batch statistic s give (1 - m)^2 r + (1 - (1 - m)^2) s, i.e. one update
    with momentum 1 - (1 - m)^2; the batch counter is advanced twice.
    """
    bns = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
           and m.training and m.track_running_stats and m.momentum is not None]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.momentum = 1.0 - (1.0 - m.momentum) ** 2
    try:
        yield
    finally:
        for m, mom in zip(bns, saved, strict=True):
            m.momentum = mom
            m.num_batches_tracked.add_(1)


class MultiTaskTrainer:
    """Optimisers, lr schedule, mixed precision and the S1/S2/S3 training step of a MultiTaskModel.

    Reads ``optim``, ``tasks`` and, from ``train``, ``amp`` / ``efficient_step`` / ``channels_last`` /
    ``compile``.
    With ``distributed`` the default process group must be initialised; parameters are broadcast from
    rank 0, each player's gradients are averaged over ranks before its update (see ``ssd.tasks.sync``),
    and BatchNorm is SyncBatchNorm on CUDA (converted in place) or plain BatchNorm elsewhere with running
    statistics averaged after each step, so every rank holds the same state dict after every step.
    """

    def __init__(self, model: MultiTaskModel, cfg: dict[str, Any], distributed: bool = False) -> None:
        self.model = model
        self.weights = TaskWeights.from_dict(cfg.get("tasks"))
        self.optim_cfg = OptimConfig.from_dict(cfg.get("optim"))
        self.step_cfg = StepConfig.from_dict(cfg.get("train"))
        for name, weight in (("decoder", self.weights.recon), ("converter", self.weights.conv),
                             ("speaker_head", self.weights.spk)):
            if (getattr(model, name) is not None) != (weight > 0):
                raise ValueError(f"model.{name} does not match the tasks config (weight {weight}): build "
                                 "the model and the trainer from the same config")
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        if distributed and not (dist.is_available() and dist.is_initialized()):
            raise RuntimeError("distributed=True needs an initialised torch.distributed process group")
        self.distributed = distributed
        self.sync_bn = distributed and self.device.type == "cuda"
        if self.sync_bn:
            for name in ("backbone", "decoder", "converter", "speaker_head"):
                module = getattr(model, name)
                if module is not None:
                    setattr(model, name, nn.SyncBatchNorm.convert_sync_batchnorm(module))
        if self.step_cfg.channels_last:
            model.to(memory_format=torch.channels_last)
        if self.step_cfg.compile != "none":  # in place: the state dict keeps its keys
            model.backbone.compile(backend=self.step_cfg.compile)
        if distributed:
            sync.broadcast_state(model)
        self.optimisers = build_optimisers(model.backbone, model.cm_loss, model.decoder, model.converter,
                                           model.speaker_head, self.optim_cfg)
        amp = self.step_cfg.amp
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
        self.scalers = {name: torch.amp.GradScaler(self.device.type, enabled=amp == "fp16")
                        for name in ("detector", "converter")}

    # -- public API -------------------------------------------------------------------------------------

    @property
    def lr(self) -> float:
        """Current lr of the backbone's optimiser."""
        return float(self.optimisers.detector.param_groups[0]["lr"])

    def end_epoch(self) -> None:
        """Advances the halving schedule (call once after each epoch)."""
        for scheduler in self.optimisers.schedulers:
            scheduler.step()

    def state_dict(self) -> dict[str, Any]:
        """Optimiser, scheduler and gradient-scaler states (the model's weights are the model's)."""
        return {"optimisers": {k: v.state_dict() for k, v in self.optimisers.named().items()},
                "schedulers": [s.state_dict() for s in self.optimisers.schedulers],
                "scalers": {k: v.state_dict() for k, v in self.scalers.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores what ``state_dict`` saved; a state of another task set is an error naming the parts."""
        mine = self.optimisers.named()
        theirs = state.get("optimisers", {})
        if set(mine) != set(theirs) or len(state.get("schedulers", [])) != len(self.optimisers.schedulers):
            raise ValueError(f"trainer state holds optimisers {sorted(theirs)} but this config trains "
                             f"{sorted(mine)}: the checkpoint is of another variant")
        for name, opt in mine.items():
            opt.load_state_dict(theirs[name])
        for scheduler, s in zip(self.optimisers.schedulers, state["schedulers"], strict=True):
            scheduler.load_state_dict(s)
        for name, scaler in self.scalers.items():
            saved = state.get("scalers", {}).get(name) or {}
            if saved:  # empty when saved without fp16: the scaler starts afresh
                scaler.load_state_dict(saved)

    def train_step(self, feats: torch.Tensor, labels: torch.Tensor, speakers: torch.Tensor | None = None,
                   recon_target: torch.Tensor | None = None) -> dict[str, float]:
        """One update of both players on a batch; returns the unweighted losses and the detector's total.

        ``feats`` (B, dim, length) front-end output, ``labels`` (B,) 0 = bona fide / 1 = spoof, ``speakers``
        (B,) speaker indices (needed with the speaker task; only bona fide entries are used),
        ``recon_target`` (B, 60, frames) the LFCC of each crop (needed by S1 on a waveform backbone).
        A task whose selection is empty (or, for the speaker head, a single sample) is skipped for the
        batch and reported as 0.
        """
        self.model.train()
        batch = self._prepare(feats, labels, speakers, recon_target)
        for opt in self.optimisers.named().values():
            opt.zero_grad(set_to_none=True)
        if self.step_cfg.efficient_step:
            stats = self._step_efficient(batch)
        else:
            stats = self._step_reference(batch)
        if self.distributed and not self.sync_bn:
            sync.average_batchnorm_stats(self.model)
        keys = list(stats)
        values = torch.stack([stats[k].detach().double().reshape(()) for k in keys]).tolist()
        return dict(zip(keys, values, strict=True))

    # -- the step ---------------------------------------------------------------------------------------

    def _prepare(self, feats: torch.Tensor, labels: torch.Tensor, speakers: torch.Tensor | None,
                 recon_target: torch.Tensor | None) -> _Batch:
        """Validates the batch on the host, decides which tasks run, moves tensors to the device."""
        x = self.model.check_input(feats)
        labels_cpu = labels.detach().to("cpu", torch.long).reshape(-1)
        if labels_cpu.numel() != x.shape[0] or x.shape[0] == 0:
            raise ValueError(f"batch of {x.shape[0]} features with {labels_cpu.numel()} labels")
        if bool(((labels_cpu != 0) & (labels_cpu != 1)).any()):
            raise ValueError("labels must be 0 (bona fide) or 1 (spoof), got "
                             f"{sorted(set(labels_cpu.tolist()))}")
        idx_bona = (labels_cpu == 0).nonzero().reshape(-1)
        idx_spoof = (labels_cpu == 1).nonzero().reshape(-1)
        n_bona, n_spoof = idx_bona.numel(), idx_spoof.numel()
        speakers_bona = None
        if self.model.speaker_head is not None:
            if speakers is None:
                raise ValueError("the speaker task needs the speakers of the batch")
            speakers_bona = speakers.detach().to("cpu", torch.long).reshape(-1)[idx_bona]
            n = self.model.speaker_head.num_speakers
            if n_bona and (int(speakers_bona.min()) < 0 or int(speakers_bona.max()) >= n):
                raise ValueError(f"speaker index out of range [0, {n}): {speakers_bona.tolist()}")
            speakers_bona = speakers_bona.to(self.device, non_blocking=True)
        if self.sync_bn:
            # SyncBatchNorm's collectives need every rank to run the same modules: decide on global counts.
            n_bona, n_spoof = sync.all_sum([n_bona, n_spoof], self.device)
        x = x.to(self.device, self.dtype, non_blocking=True)
        target = None
        if self.model.decoder is not None:
            if self.model.waveform_input:
                if recon_target is None or recon_target.shape[0] != x.shape[0]:
                    raise ValueError("S1 on a waveform backbone needs the LFCC of every crop (recon_target)")
                target = recon_target.to(self.device, self.dtype, non_blocking=True).unsqueeze(1)
            else:
                target = x.unsqueeze(1)
            target = target.index_select(0, idx_bona.to(self.device))
        return _Batch(
            x=x, recon_target=target, labels=labels_cpu.to(self.device, non_blocking=True),
            idx_bona=idx_bona.to(self.device, non_blocking=True),
            idx_spoof=idx_spoof.to(self.device, non_blocking=True),
            speakers_bona=speakers_bona,
            run_recon=self.model.decoder is not None and n_bona >= 1,
            run_conv=self.model.converter is not None and n_spoof >= 1,
            run_spk=self.model.speaker_head is not None and n_bona >= 2,
        )

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _embed(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Backbone forward under autocast; losses are computed outside it, in float32 at least."""
        with self._autocast():
            embedding, logits = self.model.embed(x)
        return _loss_precision(embedding), _loss_precision(logits)

    def _converted_forward(self) -> contextlib.AbstractContextManager:
        """Where the backbone sees converted spoofs: their statistics reach its running ones only as
        ``tasks.conv.converted_bn_stats`` says."""
        if self.weights.converted_bn_stats:
            return contextlib.nullcontext()
        return _frozen_running_stats(self.model.backbone)

    def _convert(self, x_spoof: torch.Tensor) -> torch.Tensor:
        with self._autocast():
            converted = self.model.converter(x_spoof.unsqueeze(1))
        return _loss_precision(converted)[:, 0]

    def _detector_phase(self, b: _Batch, converted: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Forward/backward of the detector's loss and the detector player's updates."""
        m, w = self.model, self.weights
        embedding, logits = self._embed(b.x)
        cm = m.cm_loss(embedding, logits, b.labels)
        stats = {"cm": cm}
        total = cm
        if m.speaker_head is not None:
            spk = cm.new_zeros(())
            if b.run_spk:
                with self._autocast():
                    spk_logits = m.speaker_head(embedding.index_select(0, b.idx_bona))
                spk = F.cross_entropy(_loss_precision(spk_logits), b.speakers_bona, reduction="sum") / max(
                    b.idx_bona.numel(), 1)
                total = total + w.spk * spk
            stats["spk"] = spk
        if m.converter is not None:
            conv_det = cm.new_zeros(())
            if converted is not None:
                with self._converted_forward():
                    emb_c, logits_c = self._embed(converted)
                conv_det = m.cm_loss(emb_c, logits_c, torch.ones_like(b.idx_spoof))
                total = total + w.conv * conv_det
            stats["conv_det"] = conv_det
        if m.decoder is not None:
            recon = cm.new_zeros(())
            if b.run_recon:
                with self._autocast():
                    rebuilt = m.decoder(embedding.index_select(0, b.idx_bona),
                                        tuple(b.recon_target.shape[-2:]))
                # The reference scales the bona fide MSE by B / n_bona; kept so lambda_r means the same.
                recon = _sq_err(rebuilt, b.recon_target) * (
                    b.x.shape[0] / max(b.idx_bona.numel(), 1))
                total = total + w.recon * recon
            stats["recon"] = recon
        stats["total"] = total
        scaler = self.scalers["detector"]
        scaler.scale(total).backward()
        players = [m.backbone, m.cm_loss, m.decoder, m.speaker_head]
        if self.distributed:
            sync.average_gradients(p for module in players if module is not None for p in module.parameters())
        stepped = [self._scaled_step(scaler, opt)
                   for opt in (self.optimisers.detector, self.optimisers.centres, self.optimisers.speaker)]
        if any(stepped):
            scaler.update()
        return stats

    def _adversary_loss(self, b: _Batch, x_spoof: torch.Tensor,
                        converted: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The converter's objective on the updated detector (the required third backbone forward)."""
        with self._converted_forward():
            embedding, logits = self._embed(converted)
        adv = self.model.cm_loss(embedding, logits, torch.zeros_like(b.idx_spoof))
        mse = _sq_err(converted, x_spoof)
        loss = self.weights.adversary_weight * adv + self.weights.mse_weight * mse
        return loss, {"conv_adv": adv, "conv_mse": mse}

    def _converter_update(self) -> None:
        """Averages the converter's gradients over ranks (every rank calls this, even one that had no
        spoofs to convert) and steps it if any rank produced gradients."""
        if self.distributed:
            sync.average_gradients(self.model.converter.parameters())
        scaler = self.scalers["converter"]
        if self._scaled_step(scaler, self.optimisers.converter):
            scaler.update()

    def _step_efficient(self, b: _Batch) -> dict[str, torch.Tensor]:
        m = self.model
        converted = x_spoof = None
        if b.run_conv:
            x_spoof = b.x.index_select(0, b.idx_spoof)
            with _double_running_stats_update(m.converter):
                converted = self._convert(x_spoof)
        stats = self._detector_phase(b, None if converted is None else converted.detach())
        if m.converter is not None:
            stats.update(conv_adv=stats["cm"].new_zeros(()), conv_mse=stats["cm"].new_zeros(()))
        if converted is not None:
            loss, adv_stats = self._adversary_loss(b, x_spoof, converted)
            stats.update(adv_stats)
            params = [p for p in m.converter.parameters() if p.requires_grad]
            grads = torch.autograd.grad(self.scalers["converter"].scale(loss), params, allow_unused=True)
            for p, g in zip(params, grads, strict=True):
                p.grad = g
        if m.converter is not None:
            self._converter_update()
        return stats

    def _step_reference(self, b: _Batch) -> dict[str, torch.Tensor]:
        """The paper's order of work: converter run twice, full backwards, discarded gradients."""
        m = self.model
        converted = x_spoof = None
        if b.run_conv:
            x_spoof = b.x.index_select(0, b.idx_spoof)
            converted = self._convert(x_spoof)
        stats = self._detector_phase(b, converted)
        if m.converter is not None:
            stats.update(conv_adv=stats["cm"].new_zeros(()), conv_mse=stats["cm"].new_zeros(()))
        if b.run_conv:
            converted = self._convert(x_spoof)
            loss, adv_stats = self._adversary_loss(b, x_spoof, converted)
            stats.update(adv_stats)
            self.optimisers.converter.zero_grad(set_to_none=True)
            self.scalers["converter"].scale(loss).backward()
        elif m.converter is not None:
            self.optimisers.converter.zero_grad(set_to_none=True)
        if m.converter is not None:
            self._converter_update()
        return stats

    @staticmethod
    def _scaled_step(scaler: torch.amp.GradScaler, opt: torch.optim.Optimizer | None) -> bool:
        """Steps ``opt`` if any of its parameters has a gradient (GradScaler refuses gradient-less ones)."""
        if opt is None or not any(p.grad is not None for group in opt.param_groups for p in group["params"]):
            return False
        scaler.step(opt)
        return True

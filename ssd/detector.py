"""Using a trained countermeasure on any audio: ``Detector.load(path).score(waveform, fs)``.

A detector comes from a packed archive (``ssd-pack``, stage 6) or straight from an experiment
directory. It scores audio exactly as the recipe does, so that a file in ``data/<set>/wav.scp`` gets
the score stage 4 wrote for it:

1. **audio**: anything libsndfile reads (wav, flac, ogg/vorbis, opus, mp3, aiff, ...), read by stage 2's
   reader (:func:`ssd.frontend.audio.decode_audio`) with its rules: float64 in [-1, 1] (integer PCM /
   32768), finite, within full scale, not truncated, at least ``MIN_SECONDS`` (0.1 s) long. A path is
   only ever opened; a ``wav.scp`` entry may be a Kaldi pipe ``cmd |``. Multi-channel audio is
   mixed to mono by the mean of its channels. Another sampling rate is converted to the model's by
   polyphase resampling (``scipy.signal.resample_poly``: the rate ratio reduced to ``up/down``, a
   Kaiser-windowed sinc low-pass with beta 5, cut-off at the lower Nyquist frequency, zero phase, so
   the output is time-aligned and ``len * up / down`` samples long). Audio already at the model's rate
   is used untouched.
2. **front end**: the model's (:mod:`ssd.frontend.registry`): the official LFCC of
   :mod:`ssd.frontend.lfcc` or the log power spectrogram, as float32 like stage 2's dump, or the
   waveform itself for ``raw`` models.
3. **scores**: :func:`ssd.inference.score_table`, the function of stage 4, with the model's
   evaluation policy (:mod:`ssd.data.windows`: ``windowed`` repeat-pads to the window length and
   averages longer inputs over fixed-hop windows; ``first_window``, the AASIST authors', scores the
   first window only). Higher = more bona fide.
4. **decision**: ``bonafide`` when ``score >= threshold`` (by default the dev-set EER threshold), else
   ``spoof``. A model without a known threshold (an experiment without dev scores) gives no decision
   (None) until :meth:`Detector.use_threshold` sets one. A non-finite score (a diverged model) is an
   error naming the input, never a decision.
"""

from __future__ import annotations

import copy
import io
import json
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ssd.data.windows import eval_windows
from ssd.frontend.audio import AudioError, check_samples, decode_audio, resample
from ssd.inference import score_table
from ssd.metrics.calibration import Calibration
from ssd.packing.archive import PackedModel, PackError, read_packed
from ssd.packing.experiment import eval_policy, from_experiment, frontend_settings
from ssd.tasks.multitask import MultiTaskModel
from ssd.utils.checkpoint import load_model_state
from ssd.utils.fileio import atomic_write

BONAFIDE = "bonafide"
SPOOF = "spoof"
# File name endings a directory scan picks up: the common formats libsndfile decodes.
AUDIO_EXTENSIONS = frozenset({
    ".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc", ".au", ".snd", ".caf",
    ".w64", ".rf64", ".sph", ".nist", ".voc",
})


def audio_files(directory: str | os.PathLike) -> list[str]:
    """Audio files under ``directory`` (recursively, by extension), sorted, so runs are repeatable."""
    found = [os.path.join(root, f) for root, _, files in os.walk(directory) for f in files
             if os.path.splitext(f)[1].lower() in AUDIO_EXTENSIONS]
    return sorted(found)


@dataclass(frozen=True)
class Detection:
    """The verdict on one input; ``error`` is set (and score/decision are None) when it could not be
    scored; ``decision`` and ``threshold`` are None when the model has no known threshold."""

    name: str
    score: float | None
    decision: str | None
    threshold: float | None
    duration: float | None
    fs: int | None
    channels: int | None
    error: str | None = None
    llr: float | None = None  # calibrated log-likelihood ratio, when the model carries a calibration
    posterior_bonafide: float | None = None  # P(bona fide | score) under the prior of use_prior

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _non_finite(name: str, score: float) -> str:
    return (f"{name}: the model gave a non-finite score ({score}); its weights are probably diverged "
            "(NaN/inf), no decision is possible")


class _Scorer(nn.Module):
    """Backbone + CM-loss score as one module: (B, dim, T) front-end output (or (B, samples) for a
    waveform model) -> (B,) scores, for ONNX export."""

    def __init__(self, model: MultiTaskModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        embedding, logits = self.model(x)
        return self.model.cm_loss.score(embedding, logits)


class _Features:
    """In-memory feature matrices offered the way score_table reads a FeatureTable (len, feats(i))."""

    def __init__(self, matrices: Sequence[np.ndarray]) -> None:
        self.matrices = matrices

    def __len__(self) -> int:
        return len(self.matrices)

    def feats(self, index: int) -> np.ndarray:
        return self.matrices[index]


def _scoring_config(config: dict[str, Any]) -> dict[str, Any]:
    """The training config with every auxiliary task off: only the backbone and CM loss get built."""
    cfg = copy.deepcopy(config)
    tasks = cfg.get("tasks") or {}
    cfg["tasks"] = {name: {**(section or {}), "weight": 0.0} for name, section in tasks.items()}
    return cfg


def _device(device: str | torch.device) -> torch.device:
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"unknown device {device!r} (cpu, cuda or cuda:N): {err}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for, but torch sees no CUDA GPU (use --device cpu)")
    return dev


class Detector:
    """A trained countermeasure ready to score audio (see the module docstring for the exact policy).

    ``threshold`` (and ``threshold_name``) is the decision threshold in use, set with
    :meth:`use_threshold`, None when the model has none (no dev scores); ``thresholds`` holds the named
    ones of the model (``dev_eer``, and ``dev_min_tdcf`` when the dev set had ASV scores). ``manifest``,
    ``config`` and ``readme`` are the archive's description, training configuration and model card.
    """

    def __init__(self, packed: PackedModel, device: str | torch.device = "cpu") -> None:
        self.source = packed.source
        self.manifest = packed.manifest
        self.config = packed.config
        self.readme = packed.readme  # the model card
        frontend = self.manifest.get("frontend") or {}
        self.fs = int(frontend.get("fs", 0))
        try:
            expected = frontend_settings(self.config, self.fs)
        except ValueError as err:
            raise PackError(f"{packed.source}: unusable front end: {err}") from err
        if frontend != expected:
            differ = sorted(k for k in set(frontend) | set(expected) if frontend.get(k) != expected.get(k))
            raise PackError(
                f"{packed.source}: the model was trained on features this version of ssd does not compute "
                f"(front-end settings differ in {', '.join(differ)}); use the ssd version that packed it "
                f"({self.manifest.get('ssd_version', 'unknown')})"
            )
        policy = eval_policy(self.config)
        self.policy, self.window, self.hop = policy["policy"], policy["window"], policy["hop"]
        self.batch_size = int((self.config.get("eval") or {}).get("batch_size", 64))
        self.device = _device(device)
        model = MultiTaskModel(_scoring_config(self.config), 0)
        try:
            load_model_state(model, packed.state_dict, packed.source)
        except ValueError as err:
            raise PackError(str(err)) from err
        self.model = model.to(self.device).eval()
        self.frontend = model.frontend
        self.thresholds = {name: float(entry["value"]) for name, entry in
                           (self.manifest.get("thresholds") or {}).items()
                           if isinstance(entry, dict) and entry.get("value") is not None}
        entry = self.manifest.get("calibration")
        try:
            where = f"{packed.source}: calibration"
            self.calibration = None if entry is None else Calibration.from_json(entry, where)
        except ValueError as err:
            raise PackError(str(err)) from err
        self.prior_spoof: float | None = None
        default = (self.manifest.get("thresholds") or {}).get("default")
        if default is not None and default not in self.thresholds:
            raise PackError(f"{packed.source}: the manifest has no value for its default threshold {default}")
        self.threshold_name: str | None = default
        self.threshold: float | None = None if default is None else self.thresholds[default]

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "cpu", **experiment: Any) -> Detector:
        """Load a packed archive (a file) or an experiment directory (keyword arguments as
        :func:`ssd.packing.from_experiment`, e.g. ``checkpoint``, ``fs``, ``data_root``). An experiment
        without dev scores loads without a threshold: give one with :meth:`use_threshold`."""
        if os.path.isdir(path):
            return cls(from_experiment(path, require_threshold=False, **experiment), device)
        if experiment:
            raise TypeError(f"options {sorted(experiment)} apply to experiment directories, not archives")
        return cls(read_packed(path), device)

    @property
    def tag(self) -> str:
        return str(self.manifest.get("tag") or "")

    def use_threshold(self, value: float | str) -> float:
        """Set the decision threshold to a number or to a named one (``dev_eer``, ``dev_min_tdcf``)."""
        if isinstance(value, str) and value in self.thresholds:
            self.threshold_name, self.threshold = value, self.thresholds[value]
        else:
            try:
                number = float(value)
            except ValueError:
                known = f"one of: {', '.join(sorted(self.thresholds))}" if self.thresholds else \
                    "a named threshold (this model has none: it was made without dev scores)"
                raise ValueError(f"threshold {value!r} is neither a number nor {known}") from None
            if not np.isfinite(number):
                raise ValueError(f"threshold must be finite, got {value!r}")
            self.threshold_name, self.threshold = "user", number
        return self.threshold

    def use_prior(self, prior_spoof: float) -> None:
        """Report the posterior of bona fide under this spoof prior (needs the model's calibration)."""
        if self.calibration is None:
            raise ValueError(f"{self.source}: the model carries no calibration, so it gives no LLR or "
                             "posterior: stage 5 fits one on the dev scores (exp/<tag>/calibration.json) "
                             "and ssd-pack stores it")
        if not 0 < prior_spoof < 1:
            raise ValueError(f"the spoof prior must be between 0 and 1, got {prior_spoof}")
        self.prior_spoof = float(prior_spoof)

    def decide(self, score: float, threshold: float | None = None) -> str | None:
        """``bonafide`` when ``score >= threshold`` (default: the detector's threshold), else ``spoof``;
        None when there is no threshold."""
        threshold = self.threshold if threshold is None else threshold
        if threshold is None:
            return None
        return BONAFIDE if score >= threshold else SPOOF

    def features(self, waveform: np.ndarray, fs: int) -> np.ndarray:
        """The front end's (time, dim) float32 matrix of a waveform: (samples,) or (samples, channels),
        any rate (resampled to the model's)."""
        x = np.asarray(waveform, dtype=np.float64)
        if x.ndim == 2:
            if x.shape[1] > x.shape[0]:
                raise ValueError(f"waveform of shape {x.shape} looks like (channels, samples); pass "
                                 "(samples, channels), as soundfile reads it (e.g. waveform.T)")
            x = x[:, 0] if x.shape[1] == 1 else x.mean(axis=1)
        if x.ndim != 1 or x.size == 0:
            raise ValueError(f"need a non-empty (samples,) or (samples, channels) waveform, got {x.shape}")
        check_samples(x, int(fs), "waveform")
        return self.frontend.features(resample(x, int(fs), self.fs), self.fs)

    def score_features(self, matrices: Sequence[np.ndarray], batch_size: int | None = None) -> np.ndarray:
        """Scores (float64) of front-end matrices (:meth:`features`), with stage 4's evaluation policy."""
        if not len(matrices):
            return np.zeros(0)
        return score_table(self.model, _Features(matrices), self.window, self.hop,
                           batch_size or self.batch_size, self.device, progress=False, policy=self.policy)

    def score(self, waveform: np.ndarray, fs: int) -> float:
        """Score one waveform (float samples in [-1, 1]); higher = more bona fide."""
        score = float(self.score_features([self.features(waveform, fs)])[0])
        if not np.isfinite(score):
            raise ValueError(_non_finite("waveform", score))
        return score

    def window_batch(self, feats: np.ndarray) -> torch.Tensor:
        """The network inputs of one front-end matrix, as ONNX models take them: (W, dim, window), or
        (W, window) samples for a waveform model."""
        windows = torch.from_numpy(eval_windows(feats, self.window, self.hop, self.policy))
        return windows[:, 0] if self.model.waveform_input else windows

    def scorer(self) -> nn.Module:
        """The network as one module: :meth:`window_batch` inputs -> (B,) scores, in eval mode."""
        return _Scorer(self.model).eval()

    def score_files(self, items: Iterable[str | tuple[str, str]], batch_size: int | None = None,
                    skip_errors: bool = False, progress: bool = False, pipes: bool | None = None,
                    ) -> list[Detection]:
        """Score audio, in input order: paths (opened as they are, never run, whatever their name) and
        ``(name, entry)`` pairs of a wav.scp (an entry may be a Kaldi pipe ``cmd |``; ``pipes=False``
        or ``SSD_ALLOW_PIPES=0`` refuses them).

        An input that cannot be read or gives a non-finite score raises ValueError naming it, unless
        ``skip_errors``: then its Detection carries the message. ``progress`` shows a tqdm bar on stderr.
        """
        pairs = [(item, item, True) if isinstance(item, str) else (item[0], item[1], False) for item in items]
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(pairs), unit="file", desc="scoring", leave=False)
        chunk = max(batch_size or self.batch_size, 1)
        results: list[Detection] = []
        try:
            for start in range(0, len(pairs), chunk):
                results.extend(self._score_chunk(pairs[start:start + chunk], batch_size, skip_errors, pipes,
                                                 bar))
        finally:
            if bar is not None:
                bar.close()
        return results

    def _score_chunk(self, pairs: list[tuple[str, str, bool]], batch_size: int | None, skip_errors: bool,
                     pipes: bool | None, bar: Any) -> list[Detection]:
        """Read and featurise a chunk of inputs (the bar counts them), then score them in one pass."""
        feats: list[np.ndarray] = []
        info: list[tuple[float, int, int] | str] = []  # (duration, fs, channels), or the error
        for name, spec, literal in pairs:
            try:
                audio = decode_audio(spec, name, mix=True, literal=literal, pipes=pipes)
                feats.append(self.features(audio.samples, audio.fs))
                info.append((audio.samples.size / audio.fs, audio.fs, audio.channels))
            except ValueError as err:  # AudioError included; every message names the input
                message = str(err) if name in str(err) else f"{name}: {err}"
                if not skip_errors:
                    raise AudioError(message) from err
                info.append(message)
            if bar is not None:
                bar.update()
        scores = iter(self.score_features(feats, batch_size).tolist())
        out = []
        for (name, _, _), entry in zip(pairs, info, strict=True):
            if not isinstance(entry, str):
                score = next(scores)
                if np.isfinite(score):
                    out.append(Detection(name, score, self.decide(score), self.threshold, *entry,
                                         **self._calibrated(score)))
                    continue
                entry = _non_finite(name, score)
                if not skip_errors:
                    raise ValueError(entry)
            out.append(Detection(name, None, None, self.threshold, None, None, None, error=entry))
        return out

    def _calibrated(self, score: float) -> dict[str, float]:
        """The LLR (and the posterior under the prior in use) of a score, when the model is calibrated."""
        if self.calibration is None:
            return {}
        out = {"llr": float(self.calibration.apply(np.array([score]))[0])}
        if self.prior_spoof is not None:
            out["posterior_bonafide"] = float(
                self.calibration.posterior_bonafide(np.array([score]), self.prior_spoof)[0])
        return out

    def export_onnx(self, path: str | os.PathLike, opset: int = 17) -> None:
        """Write the scoring network as ONNX: input ``feats`` (batch, 60, window) float32 LFCC windows,
        or ``waveform`` (batch, window) float32 samples for a raw-waveform model; output ``score``
        (batch,). The front end, windowing and averaging stay outside the graph.

        The model's metadata (``ssd.*`` properties: rate, window, hop, thresholds) tells an ONNX user
        how to prepare the input and read the output. Uses torch's TorchScript-based exporter, which
        needs no onnxscript and exports this network in about a second.
        """
        try:
            import onnx
        except ImportError as err:
            raise ImportError("ONNX export needs the onnx package: pip install 'ssd[onnx]'") from err
        name = "waveform" if self.model.waveform_input else "feats"
        example = torch.zeros(2, self.window) if self.model.waveform_input else \
            torch.zeros(2, self.frontend.dim, self.window)
        module = copy.deepcopy(_Scorer(self.model)).to("cpu").eval()
        buffer = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=DeprecationWarning)
            warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
            torch.onnx.export(module, (example,), buffer, input_names=[name], output_names=["score"],
                              dynamic_axes={name: {0: "batch"}, "score": {0: "batch"}},
                              opset_version=opset, dynamo=False)
        graph = onnx.load_from_string(buffer.getvalue())
        meta = {
            "ssd.tag": self.tag,
            "ssd.fs": str(self.fs),
            "ssd.input": name,
            "ssd.policy": self.policy,
            "ssd.window": str(self.window),
            "ssd.hop": str(self.hop),
            "ssd.threshold": repr(self.threshold),
            "ssd.threshold_name": self.threshold_name or "",  # none known: ""
            "ssd.thresholds": json.dumps(self.thresholds),
            "ssd.score": "higher = more bona fide; utterance score = mean over its windows "
                         "(windowed policy) or the first window's score (first_window)",
            "ssd.frontend": json.dumps(self.manifest.get("frontend")),
        }
        onnx.helper.set_model_props(graph, meta)
        with atomic_write(path, mode="wb") as f:
            f.write(graph.SerializeToString())

"""The ASVspoof 2019 LA baseline countermeasure LFCC-GMM: a bona fide and a spoof GMM on LFCC frames.

What the organisers' MATLAB baseline (``ASVspoof2019_baseline_CM.m``, Todisco et al.) does, and this
module matches: the features are ``[stat delta double_delta]`` of ``extract_lfcc(x, fs, 20, 512, 20)``,
all 60 dimensions of every frame, which is exactly what :mod:`ssd.frontend.lfcc` dumps in stage 2; one
512-component diagonal GMM is trained on all bona fide training frames and one on all spoof training
frames, by ``vl_gmm(..., 512, 'MaxNumIterations', 10)``; an utterance's score is
``mean(llk_bonafide) - mean(llk_spoof)``, the per-frame log-likelihoods (log-sum-exp over components)
averaged over its frames, so higher = more bona fide. Published on the real corpus (eval): EER 8.09 %,
min t-DCF 0.2116.

What differs: the GMM training details listed in :mod:`ssd.baselines.gmm` (k-means++ seeds from a
frame subset, empty components kept rather than re-split, exact M-step sums), which change where a
run of EM ends up but not what is modelled; and an optional seeded subsample of at most
``max_frames`` training frames per class (the baseline uses all; the real corpus has ~7.5M spoof
frames, 1.8 GB as float32).

The model file is a plain ``.npz`` of float64 arrays and one JSON string, read with
``np.load(allow_pickle=False)``: loading a model never runs code from the file.
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ssd.baselines.gmm import CHUNK_FRAMES, TOL, VAR_FLOOR, DiagGMM, fit_gmm
from ssd.data.datadir import c_sorted, read_kv
from ssd.data.dataset import LABELS, FeatureTable
from ssd.utils.config import write_config
from ssd.utils.fileio import atomic_write
from ssd.utils.progress import Progress

log = logging.getLogger(__name__)

FORMAT = "ssd-lfcc-gmm/1"
MODEL_NAME = "gmm.npz"  # the model's file name inside an experiment directory
CLASSES = ("bonafide", "spoof")
_PARTS = ("weights", "means", "variances")
_KEYS = frozenset({"format", "info"} | {f"{c}_{p}" for c in CLASSES for p in _PARTS})


class ModelFileError(ValueError):
    """A file that is not an LFCC-GMM model written by :meth:`LfccGmm.save`."""


@dataclass
class LfccGmm:
    """The two GMMs and what they were trained on (``info``: options, frame counts, training curves)."""

    bonafide: DiagGMM
    spoof: DiagGMM
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.bonafide.dim != self.spoof.dim:
            raise ValueError(f"bona fide GMM has {self.bonafide.dim} dims, spoof GMM {self.spoof.dim}")

    @property
    def dim(self) -> int:
        return self.bonafide.dim

    @property
    def num_parameters(self) -> int:
        return self.bonafide.num_parameters + self.spoof.num_parameters

    def frame_llr(self, frames: np.ndarray) -> np.ndarray:
        """``log p(x_t | bona fide) - log p(x_t | spoof)`` of every frame."""
        return self.bonafide.frame_log_likelihood(frames) - self.spoof.frame_log_likelihood(frames)

    def score(self, frames: np.ndarray) -> float:
        """The baseline's utterance score: the mean frame log-likelihood ratio (higher = bona fide)."""
        return float(self.frame_llr(frames).mean())

    def save(self, path: str | os.PathLike) -> None:
        """Write the model atomically as an ``.npz`` that holds no pickled object."""
        arrays: dict[str, np.ndarray] = {"format": np.array(FORMAT), "info": np.array(json.dumps(self.info))}
        for name, gmm in zip(CLASSES, (self.bonafide, self.spoof), strict=True):
            for part in _PARTS:
                arrays[f"{name}_{part}"] = getattr(gmm, part)
        with atomic_write(path, "wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> LfccGmm:
        """Read a model written by :meth:`save`; anything else, pickles included, is refused."""
        try:
            npz = np.load(path, allow_pickle=False)
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise ModelFileError(f"{path}: a single array, not an LFCC-GMM model (.npz) file")
            with npz:
                return cls._from_npz(path, npz)
        except (ModelFileError, FileNotFoundError):
            raise
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
            raise ModelFileError(f"{path}: not an LFCC-GMM model file ({type(err).__name__}: {err})"
                                 ) from None

    @classmethod
    def _from_npz(cls, path: str | os.PathLike, npz: np.lib.npyio.NpzFile) -> LfccGmm:
        keys = set(npz.files)
        if keys != _KEYS:
            raise ModelFileError(f"{path}: not an LFCC-GMM model file: missing {sorted(_KEYS - keys)}, "
                                 f"unexpected {sorted(keys - _KEYS)}")
        fmt = npz["format"]
        if fmt.dtype.kind != "U" or str(fmt) != FORMAT:
            raise ModelFileError(f"{path}: format {fmt!r}, expected {FORMAT!r}")
        gmms = []
        for name in CLASSES:
            parts = [npz[f"{name}_{part}"] for part in _PARTS]
            bad = [part for part, a in zip(_PARTS, parts, strict=True) if a.dtype != np.float64]
            if bad:
                raise ModelFileError(f"{path}: {name} {', '.join(bad)} are not float64 arrays")
            try:
                gmms.append(DiagGMM(*parts))
            except ValueError as err:
                raise ModelFileError(f"{path}: {name} {err}") from None
        info = json.loads(str(npz["info"]))
        if not isinstance(info, dict):
            raise ModelFileError(f"{path}: info is not a JSON object")
        return cls(gmms[0], gmms[1], info)


def open_table(dump_dir: str | os.PathLike, feats: str | os.PathLike | None = None,
               feat_dim: int | None = None) -> FeatureTable:
    """The utterances of a dump dir (``feats.scp``, ``utt2label``, ``utt2num_frames``), read lazily."""
    d = Path(dump_dir)
    scp = Path(feats) if feats else d / "feats.scp"
    for path in (scp, d / "utt2label"):
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist (expected a feature dump dir)")
    return FeatureTable(scp, d / "utt2label", utt2num_frames=scp.parent / "utt2num_frames", cache="no",
                        feat_dim=feat_dim)


def _finite(table: FeatureTable, index: int) -> np.ndarray:
    mat = table.feats(index)
    if not np.isfinite(mat).all():
        raise ValueError(f"{table.feats_scp}: utterance {table.utts[index]} has NaN or infinite features")
    return mat


def class_frames(table: FeatureTable, label: str, max_frames: int | None = None,
                 rng: np.random.Generator | None = None) -> np.ndarray:
    """All (float32) frames of the utterances labelled ``label``, or a uniform random subset of
    ``max_frames`` of them (in corpus order), drawn with ``rng``."""
    rows = np.flatnonzero(table.labels == LABELS[label])
    if rows.size == 0:
        raise ValueError(f"{table.feats_scp}: no {label} utterances to train the {label} GMM on")
    lengths = table.num_frames[rows]
    total = int(lengths.sum())
    keep = None
    if max_frames is not None and max_frames < total:
        keep = np.sort((rng or np.random.default_rng()).choice(total, max_frames, replace=False))
    out: np.ndarray | None = None
    filled = offset = 0
    progress = Progress(rows.size, f"reading {label} frames", log)
    for row, n in zip(rows, lengths.tolist(), strict=True):
        mat = _finite(table, row)
        if out is None:
            out = np.empty((total if keep is None else keep.size, mat.shape[1]), dtype=np.float32)
        if keep is None:
            out[filled:filled + n] = mat
            filled += n
        else:
            lo, hi = np.searchsorted(keep, [offset, offset + n])
            out[filled:filled + hi - lo] = mat[keep[lo:hi] - offset]
            filled += hi - lo
        offset += n
        progress.update()
    assert out is not None and filled == out.shape[0]
    return out


def train(train_dir: str | os.PathLike, components: int = 512, iterations: int = 10, seed: int = 0,
          var_floor: float = VAR_FLOOR, tol: float = TOL, max_frames: int | None = None,
          init_frames: int | None = None, chunk_frames: int = CHUNK_FRAMES) -> LfccGmm:
    """Train the bona fide and the spoof GMM on the frames of a dump dir (defaults: the baseline's)."""
    table = open_table(train_dir)
    options = {"components": components, "iterations": iterations, "seed": seed, "var_floor": var_floor,
               "tol": tol, "max_frames": max_frames, "init_frames": init_frames}
    info: dict[str, Any] = {"options": options, "train_dir": str(train_dir), "frames": {}, "utterances": {},
                            "log_likelihoods": {}, "m_steps": {}, "seconds": {}, "empty_components": {}}
    gmms = []
    for index, name in enumerate(CLASSES):
        frames = class_frames(table, name, max_frames, np.random.default_rng([seed, index, 1]))
        result = fit_gmm(frames, components, iterations, seed=[seed, index], var_floor=var_floor, tol=tol,
                         chunk_frames=chunk_frames, init_frames=init_frames, name=f"{name} GMM")
        del frames
        gmms.append(result.gmm)
        info["frames"][name] = result.frames
        info["utterances"][name] = int(np.count_nonzero(table.labels == LABELS[name]))
        info["log_likelihoods"][name] = result.log_likelihoods
        info["m_steps"][name] = result.m_steps
        info["seconds"][name] = round(sum(result.seconds), 3)
        info["empty_components"][name] = result.empty_components
    info["feature_dim"] = gmms[0].dim
    return LfccGmm(gmms[0], gmms[1], info)


def score_table(model: LfccGmm, table: FeatureTable, chunk_frames: int = CHUNK_FRAMES) -> np.ndarray:
    """The score of every utterance of ``table`` (in its order), frames batched across utterances."""
    scores = np.empty(len(table))
    batch: list[np.ndarray] = []
    rows: list[int] = []
    progress = Progress(len(table), "scoring", log)

    def flush() -> None:
        lengths = np.array([len(m) for m in batch])
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        scores[rows] = np.add.reduceat(model.frame_llr(np.concatenate(batch)), starts) / lengths
        progress.update(len(rows))
        batch.clear()
        rows.clear()

    pending = 0
    for i in range(len(table)):
        batch.append(_finite(table, i))
        rows.append(i)
        pending += len(batch[-1])
        if pending >= chunk_frames:
            flush()
            pending = 0
    if batch:
        flush()
    return scores


def write_scores(out: str | os.PathLike, data_dir: str | os.PathLike, table: FeatureTable,
                 scores: np.ndarray) -> int:
    """Write ``utt attack key score`` for every utterance of ``data_dir/utt2label`` (C order), atomically,
    as stage 4 does; a missing feature matrix or a non-finite score is an error naming the utterance."""
    d = Path(data_dir)
    labels, attacks = read_kv(d / "utt2label"), read_kv(d / "utt2attack")
    by_utt = dict(zip(table.utts, scores.tolist(), strict=True))
    missing = sorted(set(labels) - set(by_utt))
    if missing:
        raise ValueError(f"{table.feats_scp}: no features for {len(missing)} utterance(s) of "
                         f"{d / 'utt2label'}, e.g. {missing[0]}")
    bad = [utt for utt in c_sorted(labels) if not np.isfinite(by_utt[utt])]
    if bad:
        raise ValueError(f"{table.feats_scp}: non-finite score for {len(bad)} utterance(s), e.g. {bad[0]}; "
                         "no score file written")
    with atomic_write(out) as f:
        for utt in c_sorted(labels):
            if utt not in attacks:
                raise ValueError(f"{d / 'utt2attack'}: no entry for utterance {utt}")
            f.write(f"{utt} {attacks[utt]} {labels[utt]} {by_utt[utt]:.9g}\n")
    return len(labels)


def write_experiment(exp_dir: str | os.PathLike, model: LfccGmm, extra_config: dict[str, Any],
                     command: str) -> Path:
    """Write an experiment directory: ``gmm.npz``, ``config.yaml``, ``model_info.json`` (parameter
    counts, as stage 5 reads them), ``history.tsv`` (training curves) and ``run.sh`` (``command``)."""
    exp = Path(exp_dir)
    exp.mkdir(parents=True, exist_ok=True)
    model.save(exp / MODEL_NAME)
    write_config(exp / "config.yaml", {"system": "lfcc_gmm", **model.info["options"], **extra_config})
    gmms = dict(zip(CLASSES, (model.bonafide, model.spoof), strict=True))
    info = {"parameters": {f"{name}_gmm": gmm.num_parameters for name, gmm in gmms.items()},
            "total": model.num_parameters,
            **{key: model.info[key] for key in ("frames", "utterances", "m_steps", "seconds",
                                                "empty_components", "feature_dim")}}
    with atomic_write(exp / "model_info.json") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    curves = model.info["log_likelihoods"]
    with atomic_write(exp / "history.tsv") as f:
        f.write("m_steps\t" + "\t".join(f"{name}_loglik" for name in CLASSES) + "\n")
        for step in range(max(len(curve) for curve in curves.values())):
            row = (f"{curves[name][step]:.6f}" if step < len(curves[name]) else "" for name in CLASSES)
            f.write(f"{step}\t" + "\t".join(row) + "\n")
    with atomic_write(exp / "run.sh") as f:
        f.write(f"#!/usr/bin/env bash\n# Replays the training run that made this directory.\n{command}\n")
    (exp / "run.sh").chmod(0o755)
    return exp / MODEL_NAME

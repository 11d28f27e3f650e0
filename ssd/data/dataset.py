"""Training and evaluation data: LFCC matrices from ``feats.scp`` with labels and speakers.

Features are stored (frames, dims) as Kaldi does and handed to the network transposed, (dims, frames).
Labels follow the project's convention: 0 = bona fide, 1 = spoof. Speakers are indices into the
C-sorted list of speakers of the *training* ``utt2spk``; a speaker unseen in training gets -1. That
only happens in dev/eval sets, which are scored, never trained on (the trainer refuses -1).

Small feature sets are read once into memory (the mini corpus, and the real training set on any
machine with a few GB to spare); larger ones are read lazily, matrix by matrix. ``feats.scp`` is read
by :mod:`ssd.data.feats_scp`: ``ARK:OFFSET`` entries only (pipes are refused, never run).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ssd.data.datadir import c_sorted, read_kv
from ssd.data.feats_scp import ArkReader, read_feats_scp
from ssd.data.windows import repeat_pad

LABELS = {"bonafide": 0, "spoof": 1}
UNKNOWN_SPEAKER = -1


def read_speakers(utt2spk: str | os.PathLike) -> list[str]:
    """The C-sorted speaker list of a (training) ``utt2spk``: speaker index i is entry i."""
    return c_sorted(set(read_kv(utt2spk).values()))


class FeatureTable:
    """The utterances of one feature set: keys, labels, speakers, lengths and their matrices.

    ``cache``: ``"yes"`` reads every matrix into memory, ``"no"`` reads them on access, ``"auto"``
    caches when the float32 matrices take at most ``cache_max_gb`` GB.
    """

    def __init__(self, feats_scp: str | os.PathLike, utt2label: str | os.PathLike,
                 utt2spk: str | os.PathLike | None = None, speakers: list[str] | None = None,
                 utt2num_frames: str | os.PathLike | None = None, cache: str = "auto",
                 cache_max_gb: float = 8.0, feat_dim: int | None = None) -> None:
        if cache not in ("auto", "yes", "no"):
            raise ValueError(f"cache must be auto, yes or no, got {cache!r}")
        self.feats_scp = Path(feats_scp)
        self.feat_dim = feat_dim
        scp = read_feats_scp(self.feats_scp)
        if not scp:
            raise ValueError(f"{self.feats_scp}: no utterances")
        self.utts = c_sorted(scp)
        labels = read_kv(utt2label)
        names = [self._lookup(labels, utt, utt2label) for utt in self.utts]
        for utt, name in zip(self.utts, names, strict=True):
            if name not in LABELS:
                raise ValueError(
                    f"{utt2label}: utterance {utt} has label {name!r}, expected bonafide or spoof"
                )
        self.labels = np.array([LABELS[name] for name in names], dtype=np.int64)
        self.speakers = np.full(len(self.utts), UNKNOWN_SPEAKER, dtype=np.int64)
        if utt2spk is not None:
            spk_of = read_kv(utt2spk)
            index = {spk: i for i, spk in enumerate(speakers if speakers is not None else [])}
            for i, utt in enumerate(self.utts):
                self.speakers[i] = index.get(self._lookup(spk_of, utt, utt2spk), UNKNOWN_SPEAKER)
        self._entries = scp
        self._reader = ArkReader()
        self._cache: dict[str, np.ndarray] | None = None
        if utt2num_frames is not None and Path(utt2num_frames).is_file():
            lengths = read_kv(utt2num_frames)
            self.num_frames = np.array([int(self._lookup(lengths, u, utt2num_frames)) for u in self.utts])
            first = self._check(self.utts[0], self._reader.read(scp[self.utts[0]]))
            nbytes = int(self.num_frames.sum()) * first.shape[1] * 4
            if cache == "yes" or (cache == "auto" and nbytes <= cache_max_gb * 2**30):
                self._read_all()
        else:
            self._read_all()
            self.num_frames = np.array([self._cache[u].shape[0] for u in self.utts])
            if cache == "no":
                self._cache = None

    @classmethod
    def from_dir(cls, dump_dir: str | os.PathLike, speakers: list[str] | None = None,
                 **kwargs) -> FeatureTable:
        """Open a feature dump dir (``feats.scp``, ``utt2label``, ``utt2spk``, ``utt2num_frames``)."""
        d = Path(dump_dir)
        for name in ("feats.scp", "utt2label", "utt2spk"):
            if not (d / name).is_file():
                raise FileNotFoundError(f"{d / name} is missing (expected a feature dump dir)")
        return cls(d / "feats.scp", d / "utt2label", d / "utt2spk", speakers=speakers,
                   utt2num_frames=d / "utt2num_frames", **kwargs)

    @staticmethod
    def _lookup(table: dict[str, str], utt: str, path: str | os.PathLike) -> str:
        try:
            return table[utt]
        except KeyError:
            raise ValueError(f"{path}: no entry for utterance {utt}") from None

    def _check(self, utt: str, mat: np.ndarray) -> np.ndarray:
        """Reject a matrix that is not a non-empty (frames, feat_dim) array."""
        if mat.ndim != 2 or mat.shape[0] == 0:
            raise ValueError(
                f"{self.feats_scp}: utterance {utt} has shape {mat.shape}, expected (frames, dims)"
            )
        dim = self.feat_dim if self.feat_dim is not None else mat.shape[1]
        if mat.shape[1] != dim:
            raise ValueError(f"{self.feats_scp}: utterance {utt} has {mat.shape[1]} dims, expected {dim}")
        self.feat_dim = dim
        return np.asarray(mat, dtype=np.float32)

    def _read_all(self) -> None:
        """Every matrix, in ark order (sequential reads), then the arks are closed."""
        order = sorted(self._entries.values(), key=lambda e: (e.ark, e.offset))
        self._cache = {e.utt: self._check(e.utt, self._reader.read(e)) for e in order}
        self._reader.close()

    @property
    def cached(self) -> bool:
        """Whether every matrix is held in memory."""
        return self._cache is not None

    def __len__(self) -> int:
        return len(self.utts)

    def feats(self, index: int) -> np.ndarray:
        """The (frames, dims) float32 matrix of utterance ``index``."""
        utt = self.utts[index]
        if self._cache is not None:
            return self._cache[utt]
        mat = self._check(utt, self._reader.read(self._entries[utt]))
        if mat.shape[0] != self.num_frames[index]:
            raise ValueError(f"{self.feats_scp}: utterance {utt} has {mat.shape[0]} frames, "
                             f"utt2num_frames says {self.num_frames[index]}")
        return mat


class RandomCropDataset(Dataset):
    """Training view: a ``crop_frames`` window per utterance, random in position, fixed per epoch.

    Crop offsets are drawn for the whole epoch from a generator seeded by ``(seed, epoch)`` in
    :meth:`set_epoch`, so they do not depend on the number of DataLoader workers or on the rank, and
    a resumed run draws the same crops. Shorter utterances are repeat-padded.
    Items: ``(feats (dims, crop_frames) float32 array, label, speaker, index)``; batch them with
    :func:`collate_crops`.
    """

    def __init__(self, table: FeatureTable, crop_frames: int, seed: int) -> None:
        if crop_frames <= 0:
            raise ValueError(f"crop_frames must be positive, got {crop_frames}")
        self.table = table
        self.crop_frames = crop_frames
        self.seed = seed
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Draw the crop offsets of ``epoch``."""
        spare = np.maximum(self.table.num_frames - self.crop_frames, 0)
        rng = np.random.default_rng([self.seed, epoch, 1])
        self.offsets = (rng.random(len(spare)) * (spare + 1)).astype(np.int64)

    def __len__(self) -> int:
        return len(self.table)

    def crop(self, index: int) -> np.ndarray:
        """The (crop_frames, dims) window of utterance ``index`` for the current epoch."""
        feats = self.table.feats(index)
        start = int(self.offsets[index])
        return repeat_pad(feats[start:start + self.crop_frames], self.crop_frames)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int, int, int]:
        return self.crop(index).T, int(self.table.labels[index]), int(self.table.speakers[index]), index


def collate_crops(items: list[tuple[np.ndarray, int, int, int]]
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stack crops into ``(feats (B, dims, frames) float32, labels, speakers, indices)``.

    Stacked by NumPy on purpose: torch's multi-threaded stack can stall for a second per batch when
    the training step keeps every core busy, while a single-threaded copy takes milliseconds.
    """
    feats = np.empty((len(items), *items[0][0].shape), dtype=np.float32)
    for row, item in zip(feats, items, strict=True):
        row[...] = item[0]
    labels, speakers, indices = (torch.tensor([item[k] for item in items], dtype=torch.long)
                                 for k in (1, 2, 3))
    return torch.from_numpy(feats), labels, speakers, indices

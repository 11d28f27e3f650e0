"""Training and evaluation data: front-end matrices with labels and speakers.

A feature front end's matrices come from stage 2's ``feats.scp`` (:class:`FeatureTable`); the raw front
end's from the audio itself (:class:`WaveTable`, a ``wav.scp`` read by the one audio reader, as
(samples, 1) matrices). Matrices are (time, dims) as Kaldi stores them and handed to the network
transposed, (dims, time).
Labels follow the project's convention: 0 = bona fide, 1 = spoof. Speakers are indices into the
C-sorted list of speakers of the *training* ``utt2spk``; a speaker unseen in training gets -1. That
only happens in dev/eval sets, which are scored, never trained on (the trainer refuses -1).

Small feature sets are read once into memory (the mini corpus, and the real training set on any
machine with a few GB to spare); larger ones are read lazily, matrix by matrix. ``feats.scp`` is read
by :mod:`ssd.data.feats_scp`: ``ARK:OFFSET`` entries only (pipes are refused, never run).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ssd.data.datadir import c_sorted, read_kv, read_wav_scp
from ssd.data.feats_scp import ArkReader, read_feats_scp
from ssd.data.windows import repeat_pad
from ssd.frontend.audio import read_audio

LABELS = {"bonafide": 0, "spoof": 1}
UNKNOWN_SPEAKER = -1


def read_speakers(utt2spk: str | os.PathLike) -> list[str]:
    """The C-sorted speaker list of a (training) ``utt2spk``: speaker index i is entry i."""
    return c_sorted(set(read_kv(utt2spk).values()))


def _lookup(table: dict[str, str], utt: str, path: str | os.PathLike) -> str:
    try:
        return table[utt]
    except KeyError:
        raise ValueError(f"{path}: no entry for utterance {utt}") from None


def _labels_and_speakers(utts: list[str], utt2label: str | os.PathLike | None,
                         utt2spk: str | os.PathLike | None,
                         speakers: list[str] | None) -> tuple[np.ndarray, np.ndarray]:
    """Label (0/1; -1 for all without ``utt2label``, a set to score only) and training-speaker index (or
    -1) of every utterance, errors naming the file."""
    labels = np.full(len(utts), -1, dtype=np.int64)
    if utt2label is not None:
        table = read_kv(utt2label)
        names = [_lookup(table, utt, utt2label) for utt in utts]
        for utt, name in zip(utts, names, strict=True):
            if name not in LABELS:
                raise ValueError(f"{utt2label}: utterance {utt} has label {name!r}, expected bonafide or "
                                 "spoof")
        labels = np.array([LABELS[name] for name in names], dtype=np.int64)
    spk = np.full(len(utts), UNKNOWN_SPEAKER, dtype=np.int64)
    if utt2spk is not None:
        spk_of = read_kv(utt2spk)
        index = {s: i for i, s in enumerate(speakers if speakers is not None else [])}
        for i, utt in enumerate(utts):
            spk[i] = index.get(_lookup(spk_of, utt, utt2spk), UNKNOWN_SPEAKER)
    return labels, spk


def _check_dir(d: Path, names: tuple[str, ...], kind: str) -> None:
    for name in names:
        if not (d / name).is_file():
            raise FileNotFoundError(f"{d / name} is missing (expected {kind})")


class FeatureTable:
    """The utterances of one feature set: keys, labels, speakers, lengths and their matrices.

    ``cache``: ``"yes"`` reads every matrix into memory, ``"no"`` reads them on access, ``"auto"``
    caches when the float32 matrices take at most ``cache_max_gb`` GB.
    """

    def __init__(self, feats_scp: str | os.PathLike, utt2label: str | os.PathLike | None,
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
        self.labels, self.speakers = _labels_and_speakers(self.utts, utt2label, utt2spk, speakers)
        self._entries = scp
        self._reader = ArkReader()
        self._cache: dict[str, np.ndarray] | None = None
        if utt2num_frames is not None and Path(utt2num_frames).is_file():
            lengths = read_kv(utt2num_frames)
            self.num_frames = np.array([int(_lookup(lengths, u, utt2num_frames)) for u in self.utts])
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
        _check_dir(d, ("feats.scp", "utt2label", "utt2spk"), "a feature dump dir")
        return cls(d / "feats.scp", d / "utt2label", d / "utt2spk", speakers=speakers,
                   utt2num_frames=d / "utt2num_frames", **kwargs)

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


class WaveTable:
    """The utterances of one audio set for the raw front end: (samples, 1) float32 matrices at ``fs``.

    Offers what :class:`FeatureTable` offers (``utts``, ``labels``, ``speakers``, ``num_frames`` - here
    samples -, ``feats(i)``). Every file is decoded once when the table opens, so a bad file fails
    before training starts; ``cache`` as for features (``auto``: keep the audio when it takes at most
    ``cache_max_gb``), else it is decoded again on access.
    """

    feat_dim = 1

    def __init__(self, wav_scp: str | os.PathLike, utt2label: str | os.PathLike | None,
                 utt2spk: str | os.PathLike | None = None, speakers: list[str] | None = None,
                 fs: int = 16000, cache: str = "auto", cache_max_gb: float = 8.0) -> None:
        if cache not in ("auto", "yes", "no"):
            raise ValueError(f"cache must be auto, yes or no, got {cache!r}")
        self.feats_scp = Path(wav_scp)  # the source named in errors, as for features
        self.fs = fs
        entries = dict(read_wav_scp(self.feats_scp))
        self.utts = c_sorted(entries)
        self.labels, self.speakers = _labels_and_speakers(self.utts, utt2label, utt2spk, speakers)
        self._specs = entries
        # One pass decodes (and so checks) every file; the audio is kept only while it fits the cache.
        kept: dict[str, np.ndarray] | None = None if cache == "no" else {}
        lengths, nbytes = [], 0
        for utt in self.utts:
            samples = self._read(utt)
            lengths.append(samples.shape[0])
            nbytes += samples.nbytes
            if kept is not None and cache == "auto" and nbytes > cache_max_gb * 2**30:
                kept = None  # too large to hold: read again on access
            if kept is not None:
                kept[utt] = samples
        self.num_frames = np.array(lengths)
        self._cache = kept

    @classmethod
    def from_dir(cls, data_dir: str | os.PathLike, speakers: list[str] | None = None, **kwargs) -> WaveTable:
        """Open a data dir with ``wav.scp``, ``utt2label``, ``utt2spk`` (stage 2's ``dump/raw/<set>``)."""
        d = Path(data_dir)
        _check_dir(d, ("wav.scp", "utt2label", "utt2spk"), "an audio data dir")
        return cls(d / "wav.scp", d / "utt2label", d / "utt2spk", speakers=speakers, **kwargs)

    def _read(self, utt: str) -> np.ndarray:
        samples, _ = read_audio(self._specs[utt], utt, expected_fs=self.fs)
        return samples.astype(np.float32).reshape(-1, 1)

    @property
    def cached(self) -> bool:
        return self._cache is not None

    def __len__(self) -> int:
        return len(self.utts)

    def feats(self, index: int) -> np.ndarray:
        """The (samples, 1) float32 waveform of utterance ``index``."""
        utt = self.utts[index]
        return self._cache[utt] if self._cache is not None else self._read(utt)


def open_table(frontend: str, data_dir: str | os.PathLike, speakers: list[str] | None = None,
               **kwargs) -> FeatureTable | WaveTable:
    """The table of a data dir for the front end ``frontend``: its dump, or the audio for ``raw``."""
    if frontend == "raw":
        kwargs.pop("feat_dim", None)
        return WaveTable.from_dir(data_dir, speakers, **kwargs)
    return FeatureTable.from_dir(data_dir, speakers, **kwargs)


class RandomCropDataset(Dataset):
    """Training view: a ``crop_frames`` window per utterance, random in position, fixed per epoch.

    Crop offsets are drawn for the whole epoch from a generator seeded by ``(seed, epoch)`` in
    :meth:`set_epoch`, so they do not depend on the number of DataLoader workers or on the rank, and
    a resumed run draws the same crops. Shorter utterances are repeat-padded. ``utterance(index, rng)``
    (e.g. codec augmentation) gives the whole utterance to crop from, ``augment(crop, rng)`` (e.g.
    RawBoost on waveform crops) changes the crop; each draws from a generator of its own seeded by
    ``(seed, epoch, index)``, so that switching one on does not change the other's draws.
    Items: ``(feats (dims, crop_frames) float32 array, label, speaker, index)``, plus the crop's
    ``target(crop)`` (dims', frames') when a ``target`` function is given (the LFCC that S1 reconstructs
    from a waveform crop); batch them with :func:`collate_crops`.
    """

    def __init__(self, table: FeatureTable | WaveTable, crop_frames: int, seed: int,
                 target: Callable[[np.ndarray], np.ndarray] | None = None,
                 augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
                 utterance: Callable[[int, np.random.Generator], np.ndarray] | None = None) -> None:
        if crop_frames <= 0:
            raise ValueError(f"crop_frames must be positive, got {crop_frames}")
        self.table = table
        self.crop_frames = crop_frames
        self.seed = seed
        self.target = target
        self.augment = augment
        self.utterance = utterance
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Draw the crop offsets of ``epoch``."""
        self.epoch = epoch
        spare = np.maximum(self.table.num_frames - self.crop_frames, 0)
        rng = np.random.default_rng([self.seed, epoch, 1])
        self.offsets = (rng.random(len(spare)) * (spare + 1)).astype(np.int64)

    def __len__(self) -> int:
        return len(self.table)

    def crop(self, index: int) -> np.ndarray:
        """The (crop_frames, dims) window of utterance ``index`` for the current epoch."""
        if self.utterance is None:
            feats = self.table.feats(index)
        else:
            feats = self.utterance(index, np.random.default_rng([self.seed, self.epoch, 3, index]))
        start = int(self.offsets[index])
        return repeat_pad(feats[start:start + self.crop_frames], self.crop_frames)

    def __getitem__(self, index: int) -> tuple:
        crop = self.crop(index)
        if self.augment is not None:  # its own stream per (seed, epoch, utterance): workers and resumes agree
            rng = np.random.default_rng([self.seed, self.epoch, 2, index])
            crop = self.augment(crop, rng).astype(np.float32)
        item = (crop.T, int(self.table.labels[index]), int(self.table.speakers[index]), index)
        return item if self.target is None else (*item, self.target(crop))


def _stack(arrays: list[np.ndarray]) -> torch.Tensor:
    out = np.empty((len(arrays), *arrays[0].shape), dtype=np.float32)
    for row, array in zip(out, arrays, strict=True):
        row[...] = array
    return torch.from_numpy(out)


def collate_crops(items: list[tuple]) -> tuple[torch.Tensor, ...]:
    """Stack crops into ``(feats (B, dims, frames) float32, labels, speakers, indices[, targets])``.

    Stacked by NumPy on purpose: torch's multi-threaded stack can stall for a second per batch when
    the training step keeps every core busy, while a single-threaded copy takes milliseconds.
    """
    labels, speakers, indices = (torch.tensor([item[k] for item in items], dtype=torch.long)
                                 for k in (1, 2, 3))
    out = (_stack([item[0] for item in items]), labels, speakers, indices)
    return out if len(items[0]) == 4 else (*out, _stack([item[4] for item in items]))

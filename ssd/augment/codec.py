"""Codec augmentation: training utterances through real encoders, as a telephone line or an upload would.

Every training utterance has ``variants`` coded versions. Variant k's codec and bit rate are drawn
from a generator seeded by (seed, utterance id, k), so they depend neither on the epoch nor on loader
workers or ranks. Each epoch every item draws from its own (seed, epoch, utterance) stream whether a
codec applies (``probability``) and which variant; the training crop is then cut from the decoded
utterance, at the epoch's offset. The round trips are :mod:`ssd.audio.codecs`' (one codec module for
the eval stand-ins and for this).

Encoding costs a subprocess or two per utterance (5-100 ms), so the variants are kept in an on-disk
cache: float32 ``.npy`` (read with ``allow_pickle=False``), written atomically, named by a digest of
everything that shapes its samples (the codec module's source, codec, bit rate, sampling rate,
utterance id and the digest of the decoded source audio). The variants a run needs are known before
it starts: :meth:`CodecAugmenter.prefill` encodes the missing ones on every core before the first
step (encoded during an epoch, on 2 cores, they starve the step), and a loader worker encodes any
still missing when it needs one. A file that does not read back as that many finite float32 samples
is encoded again. Runs over the same audio share the cache; a run whose cache would outgrow
``cache_max_gb`` (counting every file already there) is refused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ssd.audio import codecs
from ssd.utils.fileio import atomic_write
from ssd.utils.progress import Progress

if TYPE_CHECKING:
    from ssd.data.dataset import WaveTable

log = logging.getLogger(__name__)

# Preset choices; a codec is drawn first (uniformly), then one of its listed bit rates. The bit rates
# are those the encoders accept at 16 kHz (oggenc refuses 128 kbit/s there).
TELEPHONY = ("ulaw", "alaw", "gsm", "g722@48000", "g722@56000", "g722@64000", "opus@8000", "opus@12000",
             "opus@16000")
MEDIA = ("mp3@32000", "mp3@64000", "mp3@128000", "m4a@32000", "m4a@64000", "m4a@128000", "ogg@32000",
         "ogg@64000", "ogg@96000", "opus@24000", "opus@32000", "opus@64000")
PRESETS = {"telephony": TELEPHONY, "media": MEDIA, "all": TELEPHONY + MEDIA}
CACHE_FORMAT = 1  # bump when the file layout or the meaning of a key changes
NPY_HEADER_BYTES = 128  # np.save's header for a 1-D float32 array
STALE_TEMP_S = 3600.0  # temp files of a killed writer older than this are removed
PROBE_SECONDS = 0.25  # each chosen codec round-trips this much of a tone before training starts
# Variant draws: a stream apart from the dataset's per-epoch ones (crops 1, RawBoost 2, codec choice 3).
VARIANT_STREAM = 4
_CODEC_SOURCE = hashlib.sha256(Path(codecs.__file__).read_bytes()).hexdigest()[:16]
_warned: set[str] = set()

Choices = tuple[tuple[str, tuple[int | None, ...]], ...]  # (codec, its bit rates), in order


@dataclass(frozen=True)
class CodecSettings:
    """``data.codec`` checked: what to draw from, how often, and where the variants are kept."""

    entries: tuple[str, ...]  # "name" or "name@bitrate", presets expanded
    probability: float
    variants: int
    cache_dir: str | None
    cache_max_gb: float


def settings_of(setting: dict[str, Any]) -> CodecSettings | None:
    """``data.codec`` -> its settings, or None when ``codecs`` is none (the augmentation is off).

    ``codecs`` is a comma-separated list of presets (telephony, media, all), codec names (a fixed-rate
    codec, or the codec's default bit rate) and ``name@bitrate`` entries, e.g. ``telephony,mp3@64000``.
    """
    text = str(setting["codecs"]).strip()
    if text in ("", "none"):
        return None
    entries: list[str] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            raise ValueError(f"data.codec.codecs: empty entry in {text!r}")
        for entry in PRESETS.get(item, (item,)):
            if entry not in entries:
                entries.append(entry)
    probability, variants = float(setting["probability"]), setting["variants"]
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"data.codec.probability must be in [0, 1], got {probability}")
    if not isinstance(variants, int) or isinstance(variants, bool) or variants < 1:
        raise ValueError(f"data.codec.variants must be a positive integer, got {variants!r}")
    if float(setting["cache_max_gb"]) <= 0:
        raise ValueError(f"data.codec.cache_max_gb must be positive, got {setting['cache_max_gb']}")
    cache_dir = setting["cache_dir"]
    return CodecSettings(tuple(entries), probability, variants, None if cache_dir is None else str(cache_dir),
                         float(setting["cache_max_gb"]))


def _split(entry: str) -> tuple[str, int | None]:
    name, _, rate = entry.partition("@")
    codec = codecs.get(name)  # an unknown name lists the known ones
    if not rate:
        return name, codec.default_bitrate
    try:
        return name, int(rate)
    except ValueError:
        raise ValueError(f"data.codec.codecs: {entry!r}: the bit rate must be an integer in bit/s") from None


def label(codec: str, bitrate: int | None) -> str:
    """``name`` for a fixed-rate codec, ``name@bitrate`` otherwise (the form the config takes)."""
    return codec if bitrate is None else f"{codec}@{bitrate}"


def resolve(entries: tuple[str, ...], fs: int) -> tuple[Choices, dict[str, str]]:
    """The usable choices and the dropped codecs (name -> what to install).

    Each (codec, bit rate) round-trips a short tone at ``fs`` first, so that a bad bit rate or a broken
    encoder fails here and not in a loader worker mid-epoch. A codec whose programs are missing is
    dropped with one warning per process naming the package; none left is an error.
    """
    rates: dict[str, list[int | None]] = {}
    dropped: dict[str, str] = {}
    probe = 0.1 * np.sin(2 * np.pi * 440 * np.arange(int(PROBE_SECONDS * fs)) / fs)
    for entry in entries:
        name, bitrate = _split(entry)
        if name in dropped:
            continue
        try:
            codecs.round_trip(probe, fs, name, bitrate)
        except codecs.CodecUnavailable as err:
            dropped[name] = str(err)
            if name not in _warned:
                _warned.add(name)
                log.warning("codec augmentation without %s: %s", name, err)
            continue
        except (ValueError, codecs.CodecError) as err:
            raise ValueError(f"data.codec.codecs: {entry}: {err}") from None
        if bitrate not in rates.setdefault(name, []):
            rates[name].append(bitrate)
    if not rates:
        raise ValueError("data.codec.codecs: none of " + ", ".join(entries) + " can run here: "
                         + "; ".join(dropped.values()))
    return tuple((name, tuple(r)) for name, r in rates.items()), dropped


def _utterance_seed(utt: str) -> int:
    """A stable integer of the utterance id (Python's hash() differs between processes)."""
    return int.from_bytes(hashlib.sha256(utt.encode()).digest()[:8], "little")


def draw_variants(choices: Choices, seed: int, utt: str, variants: int) -> list[tuple[str, int | None]]:
    """The (codec, bit rate) of each variant of ``utt``: a codec uniformly, then one of its bit rates."""
    out = []
    for k in range(variants):
        rng = np.random.default_rng([seed, VARIANT_STREAM, _utterance_seed(utt), k])
        name, rates = choices[int(rng.integers(len(choices)))]
        out.append((name, rates[int(rng.integers(len(rates)))]))
    return out


def audio_digest(samples: np.ndarray) -> str:
    """Digest of the float32 samples a variant is encoded from."""
    return hashlib.sha256(np.ascontiguousarray(samples, dtype=np.float32).tobytes()).hexdigest()


def cache_name(codec: str, bitrate: int | None, fs: int, utt: str, source: str) -> str:
    """``<codec>[-<bitrate>]/<key>.npy``: the key digests everything of ours that shapes the samples.

    The encoder programs' versions are not in it: clear the cache after upgrading them.
    """
    key = json.dumps([CACHE_FORMAT, _CODEC_SOURCE, codec, bitrate, fs, utt, source])
    folder = codec if bitrate is None else f"{codec}-{bitrate}"
    return f"{folder}/{hashlib.sha256(key.encode()).hexdigest()[:40]}.npy"


def _cache_usage(cache_dir: Path) -> int:
    """Bytes under the cache dir, after removing temp files that killed writers left long ago."""
    total, now = 0, time.time()
    for path in cache_dir.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        stat = path.stat()
        if path.name.endswith(".tmp") and now - stat.st_mtime > STALE_TEMP_S:
            path.unlink(missing_ok=True)
            continue
        total += stat.st_size
    return total


class CodecAugmenter:
    """``augmenter(index, rng)`` -> the (samples, 1) float32 utterance to crop from: clean or coded.

    ``table`` is the training audio (a :class:`ssd.data.dataset.WaveTable`). Opening computes the
    plan (every utterance's variants and their cache files) and checks the cache's size against its
    limit and the free disk space; :meth:`prefill` then encodes the variants, or each is encoded on
    first use.
    """

    def __init__(self, table: WaveTable, settings: CodecSettings, seed: int,
                 cache_dir: str | os.PathLike) -> None:
        self.table, self.fs = table, int(table.fs)
        self.probability, self.variants = settings.probability, settings.variants
        self.choices, self.dropped = resolve(settings.entries, self.fs)
        self.cache_dir = Path(cache_dir)
        self.plan = [draw_variants(self.choices, seed, utt, self.variants) for utt in table.utts]
        self.paths = []
        for index, utt in enumerate(table.utts):
            source = audio_digest(table.feats(index))
            self.paths.append([self.cache_dir / cache_name(c, b, self.fs, utt, source)
                               for c, b in self.plan[index]])
        self.planned_bytes = self._check_space(settings.cache_max_gb)

    @property
    def labels(self) -> list[str]:
        """The choices in use, as the config writes them (``ulaw``, ``mp3@64000``)."""
        return [label(name, rate) for name, rates in self.choices for rate in rates]

    def _check_space(self, max_gb: float) -> int:
        """Refuse a plan that would take the cache past ``max_gb`` or fill the disk; its size in bytes."""
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ValueError(f"data.codec.cache_dir {self.cache_dir}: cannot create it ({err})") from None
        if not os.access(self.cache_dir, os.W_OK):
            raise ValueError(f"data.codec.cache_dir {self.cache_dir} is not writable: set another one")
        sizes = {path: NPY_HEADER_BYTES + 4 * int(self.table.num_frames[i])
                 for i, paths in enumerate(self.paths) for path in paths}
        new = sum(size for path, size in sizes.items() if not path.is_file())
        used = _cache_usage(self.cache_dir)
        if used + new > max_gb * 2**30:
            raise ValueError(f"the codec cache {self.cache_dir} holds {used / 2**30:.2f} GB and this run's "
                             f"variants add {new / 2**30:.2f} GB, more than data.codec.cache_max_gb "
                             f"{max_gb:g}: lower data.codec.variants, clear the cache or raise the limit")
        free = shutil.disk_usage(self.cache_dir).free
        if new > free:
            raise ValueError(f"the codec cache {self.cache_dir} needs {new / 2**30:.2f} GB more, the disk "
                             f"has {free / 2**30:.2f} GB free")
        return sum(sizes.values())

    def summary(self) -> dict[str, Any]:
        """What the run files record: the codecs used and dropped, and the cache."""
        return {"codecs": self.labels, "dropped": self.dropped, "probability": self.probability,
                "variants": self.variants, "cache_dir": str(self.cache_dir),
                "cache_gb": round(self.planned_bytes / 2**30, 3)}

    def variant(self, index: int, k: int) -> np.ndarray:
        """Variant ``k`` of utterance ``index`` as (samples,) float32: from the cache, else encoded."""
        path, n = self.paths[index][k], int(self.table.num_frames[index])
        if path.is_file():
            try:
                samples = np.load(path, allow_pickle=False)
                if samples.dtype == np.float32 and samples.shape == (n,) and np.isfinite(samples).all():
                    return samples
                problem = f"holds {samples.dtype} {samples.shape}, expected {n} finite float32 samples"
            except (OSError, ValueError, EOFError) as err:
                problem = f"does not read as .npy ({err})"
            log.warning("codec cache file %s %s: encoding it again", path, problem)
        codec, bitrate = self.plan[index][k]
        utt = self.table.utts[index]
        try:
            coded = codecs.round_trip(self.table.feats(index)[:, 0], self.fs, codec, bitrate)
        except (codecs.CodecError, codecs.CodecUnavailable) as err:
            raise type(err)(f"utterance {utt}, codec {label(codec, bitrate)}: {err}") from None
        samples = coded.astype(np.float32)
        with atomic_write(path, "wb") as f:
            np.save(f, samples, allow_pickle=False)
        return samples

    def prefill(self, jobs: int) -> int:
        """Encode the planned variants missing from the cache, ``jobs`` at a time; how many it encoded.

        Threads suffice: the encoders are subprocesses (G.722, in-process, takes a few ms).
        """
        todo = {path: (i, k) for i, paths in enumerate(self.paths) for k, path in enumerate(paths)
                if not path.is_file()}
        if todo:
            progress = Progress(len(todo), f"encoding codec variants into {self.cache_dir}", log, "files")
            with ThreadPoolExecutor(max(jobs, 1)) as pool:
                for _ in pool.map(lambda job: self.variant(*job), todo.values()):
                    progress.update()
        return len(todo)

    def __call__(self, index: int, rng: np.random.Generator) -> np.ndarray:
        apply, k = rng.random() < self.probability, int(rng.integers(self.variants))  # both, always
        if not apply:
            return self.table.feats(index)
        return self.variant(index, k)[:, None]

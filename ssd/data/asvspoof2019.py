"""ASVspoof 2019 LA corpus: layout check, CM protocol parsing and Kaldi data-dir preparation.

The same code serves the real 7.7 GB corpus and the bundled mini corpus, which is written in the
real corpus's layout. Audio is never copied: ``wav.scp`` points at the corpus's flac files.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from ssd.data.datadir import write_data_dir, write_kv
from ssd.utils.fileio import atomic_write

SETS = ("train", "dev", "eval")
PROTOCOL_DIR = "ASVspoof2019_LA_cm_protocols"
ASV_SCORE_DIR = "ASVspoof2019_LA_asv_scores"
PROTOCOL_FILES = {
    "train": "ASVspoof2019.LA.cm.train.trn.txt",
    "dev": "ASVspoof2019.LA.cm.dev.trl.txt",
    "eval": "ASVspoof2019.LA.cm.eval.trl.txt",
}
# The organisers published ASV scores for dev and eval only (t-DCF is never computed on train).
ASV_SCORE_FILES = {
    "dev": "ASVspoof2019.LA.asv.dev.gi.trl.scores.txt",
    "eval": "ASVspoof2019.LA.asv.eval.gi.trl.scores.txt",
}
KEYS = ("bonafide", "spoof")
# The attacks of ASVspoof 2019 LA: A01-A06 in train and dev, A07-A19 in eval ('-' marks bona fide).
ATTACKS = frozenset(f"A{i:02d}" for i in range(1, 20))
MAX_LISTED = 10


class CorpusError(ValueError):
    """The corpus on disk is not a usable ASVspoof 2019 LA tree; the message says what is wrong."""


@dataclass(frozen=True)
class ProtocolEntry:
    """One line of a CM protocol: ``SPEAKER UTT - ATTACK KEY``."""

    speaker: str
    utt: str
    attack: str
    key: str


def audio_dir(corpus_dir: str | os.PathLike, subset: str) -> Path:
    """Folder holding the flac files of one subset."""
    return Path(corpus_dir) / f"ASVspoof2019_LA_{subset}" / "flac"


def protocol_path(corpus_dir: str | os.PathLike, subset: str) -> Path:
    return Path(corpus_dir) / PROTOCOL_DIR / PROTOCOL_FILES[subset]


def asv_scores_path(corpus_dir: str | os.PathLike, subset: str) -> Path | None:
    """The organisers' ASV score file of a subset, or None for train."""
    name = ASV_SCORE_FILES.get(subset)
    return Path(corpus_dir) / ASV_SCORE_DIR / name if name else None


def read_cm_protocol(path: str | os.PathLike) -> list[ProtocolEntry]:
    """Parse a CM protocol, checking field count, keys, attack ids, the attack/key agreement, unique ids."""
    entries: list[ProtocolEntry] = []
    seen: dict[str, int] = {}
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            where = f"{path}:{lineno}"
            try:
                fields = raw.decode("utf-8").split()
            except UnicodeDecodeError as err:
                raise CorpusError(f"{where}: not UTF-8 text ({err.reason}): not a protocol?") from None
            if not fields:
                continue
            if len(fields) != 5:
                raise CorpusError(f"{where}: expected 5 fields 'SPEAKER UTT - ATTACK KEY', got {len(fields)}")
            speaker, utt, _, attack, key = fields
            if key not in KEYS:
                raise CorpusError(f"{where}: key {key!r} is neither 'bonafide' nor 'spoof'")
            if attack != "-" and attack not in ATTACKS:
                raise CorpusError(f"{where}: attack {attack!r} of {utt} is not an ASVspoof 2019 LA attack "
                                  "(A01..A19, or '-' for bona fide)")
            if (key == "bonafide") != (attack == "-"):
                raise CorpusError(f"{where}: {utt} is {key} with attack {attack!r} "
                                  "('-' is for bona fide only)")
            if utt in seen:
                raise CorpusError(f"{where}: utterance {utt} already listed on line {seen[utt]}")
            seen[utt] = lineno
            entries.append(ProtocolEntry(speaker, utt, attack, key))
    if not entries:
        raise CorpusError(f"{path}: the protocol is empty")
    return entries


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    return shown + (f", ... ({len(items) - MAX_LISTED} more)" if len(items) > MAX_LISTED else "")


def check_subset(corpus_dir: str | os.PathLike, subset: str) -> list[ProtocolEntry]:
    """Check one subset's protocol against its flac folder; missing audio is an error.

    Flac files that the protocol does not list are reported on stderr but tolerated: users often
    keep extra material beside the corpus.
    """
    proto = protocol_path(corpus_dir, subset)
    flac_dir = audio_dir(corpus_dir, subset)
    for needed in (proto, flac_dir):
        if not needed.exists():
            raise CorpusError(f"{corpus_dir}: missing {needed.relative_to(corpus_dir)} "
                              "(is this the LA corpus?)")
    entries = read_cm_protocol(proto)
    on_disk = {name[: -len(".flac")] for name in os.listdir(flac_dir) if name.endswith(".flac")}
    listed = {e.utt for e in entries}
    missing = sorted(listed - on_disk)
    if missing:
        raise CorpusError(
            f"{flac_dir}: {len(missing)} of {len(listed)} utterances in {proto.name} have no flac: "
            + _listing(missing)
        )
    extra = sorted(on_disk - listed)
    if extra:
        print(f"warning: {flac_dir}: {len(extra)} flac files not in {proto.name}: {_listing(extra)}",
              file=sys.stderr)
    return entries


def verify(corpus_dir: str | os.PathLike, subsets: tuple[str, ...] = SETS) -> dict[str, list[ProtocolEntry]]:
    """Check the LA layout, every protocol entry's flac and the dev/eval ASV score files."""
    if not Path(corpus_dir).is_dir():
        raise CorpusError(f"{corpus_dir}: no such directory")
    protocols = {subset: check_subset(corpus_dir, subset) for subset in subsets}
    for subset in subsets:
        asv = asv_scores_path(corpus_dir, subset)
        if asv is not None and not asv.exists():
            print(f"warning: {asv} is missing: t-DCF will not be computed for {subset}", file=sys.stderr)
    return protocols


def write_subset(corpus_dir: str | os.PathLike, subset: str, entries: list[ProtocolEntry],
                 out_dir: str | os.PathLike) -> None:
    """Write the Kaldi data dir of one subset, its ASV scores and the corpus path it came from."""
    corpus_dir = Path(corpus_dir).resolve()
    out_dir = Path(out_dir)
    flac_dir = audio_dir(corpus_dir, subset)
    write_data_dir(out_dir, {
        "wav.scp": {e.utt: str(flac_dir / f"{e.utt}.flac") for e in entries},
        "utt2spk": {e.utt: e.speaker for e in entries},
        "utt2label": {e.utt: e.key for e in entries},
        "utt2attack": {e.utt: e.attack for e in entries},
    })
    asv = asv_scores_path(corpus_dir, subset)
    if asv is not None and asv.exists():
        with atomic_write(out_dir / "asv_scores.txt") as dst, open(asv, encoding="utf-8") as src:
            shutil.copyfileobj(src, dst)
    write_kv(out_dir / "corpus", {"path": str(corpus_dir)})


def prepare(corpus_dir: str | os.PathLike, out_dir: str | os.PathLike,
            subsets: tuple[str, ...] = SETS) -> dict[str, int]:
    """Verify the corpus and write ``out_dir/<subset>/``; returns the utterance count per subset."""
    protocols = verify(corpus_dir, subsets)
    for subset, entries in protocols.items():
        write_subset(corpus_dir, subset, entries, Path(out_dir) / subset)
    return {subset: len(entries) for subset, entries in protocols.items()}

"""ASVspoof 2019 LA corpus: layout check, CM protocol parsing and Kaldi data-dir preparation.

The same code serves the real 7.7 GB corpus and the bundled mini corpus, which is written in the
real corpus's layout. Audio is never copied: ``wav.scp`` points at the corpus's flac files. The CM
protocol reader here is the only one: the scorer (ssd.metrics.scorefiles) reads protocols with it too.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

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
NO_ATTACK = "-"  # the attack field of bona fide lines
FIELDS = "SPEAKER UTT - ATTACK KEY"
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


@dataclass(frozen=True)
class ProtocolTable:
    """A CM protocol as columns, with the line of each record so that later checks can name it."""

    path: str
    speakers: list[str]
    utts: list[str]
    attacks: list[str]
    keys: list[str]
    line_numbers: list[int]

    def where(self, record: int) -> str:
        return f"{self.path}:{self.line_numbers[record]}"

    def entries(self) -> list[ProtocolEntry]:
        return list(map(ProtocolEntry, self.speakers, self.utts, self.attacks, self.keys))


def audio_dir(corpus_dir: str | os.PathLike, subset: str) -> Path:
    """Folder holding the flac files of one subset."""
    return Path(corpus_dir) / f"ASVspoof2019_LA_{subset}" / "flac"


def protocol_path(corpus_dir: str | os.PathLike, subset: str) -> Path:
    return Path(corpus_dir) / PROTOCOL_DIR / PROTOCOL_FILES[subset]


def asv_scores_path(corpus_dir: str | os.PathLike, subset: str) -> Path | None:
    """The organisers' ASV score file of a subset, or None for train."""
    name = ASV_SCORE_FILES.get(subset)
    return Path(corpus_dir) / ASV_SCORE_DIR / name if name else None


def read_protocol_table(path: str | os.PathLike, la_attacks: bool = True) -> ProtocolTable:
    """Parse a CM protocol (``SPEAKER UTT - ATTACK KEY``): the one reader of this format.

    Always checked: UTF-8 text, five fields a line, keys ``bonafide``/``spoof``, unique utterance ids,
    at least one entry. ``la_attacks`` (data preparation) adds that every attack is an ASVspoof 2019 LA
    one and that ``-`` marks exactly the bona fide lines; the scorer passes False, since it also reads
    other corpora's protocols in this layout and applies its own attack rules (ssd.metrics.scorefiles).
    Columns are checked in bulk; only when a check fails does a line-by-line pass find the first bad
    line, so that every error names the file and line and a 71k-line protocol still reads fast.
    """
    name = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        lineno = data.count(b"\n", 0, err.start) + 1
        raise CorpusError(f"{name}:{lineno}: not UTF-8 text ({err.reason}): not a protocol?") from None
    lines = text.split("\n")
    counts = list(map(len, map(str.split, lines)))  # no per-line lists kept: cheap on 71k lines
    numbers = [lineno for lineno, count in enumerate(counts, 1) if count]
    if not numbers:
        raise CorpusError(f"{name}: the protocol is empty")
    if not set(counts) <= {0, 5}:
        _raise_first_bad_line(name, lines, numbers, la_attacks)
    tokens = text.split()  # the lines' fields in order (blank lines add none): five per line
    columns = [tokens[i::5] for i in range(5)]
    if not _columns_valid(columns, la_attacks):
        _raise_first_bad_line(name, lines, numbers, la_attacks)
    speakers, utts, _, attacks, keys = columns
    return ProtocolTable(name, speakers, utts, attacks, keys, numbers)


def _columns_valid(columns: list[list[str]], la_attacks: bool) -> bool:
    """The checks of :func:`_raise_first_bad_line` on the five columns of a protocol, in bulk."""
    _, utts, _, attacks, keys = columns
    if not set(keys) <= set(KEYS) or len(set(utts)) != len(utts):
        return False
    if not la_attacks:
        return True
    is_bona = [key == "bonafide" for key in keys]
    return set(attacks) <= ATTACKS | {NO_ATTACK} and is_bona == [attack == NO_ATTACK for attack in attacks]


def _raise_first_bad_line(name: str, lines: list[str], numbers: list[int], la_attacks: bool) -> NoReturn:
    """Raise CorpusError for the first line (in file order) that fails a check."""
    rows = [lines[lineno - 1].split() for lineno in numbers]
    seen: dict[str, int] = {}
    for lineno, fields in zip(numbers, rows, strict=True):
        where = f"{name}:{lineno}"
        if len(fields) != 5:
            shown = lines[lineno - 1].strip()
            if lineno == numbers[0]:  # the very first line: most likely not a protocol at all
                raise CorpusError(f"{where}: CM protocol ({FIELDS}) lines have 5 fields, "
                                  f"found {len(fields)}: {shown!r}")
            raise CorpusError(f"{where}: expected 5 fields '{FIELDS}', found {len(fields)}: {shown!r}")
        _, utt, _, attack, key = fields
        if key not in KEYS:
            raise CorpusError(f"{where}: key {key!r} is neither 'bonafide' nor 'spoof'")
        if la_attacks and attack != NO_ATTACK and attack not in ATTACKS:
            raise CorpusError(f"{where}: attack {attack!r} of {utt} is not an ASVspoof 2019 LA attack "
                              "(A01..A19, or '-' for bona fide)")
        if la_attacks and (key == "bonafide") != (attack == NO_ATTACK):
            raise CorpusError(f"{where}: {utt} is {key} with attack {attack!r} ('-' is for bona fide only)")
        if utt in seen:
            raise CorpusError(f"{where}: utterance {utt} already listed on line {seen[utt]} "
                              f"({_duplicates(rows, numbers)})")
        seen[utt] = lineno
    raise AssertionError(f"{name}: the bulk checks failed but no line did")


def _duplicates(rows: list[list[str]], numbers: list[int]) -> str:
    """How many utterance ids a protocol repeats, and the first few with their lines."""
    lines_of: dict[str, list[int]] = {}
    for lineno, fields in zip(numbers, rows, strict=True):
        if len(fields) == 5:
            lines_of.setdefault(fields[1], []).append(lineno)
    repeated = [f"{utt} (lines {', '.join(map(str, at))})" for utt, at in lines_of.items() if len(at) > 1]
    return f"{len(repeated)} duplicate utterance id(s): {_listing(repeated)}"


def read_cm_protocol(path: str | os.PathLike) -> list[ProtocolEntry]:
    """The entries of an ASVspoof 2019 LA CM protocol, every check of :func:`read_protocol_table` on."""
    return read_protocol_table(path).entries()


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

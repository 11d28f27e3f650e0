"""Kaldi data-directory files: ``key value`` tables (wav.scp, utt2spk, utt2label, ...).

Readers name the file and line of every malformed entry; writers sort keys the way ``LC_ALL=C sort``
does (byte order) and write atomically.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from ssd.utils.fileio import atomic_write


def read_scp(path: str | os.PathLike) -> list[tuple[str, str]]:
    """Read ``key rest-of-line`` entries in file order; a line without a value is an error.

    Lines end at a line feed, as in Kaldi, and are decoded one by one so that bytes that are not
    UTF-8 are reported with their line.
    """
    entries = []
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError as err:
                raise ValueError(f"{path}:{lineno}: not UTF-8 text ({err.reason} at byte {err.start + 1} "
                                 "of the line)") from None
            if not line:
                continue
            parts = line.split(maxsplit=1)
            if len(parts) != 2:
                raise ValueError(f"{path}:{lineno}: expected 'key value', got {line!r}")
            entries.append((parts[0], parts[1]))
    return entries


def read_wav_scp(path: str | os.PathLike) -> list[tuple[str, str]]:
    """A ``wav.scp``'s entries in file order; an empty file or a repeated utterance is an error."""
    entries = read_scp(path)
    if not entries:
        raise ValueError(f"{path}: no utterances")
    seen: set[str] = set()
    for utt, _ in entries:
        if utt in seen:
            raise ValueError(f"{path}: utterance {utt!r} is listed twice")
        seen.add(utt)
    return entries


class Segment(NamedTuple):
    """A ``segments`` line: an utterance cut from a recording of wav.scp, in seconds (end None: the end)."""

    utt: str
    recording: str
    start: float
    end: float | None


def read_segments(path: str | os.PathLike) -> list[Segment]:
    """A Kaldi ``segments`` file (``utt recording start end``, end -1 for the recording's end), in file
    order; a malformed or repeated line is an error naming it."""
    segments: list[Segment] = []
    seen: dict[str, int] = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            where = f"{path}:{number}"
            if len(fields) != 4:
                raise ValueError(f"{where}: expected 'utt recording start end', got {len(fields)} fields")
            utt, recording, start_text, end_text = fields
            try:
                start, end = float(start_text), float(end_text)
            except ValueError:
                raise ValueError(f"{where}: start and end must be seconds, got {start_text} "
                                 f"{end_text}") from None
            if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or (end != -1 and end <= start):
                raise ValueError(f"{where}: segment {utt} from {start_text} to {end_text} s is empty or "
                                 "invalid (end -1: to the end of the recording)")
            if utt in seen:
                raise ValueError(f"{where}: utterance {utt!r} is already on line {seen[utt]}")
            seen[utt] = number
            segments.append(Segment(utt, recording, start, None if end == -1 else end))
    if not segments:
        raise ValueError(f"{path}: no segments")
    return segments


def read_kv(path: str | os.PathLike) -> dict[str, str]:
    """Read a ``key value`` table into a dict; duplicate keys are an error."""
    table: dict[str, str] = {}
    for lineno, (key, value) in enumerate(read_scp(path), 1):
        if key in table:
            raise ValueError(f"{path}: duplicate key {key!r} (entry {lineno})")
        table[key] = value
    return table


def c_sorted(keys: Iterable[str]) -> list[str]:
    """Sort strings in byte order, as ``LC_ALL=C sort`` does."""
    return sorted(keys, key=lambda k: k.encode("utf-8"))


def write_kv(path: str | os.PathLike, items: dict[str, str] | Iterable[tuple[str, str]]) -> None:
    """Write a ``key value`` table sorted in C order, atomically."""
    table = dict(items)
    with atomic_write(path) as f:
        for key in c_sorted(table):
            f.write(f"{key} {table[key]}\n")


def spk2utt_from_utt2spk(utt2spk: dict[str, str]) -> dict[str, str]:
    """Invert utt2spk into spk2utt values (utterances C-sorted, space separated)."""
    groups: dict[str, list[str]] = {}
    for utt, spk in utt2spk.items():
        groups.setdefault(spk, []).append(utt)
    return {spk: " ".join(c_sorted(utts)) for spk, utts in groups.items()}


def write_data_dir(out_dir: str | os.PathLike, tables: dict[str, dict[str, str]]) -> None:
    """Write every table (file name -> mapping) of a data dir, plus spk2utt derived from utt2spk."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        write_kv(out_dir / name, table)
    if "utt2spk" in tables:
        write_kv(out_dir / "spk2utt", spk2utt_from_utt2spk(tables["utt2spk"]))

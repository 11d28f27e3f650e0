"""Reading ``feats.scp`` as data, never as a script: ``utt ARK:OFFSET`` entries only.

ssd writes every feats.scp itself (:mod:`ssd.data.ark_writer`) as ``utt /path/feats.N.ark:OFFSET``.
kaldiio would also run pipe entries (``cmd |``, with ``shell=True``) and end a failing one in a bare
AssertionError, so entries are parsed here, pipes and other rxspecifiers are refused, and each matrix is
read from its ark with a plain ``open``. Every error names the scp file and line, and the ark and offset.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from kaldiio.matio import read_kaldi


class FeatsScpError(ValueError):
    """A feats.scp entry that is not ``utt ARK:OFFSET``, or whose matrix cannot be read."""


@dataclass(frozen=True)
class FeatsEntry:
    """Where one utterance's matrix lies: ``ark`` at byte ``offset``, listed on ``line`` of ``scp``."""

    utt: str
    ark: str
    offset: int
    scp: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.scp}:{self.line}: utterance {self.utt}"


def _entry(scp: str, lineno: int, utt: str, value: str) -> FeatsEntry:
    if value.endswith("|") or value.startswith("|"):
        raise FeatsScpError(f"{scp}:{lineno}: utterance {utt}: {value!r} is a pipe command; feats.scp "
                            "entries are never run (ssd writes 'ARK:OFFSET' entries only)")
    ark, _, offset = value.rpartition(":")
    if not ark or not offset.isdigit():
        raise FeatsScpError(f"{scp}:{lineno}: utterance {utt}: expected 'ARK:OFFSET' (an ark file and a "
                            f"byte offset), got {value!r}")
    return FeatsEntry(utt, ark, int(offset), scp, lineno)


def read_feats_scp(path: str | os.PathLike) -> dict[str, FeatsEntry]:
    """The entries of a feats.scp by utterance, in file order; a malformed or repeated one is an error."""
    scp = os.fspath(path)
    entries: dict[str, FeatsEntry] = {}
    with open(scp, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError as err:
                raise FeatsScpError(f"{scp}:{lineno}: not UTF-8 text ({err.reason})") from None
            if not line:
                continue
            parts = line.split(maxsplit=1)
            if len(parts) != 2:
                raise FeatsScpError(f"{scp}:{lineno}: expected 'utt ARK:OFFSET', got {line!r}")
            utt, value = parts
            if utt in entries:
                raise FeatsScpError(f"{scp}:{lineno}: utterance {utt} already listed on line "
                                    f"{entries[utt].line}")
            entries[utt] = _entry(scp, lineno, utt, value.strip())
    return entries


class ArkReader:
    """Reads matrices of :class:`FeatsEntry` objects, keeping each ark open. A DataLoader worker gets its
    own file handles: reopened after pickling (spawned workers) and in a new process (forked workers,
    which would otherwise share the parent's file positions and read each other's matrices)."""

    def __init__(self) -> None:
        self._files: dict[str, BinaryIO] = {}
        self._pid = os.getpid()

    def _open(self, entry: FeatsEntry) -> BinaryIO:
        if self._pid != os.getpid():  # a forked child: the inherited handles' offsets are shared
            self._files, self._pid = {}, os.getpid()
        if entry.ark not in self._files:
            try:
                self._files[entry.ark] = open(entry.ark, "rb")  # noqa: SIM115 (kept open, closed in close())
            except FileNotFoundError:
                raise FeatsScpError(f"{entry.where}: ark {entry.ark} does not exist") from None
            except OSError as err:
                raise FeatsScpError(f"{entry.where}: cannot open ark {entry.ark}: {err.strerror}") from None
        return self._files[entry.ark]

    def read(self, entry: FeatsEntry) -> np.ndarray:
        """The matrix at ``entry``; anything else there is an error naming scp line, ark and offset."""
        f = self._open(entry)
        where = f"{entry.where}: ark {entry.ark} at offset {entry.offset}"
        size = os.fstat(f.fileno()).st_size
        if entry.offset >= size:
            raise FeatsScpError(f"{where}: the offset is beyond the end of the ark ({size} bytes)")
        f.seek(entry.offset)
        head = f.read(16)
        # A binary Kaldi object starts with "\0B"; a text matrix (ark,t) with " [".
        if not (head.startswith(b"\0B") or head.lstrip().startswith(b"[")):
            raise FeatsScpError(f"{where}: no Kaldi matrix starts there (found {head[:8]!r}); the scp does "
                                "not belong to this ark, or the ark was overwritten")
        f.seek(entry.offset)
        try:
            mat = read_kaldi(f)
        except Exception as err:  # kaldiio reports damage as assertions, struct or decode errors
            raise FeatsScpError(f"{where}: unreadable Kaldi matrix ({type(err).__name__}: {err})") from None
        if not isinstance(mat, np.ndarray):
            raise FeatsScpError(f"{where}: holds {type(mat).__name__}, not a feature matrix")
        return mat

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()

    def __getstate__(self) -> dict:
        return {"_files": {}, "_pid": -1}

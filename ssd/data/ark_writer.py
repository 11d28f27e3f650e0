"""Kaldi ark/scp feature writing with the scp as the job's commit record.

kaldiio writes the ark path verbatim into the scp, so the ark is written under its final name and the
scp is published last, atomically, only when every matrix is on disk. A job that dies half-way leaves
no scp, and a re-run never sees an old scp pointing into an ark that is being rewritten.
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

import kaldiio
import numpy as np

from ssd.utils.fileio import atomic_write

_KNOWN_OPTIONS = {"ark", "scp", "t", "b", "f", "nf"}


@dataclass(frozen=True)
class WSpecifier:
    """A parsed Kaldi write specifier such as ``ark,scp:feats.ark,feats.scp``."""

    ark: str
    scp: str | None
    text: bool


def parse_wspecifier(spec: str) -> WSpecifier:
    """Parse ``ark[,scp][,t|b][,f|nf]:ARK[,SCP]``; stdout and pipes are refused: they cannot be committed."""
    options_part, sep, paths = spec.partition(":")
    options = {opt.strip() for opt in options_part.split(",")}
    if not sep or not paths or "ark" not in options:
        raise ValueError(f"bad wspecifier {spec!r}: expected 'ark:FILE' or 'ark,scp:FILE.ark,FILE.scp'")
    unknown = options - _KNOWN_OPTIONS
    if unknown:
        raise ValueError(f"bad wspecifier {spec!r}: unsupported option(s) {', '.join(sorted(unknown))}")
    if "scp" in options:
        ark, comma, scp = paths.partition(",")
        if not comma or not ark or not scp:
            raise ValueError(f"bad wspecifier {spec!r}: 'ark,scp:' needs two comma-separated paths")
    else:
        ark, scp = paths, None
    if "-" in (ark, scp) or ark.endswith("|") or (scp or "").endswith("|"):
        raise ValueError(f"bad wspecifier {spec!r}: pipes and stdout cannot be written atomically")
    return WSpecifier(ark=ark, scp=scp, text="t" in options)


def remove_if_exists(path: str | os.PathLike) -> None:
    """Delete a stale output, e.g. the previous run's scp, before its ark is rewritten."""
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def _naming(err: OSError, what: str) -> OSError:
    """The same OS error (errno kept) with a message that says which output and why."""
    if err.errno is None:
        return OSError(f"{what}: {err}")
    return OSError(err.errno, f"{what}: {err.strerror}")


class ArkScpWriter:
    """Context manager writing matrices to an ark and, on a clean exit only, publishing the scp.

    On an exception, including a write that fails on a full disk, the partial ark is deleted (nothing
    refers to it) and no scp is written.
    """

    def __init__(self, wspecifier: str) -> None:
        self.spec = parse_wspecifier(wspecifier)
        self._ark: IO[bytes] | None = None
        self._scp = io.StringIO()
        self._keys: set[str] = set()

    def __enter__(self) -> ArkScpWriter:
        if self.spec.scp is not None:
            remove_if_exists(self.spec.scp)
        Path(self.spec.ark).parent.mkdir(parents=True, exist_ok=True)
        self._ark = open(self.spec.ark, "wb")
        return self

    def write(self, key: str, matrix: np.ndarray) -> None:
        """Append one matrix; keys must be unique and free of whitespace (Kaldi table rules)."""
        if self._ark is None:
            raise RuntimeError("ArkScpWriter.write called outside its 'with' block")
        if not key or any(ch.isspace() for ch in key):
            raise ValueError(f"invalid ark key {key!r}: must be non-empty without whitespace")
        if key in self._keys:
            raise ValueError(f"duplicate ark key {key!r} in {self.spec.ark}")
        self._keys.add(key)
        try:
            kaldiio.save_ark(self._ark, {key: matrix}, scp=self._scp, text=self.spec.text)
        except OSError as err:  # e.g. a full disk: say which file and utterance, not just the errno
            raise _naming(err, f"cannot write {key!r} to {self.spec.ark}") from err

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._ark is not None
        ark, self._ark = self._ark, None
        if exc_type is not None:
            self._discard(ark)
            return
        try:
            # The ark must be durable before the scp that points into it is published.
            ark.flush()
            os.fsync(ark.fileno())
            ark.close()
            if self.spec.scp is not None:
                with atomic_write(self.spec.scp) as f:
                    f.write(self._scp.getvalue())
        except OSError as err:
            self._discard(ark)
            raise _naming(err, f"cannot complete {self.spec.ark} and its scp") from err

    def _discard(self, ark: IO[bytes]) -> None:
        """Close and delete a partial ark; closing may fail again (a full disk) and must not stop that."""
        with contextlib.suppress(OSError):
            ark.close()
        remove_if_exists(self.spec.ark)

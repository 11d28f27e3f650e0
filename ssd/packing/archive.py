"""The packed-detector archive format: one zip file that holds everything needed to score audio.

Members of a packed archive (format ``ssd-detector``, version :data:`FORMAT_VERSION`):

- ``manifest.json``: format name and version, the sha256 and size of every other member, the front
  end (sampling rate, LFCC settings), the evaluation windows, the decision thresholds, the dev/eval
  figures, and where the model came from (experiment tag, corpus, git commit, ssd version);
- ``weights.pt``: the scoring network's ``state_dict`` (backbone and countermeasure loss), written by
  ``torch.save`` and read back with ``torch.load(weights_only=True)``;
- ``config.yaml``: the resolved training configuration;
- ``README.md``: a short model card;
- ``RESULTS.md`` (optional): the experiment's results page as stage 5 wrote it.

Large weights may live outside the archive: the manifest's optional ``external`` entry then names
``weights.pt`` by a path relative to the archive's folder (inside it), with its sha256 and size.

Reading never executes anything from the archive: the manifest is JSON, the config is read with
``yaml.safe_load``, and the weights go through PyTorch's tensor-only unpickler after their checksum
was verified. Reading is bounded whatever the zip headers claim: each member is streamed through its
sha256 and reading stops as soon as it passes the size the manifest records; the members other than
the weights total at most :data:`MAX_SIDE_BYTES`, all members at most a global cap
(:data:`DEFAULT_MAX_ARCHIVE_BYTES`, or ``$SSD_MAX_ARCHIVE_BYTES``; external weights are bounded by
their recorded size only); members the manifest does not list are never read.

Versions: a loader refuses a format version it does not know, naming both versions. Later versions
only add fields, and a loader accepts manifest keys it does not know; the version changes only when
an old loader would misread a new archive.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import torch
import yaml

from ssd.utils.fileio import atomic_write

FORMAT_NAME = "ssd-detector"
FORMAT_VERSION = 2  # 2: registered parts (manifest "model", eval policy by name and length)
MANIFEST = "manifest.json"
WEIGHTS = "weights.pt"
CONFIG = "config.yaml"
README = "README.md"
RESULTS = "RESULTS.md"
# A manifest is a few kB; the config, model card and results page together a few tens of kB. Only the
# weights are large: the paper-size model is 90 MB, an SSL model with an XLS-R encoder 1.2 GB and more.
MAX_MANIFEST_BYTES = 1 << 20
MAX_SIDE_BYTES = 16 << 20
DEFAULT_MAX_ARCHIVE_BYTES = 4 << 30
MAX_ARCHIVE_ENV = "SSD_MAX_ARCHIVE_BYTES"
# Members are streamed in chunks of this size: the most a member can be read past its recorded size.
_CHUNK = 1 << 20
# What write_packed writes. Others are refused unread: bzip2 and lzma inflate a whole input chunk at once.
_COMPRESSIONS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
# A fixed timestamp on every member makes two packings of the same content byte-identical.
_ZIP_DATE = (2020, 1, 1, 0, 0, 0)


class PackError(ValueError):
    """A packed detector that cannot be used: not an archive, corrupted, another format version, unsafe."""


@dataclass
class PackedModel:
    """The decoded content of a packed detector (or of an experiment directory read the same way)."""

    manifest: dict[str, Any]
    config: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    readme: str = ""
    extra_files: dict[str, bytes] = field(default_factory=dict)
    source: str = ""


def sha256_hex(data: bytes) -> str:
    """Hex sha256 digest of ``data``."""
    return hashlib.sha256(data).hexdigest()


def serialize_state_dict(state_dict: dict[str, torch.Tensor]) -> bytes:
    """``torch.save`` of a flat name -> tensor mapping; tensors are copied to CPU and made contiguous."""
    clean = {name: tensor.detach().to("cpu").contiguous().clone() for name, tensor in state_dict.items()}
    buffer = io.BytesIO()
    torch.save(clean, buffer)
    return buffer.getvalue()


def _external_path(archive: str | os.PathLike, weights: str | os.PathLike) -> str:
    """``weights`` relative to the archive's folder; it must lie inside that folder, so both move together."""
    rel = os.path.relpath(os.path.abspath(weights), os.path.dirname(os.path.abspath(archive)))
    if rel.split(os.sep)[0] == os.pardir:
        raise ValueError(f"external weights {weights} must be in the folder of the archive {archive} or "
                         "below it")
    return Path(rel).as_posix()


def write_packed(path: str | os.PathLike, manifest: dict[str, Any], state_dict: dict[str, torch.Tensor],
                 config: dict[str, Any], readme: str, extra_files: dict[str, bytes] | None = None,
                 external_weights: str | os.PathLike | None = None) -> dict[str, Any]:
    """Write a packed detector atomically; returns the manifest as stored (with format and checksums).

    ``manifest`` carries the descriptive fields; this function adds ``format``, ``format_version``
    and ``files`` (sha256 and size of each member), which :func:`read_packed` verifies. With
    ``external_weights`` the weights are written to that file (in the archive's folder or below)
    and the manifest's ``external`` entry records its relative path, sha256 and size.
    """
    weights = serialize_state_dict(state_dict)
    members: dict[str, bytes] = {
        CONFIG: yaml.safe_dump(config, sort_keys=False, default_flow_style=None).encode("utf-8"),
        README: readme.encode("utf-8"),
    }
    for name, data in (extra_files or {}).items():
        if name in members or name in (MANIFEST, WEIGHTS):
            raise ValueError(f"extra archive member {name!r} clashes with a standard member")
        members[name] = data
    side = sum(len(data) for data in members.values())
    if side > MAX_SIDE_BYTES:
        raise ValueError(f"{path}: config, model card and extra members total {side} bytes, over the "
                         f"{MAX_SIDE_BYTES} that a reader accepts besides the weights")
    external: dict[str, Any] = {}
    if external_weights is None:
        members = {WEIGHTS: weights, **members}
    else:
        external[WEIGHTS] = {"path": _external_path(path, external_weights), "sha256": sha256_hex(weights),
                             "bytes": len(weights)}
        with atomic_write(external_weights, mode="wb") as f:
            f.write(weights)
    stored = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        **{k: v for k, v in manifest.items() if k not in ("format", "format_version", "files", "external")},
        "files": {name: {"sha256": sha256_hex(data), "bytes": len(data)} for name, data in members.items()},
        **({"external": external} if external else {}),
    }
    manifest_bytes = (json.dumps(stored, indent=2, sort_keys=False) + "\n").encode("utf-8")
    with atomic_write(path, mode="wb") as f, zipfile.ZipFile(f, "w") as archive:
        for name, data in [(MANIFEST, manifest_bytes), *members.items()]:
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_STORED if name == WEIGHTS else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return stored


def max_archive_bytes(limit: int | None = None) -> int:
    """The global cap on an archive's members: ``limit``, else ``$SSD_MAX_ARCHIVE_BYTES``, else 4 GiB."""
    source = "the limit"
    if limit is None:
        text = os.environ.get(MAX_ARCHIVE_ENV, "").strip()
        if not text:
            return DEFAULT_MAX_ARCHIVE_BYTES
        source = f"{MAX_ARCHIVE_ENV}={text!r}"
        try:
            limit = int(text)
        except ValueError:
            raise PackError(f"{source} is not a whole number of bytes") from None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        raise PackError(f"{source} must be a positive whole number of bytes, not {limit!r}")
    return limit


def _stream(source: BinaryIO, size: int, who: str, exact: bool = True) -> tuple[io.BytesIO, str]:
    """Read ``source`` in chunks through sha256, stopping as soon as it passes ``size`` bytes.

    With ``exact`` the content must be ``size`` bytes (the manifest's record), else at most ``size``.
    Returns the bytes (positioned at 0) and their hex sha256; the count is ours, never a header's.
    """
    out, digest, count = io.BytesIO(), hashlib.sha256(), 0
    while chunk := source.read(_CHUNK):
        count += len(chunk)
        if count > size:
            if exact:
                raise PackError(f"{who} holds more than the {size} bytes the manifest records for it "
                                f"(stopped reading at {count}): the archive is corrupted or was modified")
            raise PackError(f"{who} is over the limit of {size} bytes")
        digest.update(chunk)
        out.write(chunk)
    if exact and count < size:
        raise PackError(f"{who} is {count} bytes, the manifest records {size}: the archive is truncated, "
                        "corrupted or was modified")
    out.seek(0)
    return out, digest.hexdigest()


def _read_member(archive: zipfile.ZipFile, name: str, where: str, size: int,
                 exact: bool = True) -> tuple[io.BytesIO, str]:
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise PackError(f"{where}: the archive has no {name} (not a packed ssd detector?)") from None
    if info.compress_type not in _COMPRESSIONS:
        raise PackError(f"{where}: {name} uses zip compression method {info.compress_type}; packed detectors "
                        f"use only {' or '.join(_COMPRESSIONS.values())}")
    try:
        with archive.open(info) as member:
            return _stream(member, size, f"{where}: {name}", exact)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError) as err:
        raise PackError(f"{where}: {name} is corrupted ({err}); download or pack the model again") from err


def _read_external(entry: Any, where: str) -> tuple[io.BytesIO, str]:
    """External weights: a regular file inside the archive's folder, checked against its recorded size."""
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
        raise PackError(f"{where}: {MANIFEST} names external {WEIGHTS} without a path")
    rel = entry["path"]
    if not rel or Path(rel).is_absolute() or os.pardir in Path(rel).parts:
        raise PackError(f"{where}: external {WEIGHTS} path {rel!r} must be relative to the archive's folder "
                        "and inside it")
    full = os.path.join(os.path.dirname(os.path.abspath(where)), rel)
    who = f"{where}: external {WEIGHTS} {full}"
    try:
        # O_NONBLOCK: a FIFO put in place of the weights is refused instead of blocking the open.
        fd = os.open(full, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as err:
        raise PackError(f"{who} cannot be opened ({err.strerror}); keep the weights file beside the "
                        "archive, as packed") from err
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise PackError(f"{who} is not a regular file")
        return _stream(f, entry["bytes"], who)


def _check_manifest(manifest: Any, where: str, cap: int) -> dict[str, Any]:
    """Format, version and the size records, checked before any member is read."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise PackError(f"{where}: {MANIFEST} does not describe an {FORMAT_NAME!r} archive")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        made_by = manifest.get("ssd_version", "an unknown version")
        raise PackError(
            f"{where}: packed detector format version {version!r} (written by ssd {made_by}); this ssd "
            f"reads format version {FORMAT_VERSION}. Load it with the ssd version that packed it, or "
            "repack the experiment with this version's ssd-pack."
        )
    files, external = manifest.get("files"), manifest.get("external", {})
    if not isinstance(files, dict) or not isinstance(external, dict):
        raise PackError(f"{where}: {MANIFEST}'s 'files' (and 'external') must map member names to checksums")
    if set(external) - {WEIGHTS}:
        raise PackError(f"{where}: {MANIFEST} names external members {sorted(set(external) - {WEIGHTS})}; "
                        f"only {WEIGHTS} may be external")
    if (WEIGHTS in files) == (WEIGHTS in external) or CONFIG not in files:
        raise PackError(f"{where}: {MANIFEST} must list {CONFIG} and {WEIGHTS} (in the archive or external), "
                        "each once, with their checksums")
    for name, entry in [*files.items(), *external.items()]:
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
            raise PackError(f"{where}: {MANIFEST} has no sha256 for {name}")
        size = entry.get("bytes")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise PackError(f"{where}: {MANIFEST} records no size in bytes for {name} (got {size!r})")
    side, total = 0, 0
    for name, entry in files.items():
        total += entry["bytes"]
        side += entry["bytes"] if name != WEIGHTS else 0
        if side > MAX_SIDE_BYTES:
            raise PackError(f"{where}: {name} brings the members other than {WEIGHTS} to {side} bytes, over "
                            f"the limit of {MAX_SIDE_BYTES}")
        if total > cap:
            raise PackError(
                f"{where}: {name} brings the archive's members to {total} bytes, over the limit of {cap}; "
                f"raise it with {MAX_ARCHIVE_ENV} for a model this large, or pack its weights externally"
            )
    return manifest


def _check_digest(digest: str, entry: dict[str, Any], where: str, name: str) -> None:
    if digest != entry["sha256"]:
        raise PackError(f"{where}: checksum mismatch for {name} (sha256 {digest[:16]}..., manifest says "
                        f"{entry['sha256'][:16]}...): the archive is corrupted or was modified")


def load_state_dict(source: BinaryIO, where: str) -> dict[str, torch.Tensor]:
    """Unpickle weights with the tensor-only loader; anything else (code, objects) is refused."""
    try:
        state = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError... for bad data
        raise PackError(
            f"{where}: refused to load {WEIGHTS}: it is not a plain tensor state_dict "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}). "
            "Packed weights are read with torch.load(weights_only=True) and never execute code."
        ) from err
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise PackError(f"{where}: {WEIGHTS} is not a mapping of parameter names to tensors")
    return state


def read_packed(path: str | os.PathLike, max_bytes: int | None = None) -> PackedModel:
    """Open a packed detector: check format, version, sizes and every checksum, then decode the members.

    ``max_bytes`` caps the members in the archive together (default: :func:`max_archive_bytes`).
    """
    where = str(path)
    cap = max_archive_bytes(max_bytes)
    if not os.path.isfile(path):
        raise PackError(f"{where}: no such file")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise PackError(f"{where}: not a readable zip archive ({err}); is the download complete?") from err
    with archive:
        raw_manifest, _ = _read_member(archive, MANIFEST, where, MAX_MANIFEST_BYTES, exact=False)
        try:
            manifest = json.loads(raw_manifest.getvalue().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise PackError(f"{where}: {MANIFEST} is not valid JSON ({err})") from err
        manifest = _check_manifest(manifest, where, cap)
        contents: dict[str, io.BytesIO] = {}
        for name, entry in manifest["files"].items():
            contents[name], digest = _read_member(archive, name, where, entry["bytes"])
            _check_digest(digest, entry, where, name)
    if WEIGHTS in manifest.get("external", {}):
        entry = manifest["external"][WEIGHTS]
        contents[WEIGHTS], digest = _read_external(entry, where)
        _check_digest(digest, entry, where, f"external {WEIGHTS} {entry['path']}")
    state_dict = load_state_dict(contents.pop(WEIGHTS), where)
    try:
        config = yaml.safe_load(contents.pop(CONFIG).getvalue().decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as err:
        raise PackError(f"{where}: {CONFIG} is not valid yaml ({err})") from err
    if not isinstance(config, dict):
        raise PackError(f"{where}: {CONFIG} is not a mapping")
    readme = contents.pop(README, io.BytesIO()).getvalue().decode("utf-8", "replace")
    return PackedModel(manifest, config, state_dict, readme,
                       {name: data.getvalue() for name, data in contents.items()}, where)

"""Bounded model archives (issue 11, finding 4): what a packed detector may make a loader read.

The archives are real zip files, written by hand where a hostile one lies in its headers. The bombs are
1 GiB of zeros per member (about 1 MB deflated) with the correct sha256 in the manifest, so only the
size rules stand between them and memory; their time and peak memory are measured in a fresh process.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import sys
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from ssd.packing.archive import (
    CONFIG,
    FORMAT_VERSION,
    MANIFEST,
    MAX_ARCHIVE_ENV,
    MAX_SIDE_BYTES,
    README,
    WEIGHTS,
    PackError,
    read_packed,
    sha256_hex,
    write_packed,
)

GIB = 1 << 30
STATE = {"backbone.fc.weight": torch.arange(12.0).reshape(3, 4), "cm_loss.center": torch.ones(4)}
# Reads every archive named on the command line in one process; prints time, outcome and peak memory.
MEASURE = r"""
import json, resource, sys, time
from ssd.packing import PackError, read_packed
read_packed(sys.argv[1])  # the clean archive: torch.load's lazy imports are in the baseline
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
cases = []
for path in sys.argv[2:]:
    start = time.perf_counter()
    try:
        read_packed(path)
        error = None
    except PackError as err:
        error = str(err)
    cases.append({"archive": path, "seconds": time.perf_counter() - start, "error": error})
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"extra_peak_mb": (peak - baseline) / 1024, "cases": cases}))
"""


@dataclass(frozen=True)
class Member:
    """One zip member as written on disk: the headers' CRC and size may lie about the data."""

    name: str
    data: bytes
    crc: int
    size: int
    method: int = zipfile.ZIP_DEFLATED


def deflated(name: str, content: bytes) -> Member:
    co = zlib.compressobj(6, zlib.DEFLATED, -15)
    return Member(name, co.compress(content) + co.flush(), zlib.crc32(content), len(content))


def write_zip(path: Path, members: list[Member]) -> Path:
    """A zip archive written byte by byte (local headers, central directory, end record): no zip64."""
    body, central = bytearray(), bytearray()
    for m in members:
        name = m.name.encode()
        fields = (m.method, 0, 0x21, m.crc, len(m.data), m.size, len(name), 0)  # date 0x21: 1980-01-01
        central += struct.pack("<IHHH", 0x02014B50, 20, 20, 0) + struct.pack("<HHHIIIHH", *fields) \
            + struct.pack("<HHHII", 0, 0, 0, 0, len(body)) + name
        body += struct.pack("<IHH", 0x04034B50, 20, 0) + struct.pack("<HHHIIIHH", *fields) + name + m.data
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), len(body), 0)
    path.write_bytes(bytes(body + central + end))
    return path


@dataclass(frozen=True)
class Zeros:
    """1 GiB of zeros, deflated without ever holding it: identical blocks after each full flush."""

    data: bytes
    crc: int
    sha256: str

    def member(self, name: str, claimed_size: int = GIB) -> Member:
        return Member(name, self.data, self.crc, claimed_size)


@pytest.fixture(scope="module")
def zeros() -> Zeros:
    mib = bytes(1 << 20)
    co = zlib.compressobj(6, zlib.DEFLATED, -15)
    block = co.compress(mib) + co.flush(zlib.Z_FULL_FLUSH)
    end = co.flush()
    assert zlib.decompress(block * 2 + end, -15) == mib * 2  # the blocks chain into one valid stream
    data = block * 1024 + end
    digest, crc = hashlib.sha256(), 0
    for _ in range(1024):
        digest.update(mib)
        crc = zlib.crc32(mib, crc)
    return Zeros(data, crc, digest.hexdigest())


@pytest.fixture
def clean(tmp_path: Path) -> Path:
    path = tmp_path / "clean.zip"
    write_packed(path, {"tag": "tiny"}, STATE, {"model": {"input_length": 4}}, "# tiny\n",
                 {"RESULTS.md": b"# results\n"})
    return path


def members_of(archive: Path) -> tuple[dict, list[Member]]:
    """The manifest and the other members of a packed archive, as deflated members to rewrite."""
    with zipfile.ZipFile(archive) as z:
        manifest = json.loads(z.read(MANIFEST))
        return manifest, [deflated(n, z.read(n)) for n in z.namelist() if n != MANIFEST]


def rebuild(path: Path, manifest: dict, members: list[Member]) -> Path:
    return write_zip(path, [deflated(MANIFEST, json.dumps(manifest).encode()), *members])


def measure(clean: Path, archives: list[Path]) -> dict:
    done = subprocess.run([sys.executable, "-c", MEASURE, str(clean), *map(str, archives)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_bombs_are_refused_fast_and_lean(clean: Path, zeros: Zeros, tmp_path: Path) -> None:
    manifest, members = members_of(clean)
    pads = [f"pad{i}.bin" for i in (1, 2, 3)]
    # Three listed 1 GiB members, correct sha256, sizes recorded as they are: too big for side members.
    honest = {**manifest, "files": {**manifest["files"], **{p: {"sha256": zeros.sha256, "bytes": GIB}
                                                             for p in pads}}}
    honest_zip = rebuild(tmp_path / "honest.zip", honest, [*members, *map(zeros.member, pads)])
    # The same with sizes recorded small: each member is cut off just past its record.
    lying = {**manifest, "files": {**manifest["files"], **{p: {"sha256": zeros.sha256, "bytes": 1000}
                                                            for p in pads}}}
    lying_zip = rebuild(tmp_path / "lying.zip", lying, [*members, *map(zeros.member, pads)])
    # Zip headers that claim 10 bytes for 1 GiB of deflate data (their CRC is the whole member's).
    tiny = {**manifest, "files": {**manifest["files"], "pad1.bin": {"sha256": zeros.sha256, "bytes": 10}}}
    header_zip = rebuild(tmp_path / "header.zip", tiny, [*members, zeros.member("pad1.bin", 10)])
    # 1 GiB in a member the manifest does not list: never read, the archive loads.
    unlisted_zip = rebuild(tmp_path / "unlisted.zip", manifest, [*members, zeros.member("pad1.bin")])
    for archive in (honest_zip, lying_zip, header_zip, unlisted_zip):
        assert archive.stat().st_size < 5_000_000

    report = measure(clean, [honest_zip, lying_zip, header_zip, unlisted_zip])
    errors = [case["error"] for case in report["cases"]]
    assert errors[0] == (f"{honest_zip}: pad1.bin brings the members other than {WEIGHTS} to "
                         f"{GIB + sum(e['bytes'] for n, e in manifest['files'].items() if n != WEIGHTS)} "
                         f"bytes, over the limit of {MAX_SIDE_BYTES}")
    assert errors[1].startswith(f"{lying_zip}: pad1.bin holds more than the 1000 bytes the manifest records")
    assert errors[2].startswith(f"{header_zip}: pad1.bin is corrupted (Bad CRC-32")
    assert errors[3] is None
    assert all(case["seconds"] < 1.0 for case in report["cases"]), report
    assert report["extra_peak_mb"] < 100, report


@pytest.fixture
def parts(clean: Path) -> tuple[dict, dict[str, bytes]]:
    with zipfile.ZipFile(clean) as z:
        return json.loads(z.read(MANIFEST)), {n: z.read(n) for n in z.namelist() if n != MANIFEST}


def repack(path: Path, manifest: dict, contents: dict[str, bytes],
           compression: dict[str, int] | None = None) -> Path:
    """An archive of ``contents`` under ``manifest``, written by zipfile (headers tell the truth)."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(MANIFEST, json.dumps(manifest))
        for name, data in contents.items():
            z.writestr(name, data, (compression or {}).get(name, zipfile.ZIP_DEFLATED))
    return path


def test_a_member_longer_or_shorter_than_recorded_is_refused(parts: tuple, tmp_path: Path) -> None:
    manifest, contents = parts
    longer = {**contents, README: contents[README] + b"x" * 5000}
    with pytest.raises(PackError, match=rf"longer.zip: {README} holds more than the 7 bytes the manifest "
                                        r"records for it \(stopped reading at 5007\)"):
        read_packed(repack(tmp_path / "longer.zip", manifest, longer))
    shorter = {**contents, CONFIG: contents[CONFIG][:-3]}
    size = len(contents[CONFIG])
    with pytest.raises(PackError, match=rf"shorter.zip: {CONFIG} is {size - 3} bytes, the manifest records "
                                        rf"{size}: the archive is truncated"):
        read_packed(repack(tmp_path / "shorter.zip", manifest, shorter))


def test_size_records_are_required(parts: tuple, tmp_path: Path) -> None:
    manifest, contents = parts
    for bad in (None, -1, "12", True):
        files = {**manifest["files"], CONFIG: {"sha256": manifest["files"][CONFIG]["sha256"]}}
        if bad is not None:
            files[CONFIG]["bytes"] = bad
        with pytest.raises(PackError, match=rf"records no size in bytes for {CONFIG} \(got {bad!r}\)"):
            read_packed(repack(tmp_path / "nosize.zip", {**manifest, "files": files}, contents))


def test_only_stored_and_deflated_members_are_read(parts: tuple, tmp_path: Path) -> None:
    manifest, contents = parts
    archive = repack(tmp_path / "lzma.zip", manifest, contents, {README: zipfile.ZIP_LZMA})
    with pytest.raises(PackError, match=f"lzma.zip: {README} uses zip compression method 14; packed "
                                        "detectors use only stored or deflated"):
        read_packed(archive)


def test_the_global_cap(clean: Path, parts: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest, _ = parts
    total = sum(entry["bytes"] for entry in manifest["files"].values())
    assert read_packed(clean, max_bytes=total).state_dict.keys() == STATE.keys()
    last = list(manifest["files"])[-1]
    message = rf"clean.zip: {last} brings the archive's members to {total} bytes, over the limit of " \
              rf"{total - 1}"
    with pytest.raises(PackError, match=message):
        read_packed(clean, max_bytes=total - 1)
    monkeypatch.setenv(MAX_ARCHIVE_ENV, str(total - 1))
    with pytest.raises(PackError, match=message + f"; raise it with {MAX_ARCHIVE_ENV}"):
        read_packed(clean)
    assert read_packed(clean, max_bytes=total).manifest["tag"] == "tiny"  # the keyword wins
    monkeypatch.setenv(MAX_ARCHIVE_ENV, "4G")
    with pytest.raises(PackError, match=f"{MAX_ARCHIVE_ENV}='4G' is not a whole number of bytes"):
        read_packed(clean)
    monkeypatch.setenv(MAX_ARCHIVE_ENV, "0")
    with pytest.raises(PackError, match=f"{MAX_ARCHIVE_ENV}='0' must be a positive whole number"):
        read_packed(clean)


def test_manifest_has_its_own_cap(parts: tuple, tmp_path: Path) -> None:
    manifest, contents = parts
    huge = {**manifest, "comment": "x" * (1 << 20)}
    with pytest.raises(PackError, match=f"{MANIFEST} is over the limit of {1 << 20} bytes"):
        read_packed(repack(tmp_path / "big_manifest.zip", huge, contents))


def test_format_versions(parts: tuple, tmp_path: Path) -> None:
    manifest, contents = parts
    later = {**manifest, "format_version": FORMAT_VERSION + 1, "ssd_version": "9.0"}
    with pytest.raises(PackError, match=rf"format version {FORMAT_VERSION + 1} \(written by ssd 9.0\); this "
                                        rf"ssd reads format version {FORMAT_VERSION}"):
        read_packed(repack(tmp_path / "later.zip", later, contents))
    # Fields a later ssd adds within this version are kept and ignored.
    added = {**manifest, "calibration": {"kind": "platt"}}
    assert read_packed(repack(tmp_path / "added.zip", added, contents)).manifest["calibration"] == {
        "kind": "platt"}


# --- external weights ------------------------------------------------------------------------------

def external_model(folder: Path) -> tuple[Path, Path]:
    archive, weights = folder / "model.zip", folder / "weights" / "model.weights.pt"
    weights.parent.mkdir(parents=True)
    stored = write_packed(archive, {"tag": "big"}, STATE, {"model": {}}, "# big\n", external_weights=weights)
    assert stored["external"][WEIGHTS] == {"path": "weights/model.weights.pt", "sha256": sha256_hex(
        weights.read_bytes()), "bytes": weights.stat().st_size}
    return archive, weights


def test_external_weights_load_from_the_archive_folder(tmp_path: Path) -> None:
    archive, weights = external_model(tmp_path / "a")
    with zipfile.ZipFile(archive) as z:
        assert WEIGHTS not in z.namelist()
    size, moved = weights.stat().st_size, tmp_path / "b"
    (tmp_path / "a").rename(moved)  # the pair moves together
    packed = read_packed(moved / "model.zip", max_bytes=size // 2)  # external weights: not under the cap
    assert all(torch.equal(packed.state_dict[k], v) for k, v in STATE.items())
    assert packed.manifest["external"][WEIGHTS]["path"] == "weights/model.weights.pt"


def test_bad_external_weights_are_refused(tmp_path: Path) -> None:
    archive, weights = external_model(tmp_path)
    good = weights.read_bytes()
    where = f"{archive}: external {WEIGHTS} {weights}"

    weights.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    with pytest.raises(PackError, match=f"checksum mismatch for external {WEIGHTS} weights/model.weights.pt"):
        read_packed(archive)
    weights.write_bytes(good + b"\0")
    with pytest.raises(PackError, match=f"{where} holds more than the {len(good)} bytes"):
        read_packed(archive)
    weights.write_bytes(good[:100])
    with pytest.raises(PackError, match=f"{where} is 100 bytes, the manifest records {len(good)}"):
        read_packed(archive)
    weights.unlink()
    with pytest.raises(PackError, match=f"{where} cannot be opened \\(No such file or directory\\)"):
        read_packed(archive)
    os.mkfifo(weights)  # a FIFO would block a plain open() forever
    with pytest.raises(PackError, match=f"{where} is not a regular file"):
        read_packed(archive)


def test_external_paths_stay_in_the_archive_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must be in the folder of the archive"):
        write_packed(tmp_path / "m" / "model.zip", {}, STATE, {}, "", external_weights=tmp_path / "w.pt")
    archive, _ = external_model(tmp_path / "m")
    with zipfile.ZipFile(archive) as z:
        manifest = json.loads(z.read(MANIFEST))
        contents = {n: z.read(n) for n in z.namelist() if n != MANIFEST}
    for path in ("../w.pt", "/etc/passwd", ""):
        manifest["external"][WEIGHTS]["path"] = path
        with pytest.raises(PackError, match=f"external {WEIGHTS} path {path!r} must be relative"):
            read_packed(repack(tmp_path / "m" / "escape.zip", manifest, contents))
    manifest["files"][WEIGHTS] = manifest["external"][WEIGHTS]
    with pytest.raises(PackError, match=f"must list {CONFIG} and {WEIGHTS} .* each once"):
        read_packed(repack(tmp_path / "m" / "twice.zip", manifest, contents))

"""Encode and decode a waveform through real codecs, the way a telephone line or a media upload would.

One module serves the codec stand-ins of the ASVspoof 2021 LA/DF recipes and, later, codec
augmentation. Every codec is a real encoder/decoder pair from a Debian package (sox, opus-tools, lame,
ffmpeg, vorbis-tools) or the ``G722`` Python package, run as a subprocess without a shell, on temp
files, under a time-out. A codec whose programs are missing is simply unavailable: ``missing(name)``
says which package to install, and ``round_trip`` raises ``CodecUnavailable`` with that text.

The round trip returns float64 samples at the input rate and of the input length. Telephony codecs
run at their own rate (8 kHz for G.711 and GSM, 16 kHz for G.722), reached by polyphase resampling
as in the mini corpus. The decoders used compensate the encoder delay themselves (opusdec the
pre-skip, oggdec the Vorbis granule positions, ffmpeg the mp4 edit list, lame its gapless tag);
the two fixed delays left (G.722's filter banks, an mp3 too small to carry the gapless tag) are
removed here. The output is thus time-aligned with the input (Opus to within a sample, from its
internal 48 kHz resampling) and trimmed or zero-padded at the end. It is deterministic: no dither
anywhere (``sox -D``, ``opusdec --float``), fixed Ogg serial numbers, single-threaded ffmpeg.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

DEFAULT_TIMEOUT_S = 120.0  # per subprocess: generous for a few minutes of audio on a slow core
# G.722's two QMF banks (analysis and synthesis) delay the signal by 22 samples at 16 kHz.
G722_DELAY = 22
# An mp3 without the LAME gapless tag (lame omits it when a frame is too small to hold it, e.g.
# 32 kbit/s at 16 kHz) decodes late by lame's encoder delay; lame's decoder removes its own.
MP3_UNTAGGED_DELAY = 576


class CodecUnavailable(RuntimeError):
    """The programs (or Python package) a codec needs are not installed; the message names them."""


class CodecError(RuntimeError):
    """An encoder or decoder failed, timed out or produced nothing; the message has its stderr."""


# A codec's work: (int16 samples at the codec rate, that rate, bit rate or None, temp dir, time-out)
# -> decoded samples (float, at the codec rate).
_Runner = Callable[[np.ndarray, int, int | None, Path, float], np.ndarray]


@dataclass(frozen=True)
class Codec:
    """A codec the round trip knows: where it comes from, at what rate and bit rates it runs."""

    name: str
    description: str
    package: str  # what to install: a Debian package, or "pip install ..." for Python ones
    programs: tuple[str, ...]  # executables that must be on PATH (none for Python codecs)
    rate: int | None  # sampling rate the codec runs at; None: the input's rate
    bitrates: tuple[int, int] | None  # allowed range of bit rates in bit/s; None: a fixed-rate codec
    default_bitrate: int | None
    run: _Runner
    module: str | None = None  # Python module that must import, for Python codecs


def _run(cmd: list[str], timeout_s: float) -> None:
    """Run one codec program; a failure names the command and carries its stderr."""
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s,
                              check=False)
    except subprocess.TimeoutExpired:
        raise CodecError(f"{cmd[0]} timed out after {timeout_s:g} s: {' '.join(cmd)}") from None
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip()[-800:]
        raise CodecError(f"{cmd[0]} exited with status {proc.returncode}: {' '.join(cmd)}\n{tail}")


def _write_wav(path: Path, pcm: np.ndarray, fs: int) -> Path:
    sf.write(path, pcm, fs, format="WAV", subtype="PCM_16")
    return path


def _read(path: Path, what: str) -> np.ndarray:
    if not path.exists() or path.stat().st_size == 0:
        raise CodecError(f"{what} wrote no audio to {path}")
    y, _ = sf.read(path, dtype="float64", always_2d=True)
    return y[:, 0]


def _sox_g711(encoding: str) -> _Runner:
    """G.711 through sox: encode into an 8-bit companded WAV, decode back to 16-bit PCM."""

    def run(pcm: np.ndarray, fs: int, bitrate: int | None, tmp: Path, timeout_s: float) -> np.ndarray:
        src = _write_wav(tmp / "in.wav", pcm, fs)
        coded, out = tmp / "coded.wav", tmp / "out.wav"
        _run(["sox", "-D", "-V1", str(src), "-e", encoding, "-b", "8", str(coded)], timeout_s)
        _run(["sox", "-D", "-V1", str(coded), "-e", "signed-integer", "-b", "16", str(out)], timeout_s)
        return _read(out, "sox")

    return run


def _sox_gsm(pcm: np.ndarray, fs: int, bitrate: int | None, tmp: Path, timeout_s: float) -> np.ndarray:
    """GSM 06.10 full rate through sox's raw ``.gsm`` format (8 kHz mono, 160-sample frames)."""
    src = _write_wav(tmp / "in.wav", pcm, fs)
    coded, out = tmp / "coded.gsm", tmp / "out.wav"
    _run(["sox", "-D", "-V1", str(src), str(coded)], timeout_s)
    _run(["sox", "-D", "-V1", "-r", str(fs), str(coded), "-e", "signed-integer", "-b", "16", str(out)],
         timeout_s)
    return _read(out, "sox")


def _g722(pcm: np.ndarray, fs: int, bitrate: int | None, tmp: Path, timeout_s: float) -> np.ndarray:
    """G.722 sub-band ADPCM through the ``G722`` package (fresh encoder and decoder states)."""
    from G722 import G722

    coded = G722(fs, bitrate).encode(np.ascontiguousarray(pcm, dtype=np.int16))
    decoded = np.asarray(G722(fs, bitrate).decode(coded), dtype=np.float64) / 32768.0
    return decoded[G722_DELAY:]


def _opus(pcm: np.ndarray, fs: int, bitrate: int | None, tmp: Path, timeout_s: float) -> np.ndarray:
    """Opus (VoIP tuning, constant bit rate) through opusenc/opusdec; float output, so no dither."""
    src = _write_wav(tmp / "in.wav", pcm, fs)
    coded, out = tmp / "coded.opus", tmp / "out.wav"
    _run(["opusenc", "--quiet", "--hard-cbr", "--bitrate", f"{bitrate / 1000:g}", "--serial", "1",
          str(src), str(coded)], timeout_s)
    _run(["opusdec", "--quiet", "--float", "--rate", str(fs), str(coded), str(out)], timeout_s)
    return _read(out, "opusdec")


def _aac(pcm: np.ndarray, fs: int, bitrate: int | None, tmp: Path, timeout_s: float) -> np.ndarray:
    """AAC-LC in an mp4 container through ffmpeg's own encoder and decoder (bit-exact mode)."""
    src = _write_wav(tmp / "in.wav", pcm, fs)
    coded, out = tmp / "coded.m4a", tmp / "out.wav"
    base = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "1", "-y"]
    _run([*base, "-i", str(src), "-c:a", "aac", "-b:a", str(bitrate), "-fflags", "+bitexact",
          "-flags:a", "+bitexact", str(coded)], timeout_s)
    _run([*base, "-i", str(coded), "-ar", str(fs), "-c:a", "pcm_s16le", str(out)], timeout_s)
    return _read(out, "ffmpeg")


def _lame(pcm: np.ndarray, fs: int, bitrate: int | None, tmp: Path, timeout_s: float) -> np.ndarray:
    """MP3 (constant bit rate) through lame, whose decoder honours the gapless tag it writes.

    With the tag the decoded length is exactly the input's; without it, the known delay is removed.
    """
    src = _write_wav(tmp / "in.wav", pcm, fs)
    coded, out = tmp / "coded.mp3", tmp / "out.wav"
    _run(["lame", "--quiet", "--cbr", "-b", str(bitrate // 1000), "--resample", f"{fs / 1000:g}",
          str(src), str(coded)], timeout_s)
    _run(["lame", "--quiet", "--decode", str(coded), str(out)], timeout_s)
    y = _read(out, "lame")
    return y if y.size == pcm.size else y[MP3_UNTAGGED_DELAY:]


def _vorbis(pcm: np.ndarray, fs: int, bitrate: int | None, tmp: Path, timeout_s: float) -> np.ndarray:
    """Ogg Vorbis at a nominal bit rate through oggenc/oggdec."""
    src = _write_wav(tmp / "in.wav", pcm, fs)
    coded, out = tmp / "coded.ogg", tmp / "out.wav"
    _run(["oggenc", "--quiet", "--serial", "1", "-b", str(bitrate // 1000), "-o", str(coded), str(src)],
         timeout_s)
    _run(["oggdec", "--quiet", "-o", str(out), str(coded)], timeout_s)
    return _read(out, "oggdec")


CODECS: dict[str, Codec] = {c.name: c for c in (
    Codec("ulaw", "G.711 mu-law, 8 kHz", "sox", ("sox",), 8000, None, None, _sox_g711("mu-law")),
    Codec("alaw", "G.711 A-law, 8 kHz", "sox", ("sox",), 8000, None, None, _sox_g711("a-law")),
    Codec("gsm", "GSM 06.10 full rate, 8 kHz, 13 kbit/s", "sox", ("sox",), 8000, None,
          None, _sox_gsm),
    Codec("g722", "G.722 sub-band ADPCM, 16 kHz", "pip install G722 (the ssd[corpus] extra)", (), 16000,
          (48000, 64000), 64000, _g722, module="G722"),
    Codec("opus", "Opus (libopus), constant bit rate", "opus-tools", ("opusenc", "opusdec"), None,
          (6000, 256000), 16000, _opus),
    Codec("mp3", "MPEG-1/2 layer III (lame), constant bit rate", "lame", ("lame",), None,
          (8000, 320000), 64000, _lame),
    Codec("m4a", "AAC-LC in an mp4 container (ffmpeg's encoder)", "ffmpeg", ("ffmpeg",), None,
          (8000, 256000), 64000, _aac),
    Codec("ogg", "Ogg Vorbis (libvorbis), nominal bit rate", "vorbis-tools", ("oggenc", "oggdec"), None,
          (16000, 320000), 64000, _vorbis),
)}
G722_BITRATES = (48000, 56000, 64000)


def get(name: str) -> Codec:
    """The codec called ``name``; an unknown name lists the known ones."""
    try:
        return CODECS[name]
    except KeyError:
        raise ValueError(f"unknown codec {name!r}; known: {', '.join(CODECS)}") from None


def missing(name: str) -> str | None:
    """Why codec ``name`` cannot run here (naming the package to install), or None when it can."""
    codec = get(name)
    absent = [p for p in codec.programs if shutil.which(p) is None]
    if codec.module is not None and importlib.util.find_spec(codec.module) is None:
        absent.append(f"Python module {codec.module}")
    if not absent:
        return None
    return f"codec {name} needs {', '.join(absent)}: install {codec.package}"


def available() -> list[str]:
    """Names of the codecs that can run on this machine."""
    return [name for name in CODECS if missing(name) is None]


def _check_bitrate(codec: Codec, bitrate: int | None) -> int | None:
    if codec.bitrates is None:
        if bitrate is not None:
            raise ValueError(f"codec {codec.name} has a fixed bit rate; do not give one (got {bitrate})")
        return None
    bitrate = codec.default_bitrate if bitrate is None else int(bitrate)
    low, high = codec.bitrates
    if not low <= bitrate <= high:
        raise ValueError(f"codec {codec.name}: bit rate {bitrate} bit/s is outside {low}..{high}")
    if codec.name == "g722" and bitrate not in G722_BITRATES:
        raise ValueError(f"codec g722 runs at {', '.join(map(str, G722_BITRATES))} bit/s, not {bitrate}")
    return bitrate


def _resample(x: np.ndarray, fs: int, target_fs: int) -> np.ndarray:
    if fs == target_fs:
        return x
    g = gcd(fs, target_fs)
    return resample_poly(x, target_fs // g, fs // g)


def _to_pcm16(x: np.ndarray) -> np.ndarray:
    """Quantise to int16 with clipping (codecs take 16-bit PCM, as files on disk hold)."""
    return np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16)


def _fit(y: np.ndarray, n: int) -> np.ndarray:
    """Trim or zero-pad the end so that the output has the input's length."""
    if y.size >= n:
        return y[:n]
    return np.concatenate([y, np.zeros(n - y.size)])


def round_trip(x: np.ndarray, fs: int, codec: str, bitrate: int | None = None,
               timeout_s: float = DEFAULT_TIMEOUT_S) -> np.ndarray:
    """Encode and decode mono audio ``x`` (float in [-1, 1)) through ``codec`` at ``bitrate`` bit/s.

    Returns float64 samples at ``fs`` with ``len(x)`` samples. Raises ``CodecUnavailable`` when the
    codec's programs are missing, ``CodecError`` when one of them fails or times out, ``ValueError``
    for bad input (not 1-D, empty, not finite) or a bit rate the codec does not support.
    """
    spec = get(codec)
    bitrate = _check_bitrate(spec, bitrate)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"codec {codec}: expected non-empty mono audio, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"codec {codec}: the audio holds NaN or infinite samples")
    if int(fs) != fs or fs <= 0:
        raise ValueError(f"codec {codec}: bad sampling rate {fs}")
    fs = int(fs)
    reason = missing(codec)
    if reason:
        raise CodecUnavailable(reason)
    rate = spec.rate or fs
    pcm = _to_pcm16(_resample(x, fs, rate))
    with tempfile.TemporaryDirectory(prefix=f"ssd-codec-{codec}-") as tmp:
        y = spec.run(pcm, rate, bitrate, Path(tmp), timeout_s)
    if y.size == 0:
        raise CodecError(f"codec {codec} decoded no samples")
    return _fit(_resample(y, rate, fs), x.size)


def chain(x: np.ndarray, fs: int, steps: list[tuple[str, int | None]],
          timeout_s: float = DEFAULT_TIMEOUT_S) -> np.ndarray:
    """Apply round trips one after another, e.g. ``[("mp3", 64000), ("m4a", 32000)]`` (transcoding)."""
    if not steps:
        raise ValueError("a codec chain needs at least one step")
    y = np.asarray(x, dtype=np.float64)
    for name, bitrate in steps:
        y = round_trip(y, fs, name, bitrate, timeout_s)
    return y

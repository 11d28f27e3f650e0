"""Bona fide source recordings: Debian's Asterisk core prompts (G.722, 16 kHz) and their transcripts.

Each voice lives in ``/usr/share/asterisk/sounds/<lang>_<REGION>_<sex>_<Name>/`` (the short names
``en``, ``en_US``, ... are symlinks to these). The voice's name is the speaker: en_US and es_MX are both
read by Allison Smith, so they form one speaker in two languages. Transcripts come from the matching
non-G.722 package (``/usr/share/doc/asterisk-core-sounds-<lang>/core-sounds-<lang>.txt.gz``); prompts
without a transcript, or whose transcript is a bracketed description such as ``[ascending tones]``,
are not speech and are never used.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from G722 import G722

SOUNDS_ROOT = Path("/usr/share/asterisk/sounds")
TRANSCRIPT_ROOT = Path("/usr/share/doc")
LANGUAGES = ("en", "es", "fr", "it", "ru")
SOURCE_FS = 16000
G722_BITRATE = 64000
INSTALL_COMMAND = "apt-get install -y " + " ".join(
    f"asterisk-core-sounds-{lang} asterisk-core-sounds-{lang}-g722" for lang in LANGUAGES
)
# Who recorded each language and under which licence (Debian's copyright file of the packages).
CREDITS = {
    "en": ("Allison Smith", "CC-BY-SA-3.0"),
    "es": ("Allison Smith", "CC-BY-SA-3.0"),
    "fr": ("June Wallack", "CC-BY-SA-3.0"),
    "it": ("Carlo Flora", "CC-BY-3.0"),
    "ru": ("Maxim Topal, ivrvoice.ru", "CC-BY-3.0"),
}
# Prompts a profile may use are 1-6 s long (find_recordings' defaults).
PROMPT_SECONDS = (1.0, 6.0)
# Prompts of 1.5-12 s that no profile may use, per voice folder (5 x 90 = 450): held-out test material.
HELD_OUT_PER_VOICE = 90
HELD_OUT_SECONDS = (1.5, 12.0)
# <lang>_<REGION>_<sex>_<Name>, e.g. en_US_f_Allison, it_IT_m_Carlo.
VOICE_DIR = re.compile(r"^(?P<lang>[a-z]{2})_(?P<region>[A-Z]{2})_(?P<sex>[fm])_(?P<name>\w+)$")


class SourcesMissingError(RuntimeError):
    """The Asterisk prompts are not installed; the message carries the install command."""


@dataclass(frozen=True)
class Recording:
    """One prompt: where it is, who reads it, in which language, what it says and how long it is."""

    path: Path
    name: str
    voice: str
    speaker: str
    lang: str
    sex: str
    text: str
    num_samples: int

    @property
    def duration(self) -> float:
        return self.num_samples / SOURCE_FS


def decode_g722(path: str | os.PathLike) -> np.ndarray:
    """Decode a raw G.722 (64 kbit/s) file to float64 samples in [-1, 1] at 16 kHz."""
    data = Path(path).read_bytes()
    if not data:
        raise ValueError(f"{path}: empty G.722 file")
    pcm = np.asarray(G722(SOURCE_FS, G722_BITRATE).decode(data), dtype=np.float64)
    return pcm / 32768.0


def read_transcripts(path: str | os.PathLike) -> dict[str, str]:
    """Parse a ``core-sounds-<lang>.txt(.gz)`` file: ``name: text`` lines, ``;`` comments."""
    path = Path(path)
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        content = raw.decode("latin-1")
    table: dict[str, str] = {}
    for line in content.splitlines():
        line = line.strip()
        if not line or line.startswith(";"):
            continue
        name, sep, text = line.partition(":")
        if sep and name.strip() and text.strip():
            table[name.strip()] = " ".join(text.split())
    return table


def is_speech(text: str) -> bool:
    """False for transcripts that describe non-speech or contain bracketed annotations."""
    return "[" not in text and any(ch.isalpha() for ch in text)


def voice_dirs(root: Path = SOUNDS_ROOT) -> list[Path]:
    """The real (non-symlink) voice folders under the Asterisk sounds root, sorted by name."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink() and VOICE_DIR.match(p.name))


def find_recordings(root: Path = SOUNDS_ROOT, transcript_root: Path = TRANSCRIPT_ROOT,
                    min_seconds: float = PROMPT_SECONDS[0], max_seconds: float = PROMPT_SECONDS[1]
                    ) -> list[Recording]:
    """All speech prompts of every installed voice between ``min_seconds`` and ``max_seconds`` long.

    Duration comes from the file size (G.722 at 64 kbit/s is 4 bits per 16 kHz sample), so nothing
    is decoded here. Raises SourcesMissingError with the apt-get command when no voice is installed.
    """
    dirs = voice_dirs(root)
    found_langs = {VOICE_DIR.match(d.name)["lang"] for d in dirs}
    missing = [lang for lang in LANGUAGES if lang not in found_langs]
    if missing:
        raise SourcesMissingError(
            f"the mini corpus needs the Asterisk prompts in {', '.join(missing)} under {root}; "
            f"install them with: {INSTALL_COMMAND}"
        )
    recordings = []
    for voice in dirs:
        m = VOICE_DIR.match(voice.name)
        lang = m["lang"]
        transcript_file = transcript_root / f"asterisk-core-sounds-{lang}" / f"core-sounds-{lang}.txt.gz"
        if not transcript_file.exists():
            raise SourcesMissingError(f"{transcript_file} is missing (transcripts of {voice.name}); "
                                      f"install them with: {INSTALL_COMMAND}")
        transcripts = read_transcripts(transcript_file)
        for path in sorted(voice.rglob("*.g722")):
            name = path.relative_to(voice).with_suffix("").as_posix()
            text = transcripts.get(name)
            num_samples = 2 * path.stat().st_size
            if (text is None or not is_speech(text) or name.startswith("silence/")
                    or not min_seconds * SOURCE_FS <= num_samples <= max_seconds * SOURCE_FS):
                continue
            recordings.append(Recording(path=path, name=name, voice=voice.name, speaker=m["name"], lang=lang,
                                        sex=m["sex"], text=text, num_samples=num_samples))
    return recordings


def held_out(recordings: list[Recording]) -> list[Recording]:
    """The reserved prompts: per voice folder, the HELD_OUT_PER_VOICE of 1.5-12 s first by a hash of
    their name, so the choice depends on nothing but the prompt set (no seed, no profile)."""
    lo, hi = HELD_OUT_SECONDS
    chosen = []
    for voice in sorted({r.voice for r in recordings}):
        eligible = [r for r in recordings
                    if r.voice == voice and lo * SOURCE_FS <= r.num_samples <= hi * SOURCE_FS]
        eligible.sort(key=lambda r: hashlib.sha256(f"{r.voice}/{r.name}".encode()).hexdigest())
        chosen += eligible[:HELD_OUT_PER_VOICE]
    return chosen

"""Offline text-to-speech engines run as subprocesses: flite, espeak-ng and festival.

They read the transcript of a real prompt, so the spoof says the same words as a bona fide recording.
Each engine reports what it lacks (binary or voice, with the Debian package that provides it) so the
corpus builder can skip it with a warning instead of failing.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

FESTIVAL_VOICE_DIR = Path("/usr/share/festival/voices/english/kal_diphone")
# espeak-ng voice per prompt language (es_MX and fr_CA map to the closest voices espeak-ng ships).
ESPEAK_VOICES = {"en": "en-us", "es": "es-419", "fr": "fr-fr", "it": "it", "ru": "ru"}
ESPEAK_VARIANTS = {"f": "f3", "m": "m3"}


def missing_binary(binary: str, package: str) -> str | None:
    """None when ``binary`` is on PATH, else why not and how to install it."""
    if shutil.which(binary) is None:
        return f"'{binary}' is not on PATH (apt-get install -y {package})"
    return None


def _run(cmd: list[str], what: str) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{what}: {' '.join(cmd)} exited with {result.returncode}: "
                           f"{result.stderr.strip()}")


def _read_wav(path: Path, what: str) -> tuple[np.ndarray, int]:
    if not path.exists() or path.stat().st_size == 0:
        raise RuntimeError(f"{what}: the engine wrote no audio to {path}")
    audio, fs = sf.read(path, dtype="float64", always_2d=True)
    if audio.shape[0] == 0:
        raise RuntimeError(f"{what}: the engine produced an empty waveform")
    return audio.mean(axis=1), int(fs)


def flite(text: str, voice: str = "slt") -> tuple[np.ndarray, int]:
    """Synthesise ``text`` with a flite voice (slt: CLUSTERGEN statistical parametric, 16 kHz)."""
    with tempfile.TemporaryDirectory(prefix="ssd-flite-") as tmp:
        text_file, wav = Path(tmp) / "text.txt", Path(tmp) / "out.wav"
        text_file.write_text(text + "\n", encoding="utf-8")
        _run(["flite", "-voice", voice, "-f", str(text_file), "-o", str(wav)], f"flite on {text!r}")
        return _read_wav(wav, f"flite on {text!r}")


def espeak(text: str, lang: str, sex: str) -> tuple[np.ndarray, int]:
    """Synthesise ``text`` with espeak-ng's formant synthesiser in the prompt's language."""
    voice = f"{ESPEAK_VOICES[lang]}+{ESPEAK_VARIANTS[sex]}"
    with tempfile.TemporaryDirectory(prefix="ssd-espeak-") as tmp:
        text_file, wav = Path(tmp) / "text.txt", Path(tmp) / "out.wav"
        text_file.write_text(text + "\n", encoding="utf-8")
        _run(["espeak-ng", "-b", "1", "-v", voice, "-f", str(text_file), "-w", str(wav)],
             f"espeak-ng ({voice}) on {text!r}")
        return _read_wav(wav, f"espeak-ng on {text!r}")


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def festival(texts: list[str], voice: str = "kal_diphone") -> list[tuple[np.ndarray, int]]:
    """Synthesise several texts in one festival process (its start-up costs more than a sentence)."""
    with tempfile.TemporaryDirectory(prefix="ssd-festival-") as tmp:
        script = [f"(voice_{voice})"]
        wavs = [Path(tmp) / f"{i}.wav" for i in range(len(texts))]
        for text, wav in zip(texts, wavs, strict=True):
            script.append(f"(utt.save.wave (utt.synth (Utterance Text {_scheme_string(text)})) "
                          f"{_scheme_string(str(wav))} 'riff)")
        script_file = Path(tmp) / "batch.scm"
        script_file.write_text("\n".join(script) + "\n", encoding="utf-8")
        _run(["festival", "--batch", str(script_file)], f"festival ({voice})")
        return [_read_wav(wav, f"festival on {text!r}") for text, wav in zip(texts, wavs, strict=True)]


def missing_festival_voice() -> str | None:
    """None when festival and its kal_diphone voice are installed."""
    reason = missing_binary("festival", "festival")
    if reason is None and not FESTIVAL_VOICE_DIR.is_dir():
        reason = "festival voice kal_diphone is missing (apt-get install -y festvox-kallpc16k)"
    return reason

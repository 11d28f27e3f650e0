"""The registry of spoofing attacks, named A01, A02, ... as in ASVspoof.

An attack is one generator with fixed settings. Each says which prompts it can use (TTS engines need a
transcript in a language they speak), whether it converts the speaker, what it lacks on this machine,
and how to turn a batch of source prompts into waveforms. Families differ on purpose so that an
evaluation set can hold attacks a countermeasure never saw in training.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from ssd.data.mini_la import neural, tts, vocoders
from ssd.data.mini_la.vocoders import F0Stats
from ssd.utils.fileio import file_digest

Waveform = tuple[np.ndarray, int]
# Fixed settings of the signal generators; sources.tsv records them with every file.
GRIFFIN_LIM = {"n_fft": 512, "hop": 128, "iterations": 32, "momentum": 0.99}
LPC = {"order": 20, "win_ms": 25.0}
WORLD = {"f0": "dio+stonemask", "f0_floor": vocoders.F0_FLOOR, "f0_ceil": vocoders.F0_CEIL,
         "frame_period_ms": vocoders.FRAME_PERIOD_MS}


@dataclass(frozen=True)
class Conversion:
    """What a voice-conversion attack needs: both speakers' F0 statistics and the warping factor."""

    source: F0Stats
    target: F0Stats
    alpha: float


@dataclass(frozen=True)
class SpoofInput:
    """One source prompt handed to a generator."""

    audio: np.ndarray
    fs: int
    text: str
    lang: str
    sex: str
    conversion: Conversion | None = None


@dataclass(frozen=True)
class Attack:
    """A spoofing system: a generator, its settings and what it can work from."""

    attack_id: str
    generator: str
    family: str
    description: str
    synthesize: Callable[[list[SpoofInput], list[np.random.Generator]], list[Waveform]]
    settings: Mapping[str, object] = field(default_factory=dict)
    languages: tuple[str, ...] | None = None  # None: works from any prompt (no text needed)
    converts_speaker: bool = False
    missing: Callable[[], str | None] = lambda: None

    def accepts(self, lang: str) -> bool:
        return self.languages is None or lang in self.languages


def _each(fn: Callable[[SpoofInput, np.random.Generator], Waveform]):
    """Lift a one-prompt generator to the batch interface."""
    def run(items: list[SpoofInput], rngs: list[np.random.Generator]) -> list[Waveform]:
        return [fn(item, rng) for item, rng in zip(items, rngs, strict=True)]
    return run


def _world_copy(item: SpoofInput, rng: np.random.Generator) -> Waveform:
    return vocoders.world_copy(item.audio, item.fs), item.fs


def _griffin_lim(item: SpoofInput, rng: np.random.Generator) -> Waveform:
    return vocoders.griffin_lim(item.audio, rng, **GRIFFIN_LIM), item.fs


def _lpc(item: SpoofInput, rng: np.random.Generator) -> Waveform:
    return vocoders.lpc_vocode(item.audio, item.fs, rng, **LPC), item.fs


def _flite(item: SpoofInput, rng: np.random.Generator) -> Waveform:
    return tts.flite(item.text, voice="slt")


def _world_vc(item: SpoofInput, rng: np.random.Generator) -> Waveform:
    if item.conversion is None:
        raise ValueError("the voice-conversion attack needs source and target speaker statistics")
    c = item.conversion
    return vocoders.world_convert(item.audio, item.fs, c.source, c.target, c.alpha), item.fs


def _espeak(item: SpoofInput, rng: np.random.Generator) -> Waveform:
    return tts.espeak(item.text, item.lang, item.sex)


def _festival(items: list[SpoofInput], rngs: list[np.random.Generator]) -> list[Waveform]:
    return tts.festival([item.text for item in items], voice="kal_diphone")


def _hnm(item: SpoofInput, rng: np.random.Generator) -> Waveform:
    return vocoders.harmonic_plus_noise(item.audio, item.fs, rng), item.fs


def _neural(name: str) -> Callable[[SpoofInput, np.random.Generator], Waveform]:
    def run(item: SpoofInput, rng: np.random.Generator) -> Waveform:
        return neural.synthesize(name, item.audio, item.fs, rng), item.fs
    return run


def _neural_settings(name: str) -> dict[str, object]:
    """What sources.tsv records of a neural vocoder: its architecture and the digest of its weights."""
    family = neural.FAMILIES[name]
    conditioning = "40 log-mel bands, 5 ms hop" + (" + WORLD F0" if family.uses_f0 else "")
    known = {"family": name, "conditioning": conditioning}
    if family.weights.is_file():
        known["weights_sha256"] = file_digest(family.weights)[0][:16]
    return known


ATTACKS: dict[str, Attack] = {a.attack_id: a for a in [
    Attack("A01", "world-copy", "vocoder copy-synthesis",
           "WORLD analysis (dio+stonemask F0, CheapTrick envelope, D4C aperiodicity) and synthesis "
           "of a bona fide prompt", _each(_world_copy), WORLD),
    Attack("A02", "griffin-lim", "phase reconstruction",
           "STFT magnitude of a bona fide prompt, phase rebuilt by fast Griffin-Lim from random phase",
           _each(_griffin_lim), GRIFFIN_LIM),
    Attack("A03", "lpc-vocoder", "source-filter vocoder",
           "frame-wise LPC envelope of a bona fide prompt excited by a pulse train (voiced, WORLD F0) "
           "or white noise (unvoiced)", _each(_lpc), {**LPC, "hop_ms": vocoders.FRAME_PERIOD_MS}),
    Attack("A04", "flite-slt", "statistical parametric TTS",
           "flite's CLUSTERGEN voice 'slt' reading the English transcript of a bona fide prompt",
           _each(_flite), {"voice": "slt"}, languages=("en",),
           missing=lambda: tts.missing_binary("flite", "flite")),
    Attack("A05", "world-vc", "voice conversion",
           "WORLD voice conversion of another speaker's prompt toward the claimed speaker: log-F0 "
           "mean/variance mapping and spectral-envelope frequency warping (alpha from the F0 ratio)",
           _each(_world_vc), {**WORLD, "warp": "alpha=(f0_target/f0_source)^0.25 in [0.8, 1.25]"},
           converts_speaker=True),
    Attack("A06", "espeak-ng", "formant (rule-based) TTS",
           "espeak-ng reading the transcript of a bona fide prompt in its language (en-us, es-419, "
           "fr-fr, it, ru), voice variant by the speaker's sex",
           _each(_espeak), {"voices": tts.ESPEAK_VOICES, "variants": tts.ESPEAK_VARIANTS},
           languages=tuple(tts.ESPEAK_VOICES), missing=lambda: tts.missing_binary("espeak-ng", "espeak-ng")),
    Attack("A07", "festival-kal", "diphone concatenative TTS",
           "festival with the kal_diphone voice (residual-excited LPC diphones) reading the English "
           "transcript of a bona fide prompt", _festival, {"voice": "kal_diphone"},
           languages=("en",), missing=tts.missing_festival_voice),
    Attack("A08", "harmonic-noise", "sinusoidal vocoder",
           "harmonic-plus-noise resynthesis of a bona fide prompt from its WORLD F0, envelope and "
           "aperiodicity (own sinusoidal synthesiser, shaped-noise aperiodic part)",
           _each(_hnm), WORLD),
    Attack("A09", "nsf", "neural source-filter vocoder",
           "copy-synthesis of a bona fide prompt by the project's small neural source-filter vocoder "
           "(sine-harmonic source from WORLD F0, gated dilated-convolution filter on log-mel frames)",
           _each(_neural("nsf")), _neural_settings("nsf"), missing=lambda: neural.missing("nsf")),
    Attack("A10", "wavegen", "neural upsampling waveform generator",
           "copy-synthesis by the project's small MelGAN-style generator (transposed-convolution "
           "upsampling of log-mel frames with dilated residual stacks)",
           _each(_neural("wavegen")), _neural_settings("wavegen"), missing=lambda: neural.missing("wavegen")),
    Attack("A11", "istft-vocoder", "neural spectral vocoder (iSTFT)",
           "copy-synthesis by the project's small Vocos-style vocoder (ConvNeXt blocks at the frame "
           "rate predict STFT magnitude and phase, inverted by overlap-add)",
           _each(_neural("istft")), _neural_settings("istft"), missing=lambda: neural.missing("istft")),
]}


def get(attack_id: str) -> Attack:
    """Look up an attack by id; unknown ids are an error listing the known ones."""
    try:
        return ATTACKS[attack_id]
    except KeyError:
        raise KeyError(f"unknown attack {attack_id!r}; known: {', '.join(ATTACKS)}") from None

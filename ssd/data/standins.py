"""Mini stand-ins for the evaluation corpora, made from the eval set of a mini (or real) LA 2019 corpus.

Each stand-in is written in its corpus's public layout, so that the recipes run on it the code path
they run on the real data:

- ``la2021``: ``ASVspoof2021_LA_eval/flac/LA_E_*.flac`` and the keys package ``keys/LA/CM/
  trial_metadata.txt``, ``keys/LA/ASV/trial_metadata.txt``, ``keys/LA/ASV/ASVTorch_Kaldi/score.txt``.
  Every utterance goes through one of the seven LA conditions with real codecs (``LA_CONDITIONS``).
- ``df2021``: ``ASVspoof2021_DF_eval/flac/DF_E_*.flac`` and ``keys/DF/CM/trial_metadata.txt``; the
  nine DF compression conditions (``DF_CONDITIONS``), at bit rates a 16 kHz mono stream supports.
- ``itw``: ``release_in_the_wild/<n>.wav`` with ``meta.csv`` (``file,speaker,label``), each file
  through a web-like codec (none, mp3 or AAC), the same distribution for both classes.
- ``custom``: ``bonafide/`` and ``spoof/<attack>/`` folders of flac, plus ``list.tsv`` (``path label
  attack speaker``) naming the same files.

Conditions and subsets are dealt per class in a seeded order, so every condition gets bona fide and
spoofed trials whenever the set is large enough; all draws come from ``seed``, and the codecs are
deterministic, so a stand-in is byte-identical for a seed. ``standin.tsv`` records, per file, the
source utterance and the codec steps. The ASV scores of the LA stand-in are the mini corpus's own ASV
scores of the source utterances (computed before the codec), with the keys of the real package.
A condition whose codec is not installed is left out with a warning naming the package.
"""

from __future__ import annotations

import logging
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from ssd.audio import codecs
from ssd.data.asvspoof2019 import ASV_SCORE_DIR, check_subset
from ssd.data.mini_la.corpus import ASV_PROTOCOL_DIR
from ssd.utils.fileio import atomic_write

log = logging.getLogger(__name__)

KINDS = ("la2021", "df2021", "itw", "custom")
FORMAT_VERSION = 1
MARKER = ".standin"
PROGRESS_EVERY = 5  # one trial in five (per class) goes to the 'progress' subset, the rest to 'eval'

Steps = tuple[tuple[str, int | None], ...]


@dataclass(frozen=True)
class Condition:
    """One transmission/compression condition: its key labels and the codec chains it draws from."""

    label: str  # C1..C9, the organisers' condition number
    codec: str  # the keys' codec/compression value
    transmission: str  # LA keys only
    choices: tuple[Steps, ...]  # one chain is drawn per utterance (bit rates vary within a condition)


# The LA 2021 conditions in the organisers' order (C1..C7 = none, alaw, pstn, g722, ulaw, gsm, opus).
# The real C3 is an unknown PSTN path; here a cellular leg (GSM) into an A-law trunk, which differs
# from C6 (GSM alone). Opus runs at the low bit rates of VoIP calls.
LA_CONDITIONS = (
    Condition("C1", "none", "-", ((),)),
    Condition("C2", "alaw", "loc_tx", ((("alaw", None),),)),
    Condition("C3", "pstn", "loc_tx", ((("gsm", None), ("alaw", None)),)),
    Condition("C4", "g722", "loc_tx", ((("g722", 64000),), (("g722", 56000),))),
    Condition("C5", "ulaw", "loc_tx", ((("ulaw", None),),)),
    Condition("C6", "gsm", "loc_tx", ((("gsm", None),),)),
    Condition("C7", "opus", "loc_tx", ((("opus", 8000),), (("opus", 12000),), (("opus", 16000),))),
)
_LOW_MP3 = ((("mp3", 24000),), (("mp3", 32000),))
_LOW_M4A = ((("m4a", 16000),), (("m4a", 24000),))
_LOW_OGG = ((("ogg", 24000),), (("ogg", 32000),))
# The DF 2021 conditions C1..C9; "low"/"high" bit rates scaled to what 16 kHz mono streams allow
# (MPEG-2 layer III tops out at 160 kbit/s, Vorbis at 96 kbit/s).
DF_CONDITIONS = (
    Condition("C1", "nocodec", "", ((),)),
    Condition("C2", "low_mp3", "", _LOW_MP3),
    Condition("C3", "high_mp3", "", ((("mp3", 96000),), (("mp3", 128000),))),
    Condition("C4", "low_m4a", "", _LOW_M4A),
    Condition("C5", "high_m4a", "", ((("m4a", 64000),), (("m4a", 96000),))),
    Condition("C6", "low_ogg", "", _LOW_OGG),
    Condition("C7", "high_ogg", "", ((("ogg", 80000),), (("ogg", 96000),))),
    Condition("C8", "mp3m4a", "", tuple(a + b for a in _LOW_MP3 for b in _LOW_M4A)),
    Condition("C9", "oggm4a", "", tuple(a + b for a in _LOW_OGG for b in _LOW_M4A)),
)
ITW_CHOICES: tuple[Steps, ...] = ((), (("mp3", 64000),), (("m4a", 48000),))
# DF keys' vocoder family of the mini corpus's attacks (ssd.data.mini_la.attacks); others: unknown.
VOCODER_FAMILY = {
    "A01": "traditional_vocoder", "A02": "traditional_vocoder", "A03": "traditional_vocoder",
    "A04": "traditional_vocoder", "A05": "traditional_vocoder", "A06": "unknown",
    "A07": "waveform_concatenation", "A08": "traditional_vocoder",
}


@dataclass(frozen=True)
class Source:
    """One CM utterance of the input corpus's eval set."""

    utt: str
    speaker: str
    attack: str
    key: str
    path: Path


@dataclass(frozen=True)
class Planned:
    """One stand-in file: where it comes from and what happens to it."""

    source: Source
    utt: str
    condition: Condition | None
    steps: Steps
    subset: str


def eval_sources(mini_dir: str | os.PathLike) -> list[Source]:
    """The eval CM utterances of an LA 2019 corpus (mini or real), checked against their flac files."""
    entries = check_subset(mini_dir, "eval")
    flac = Path(mini_dir) / "ASVspoof2019_LA_eval" / "flac"
    return [Source(e.utt, e.speaker, e.attack, e.key, flac / f"{e.utt}.flac") for e in entries]


def _dealt(sources: list[Source], rng: np.random.Generator) -> list[tuple[int, Source]]:
    """Sources in a seeded order, numbered within their class (bona fide, spoof)."""
    order = [sources[i] for i in rng.permutation(len(sources))]
    counts: dict[str, int] = {}
    dealt = []
    for s in order:
        counts[s.key] = counts.get(s.key, 0) + 1
        dealt.append((counts[s.key] - 1, s))
    return dealt


def usable(conditions: tuple[Condition, ...]) -> tuple[Condition, ...]:
    """The conditions whose codecs are all installed; a warning names the package for each other one."""
    kept = []
    for cond in conditions:
        needed = sorted({name for steps in cond.choices for name, _ in steps})
        reasons = [r for r in (codecs.missing(n) for n in needed) if r]
        if reasons:
            log.warning("stand-in: condition %s (%s) left out: %s", cond.label, cond.codec,
                        "; ".join(reasons))
        else:
            kept.append(cond)
    return tuple(kept)


def plan(sources: list[Source], kind: str, seed: int) -> list[Planned]:
    """Every stand-in file of ``kind``, deterministic for ``seed``; ids are renumbered like the real ones.

    The 2021 kinds deal conditions and subsets round-robin within each class; In-the-Wild numbers
    its files 0..N-1 in a seeded order; the custom folder keeps the source ids.
    """
    rng = np.random.default_rng([seed, KINDS.index(kind)])
    dealt = _dealt(sources, rng)
    numbers = rng.choice(9_000_000, size=len(dealt), replace=False) + 1_000_000
    if kind in ("la2021", "df2021"):
        conditions = usable(LA_CONDITIONS if kind == "la2021" else DF_CONDITIONS)
        if not conditions:
            raise codecs.CodecUnavailable(f"no {kind} condition can run here")
        prefix = "LA_E_" if kind == "la2021" else "DF_E_"
        planned = []
        for (rank, src), number in zip(dealt, numbers, strict=True):
            cond = conditions[rank % len(conditions)]
            steps = cond.choices[int(rng.integers(len(cond.choices)))]
            subset = "progress" if rank % PROGRESS_EVERY == PROGRESS_EVERY - 1 else "eval"
            planned.append(Planned(src, f"{prefix}{number}", cond, steps, subset))
        return sorted(planned, key=lambda p: p.utt)
    if kind == "itw":
        return [Planned(src, str(i), None, ITW_CHOICES[int(rng.integers(len(ITW_CHOICES)))], "-")
                for i, (_, src) in enumerate(dealt)]
    return sorted((Planned(src, src.utt, None, (), "-") for _, src in dealt), key=lambda p: p.utt)


def _render(p: Planned, path: Path) -> None:
    """Read the source, pass it through its codec chain, write it as 16-bit audio (flac or wav)."""
    x, fs = sf.read(p.source.path, dtype="float64")
    if x.ndim != 1:
        raise ValueError(f"{p.source.path}: expected mono audio, got {x.shape[1]} channels")
    try:
        y = codecs.chain(x, fs, list(p.steps)) if p.steps else x
    except (codecs.CodecError, ValueError) as err:
        raise codecs.CodecError(f"{path.name} (from {p.source.path}, {_describe(p.steps)}): {err}") from err
    pcm = np.clip(np.round(y * 32768.0), -32768, 32767).astype(np.int16)
    with atomic_write(path, "wb") as f:
        sf.write(f, pcm, fs, format="FLAC" if path.suffix == ".flac" else "WAV", subtype="PCM_16")


def _describe(steps: Steps) -> str:
    return "+".join(name if rate is None else f"{name}@{rate // 1000}k" for name, rate in steps) or "none"


def _write_lines(path: Path, lines: list[str]) -> None:
    with atomic_write(path) as f:
        f.writelines(line + "\n" for line in lines)


def _write_la_asv(mini_dir: Path, out: Path, planned: list[Planned]) -> None:
    """The 2021-style ASV keys and scores, from the mini corpus's line-aligned ASV trial and score files."""
    trial_file = mini_dir / ASV_PROTOCOL_DIR / "ASVspoof2019.LA.asv.eval.gi.trl.txt"
    score_file = mini_dir / ASV_SCORE_DIR / "ASVspoof2019.LA.asv.eval.gi.trl.scores.txt"
    if not trial_file.exists() or not score_file.exists():
        log.warning("stand-in: %s or %s missing: no ASV keys (t-DCF will not be computed)", trial_file,
                    score_file)
        return
    by_source = {p.source.utt: p for p in planned}
    trials = trial_file.read_text(encoding="utf-8").split("\n")
    scores = score_file.read_text(encoding="utf-8").split("\n")
    keys, lines = [], []
    for number, (trial, score) in enumerate(zip(trials, scores, strict=True), 1):
        if not trial.strip():
            continue
        speaker, utt, source, key = trial.split()
        p = by_source.get(utt)
        if p is None:
            raise ValueError(f"{trial_file}:{number}: ASV trial {utt} is not a CM eval utterance")
        channel = f"{p.condition.codec}-{p.condition.transmission}"
        model, tagged = f"{speaker}-{channel}", f"{p.utt}-{channel}"
        keys.append(f"{model} {tagged} {p.condition.codec} {p.condition.transmission} {source} {key} "
                    f"notrim {p.subset}")
        lines.append(f"{model} {tagged} {score.split()[2]}")
    _write_lines(out / "keys" / "LA" / "ASV" / "trial_metadata.txt", keys)
    _write_lines(out / "keys" / "LA" / "ASV" / "ASVTorch_Kaldi" / "score.txt", lines)


def _key_lines(kind: str, planned: list[Planned]) -> list[str]:
    lines = []
    for p in planned:
        s, c = p.source, p.condition
        attack = "bonafide" if s.key == "bonafide" else s.attack
        if kind == "la2021":
            lines.append(f"{s.speaker} {p.utt} {c.codec} {c.transmission} {attack} {s.key} notrim {p.subset}")
        else:
            family = "bonafide" if s.key == "bonafide" else VOCODER_FAMILY.get(s.attack, "unknown")
            lines.append(f"{s.speaker} {p.utt} {c.codec} asvspoof {'-' if s.key == 'bonafide' else s.attack} "
                         f"{s.key} notrim {p.subset} {family} - - - -")
    return lines


def _audio_path(kind: str, out: Path, p: Planned) -> Path:
    if kind == "la2021":
        return out / "ASVspoof2021_LA_eval" / "flac" / f"{p.utt}.flac"
    if kind == "df2021":
        return out / "ASVspoof2021_DF_eval" / "flac" / f"{p.utt}.flac"
    if kind == "itw":
        return out / "release_in_the_wild" / f"{p.utt}.wav"
    return out / _custom_path(p)


def _custom_path(p: Planned) -> str:
    """``bonafide/<utt>.flac`` or ``spoof/<attack>/<utt>.flac`` (the folder names the attack)."""
    if p.source.key == "bonafide":
        return f"bonafide/{p.utt}.flac"
    return f"spoof/{p.source.attack}/{p.utt}.flac"


# What each kind writes at the top of its directory; a rebuild removes exactly these.
OWNED = {
    "la2021": ("ASVspoof2021_LA_eval", "keys"),
    "df2021": ("ASVspoof2021_DF_eval", "keys"),
    "itw": ("release_in_the_wild",),
    "custom": ("bonafide", "spoof", "list.tsv"),
}


def _clear(kind: str, out: Path) -> None:
    """Remove an older or unfinished build; refuse a directory holding anything else."""
    if not out.exists():
        return
    owned = {*OWNED[kind], "standin.tsv", MARKER}
    foreign = sorted(p.name for p in out.iterdir() if p.name not in owned)
    if foreign:
        raise FileExistsError(f"{out}: not a {kind} stand-in directory (holds {', '.join(foreign[:5])}); "
                              "choose an empty or new --out")
    for name in owned:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def marker_text(kind: str, seed: int, mini_dir: Path) -> str:
    """What a finished build records; the codecs are in it because a missing one changes the plan."""
    return (f"kind={kind} seed={seed} source={mini_dir.resolve()} version={FORMAT_VERSION} "
            f"codecs={','.join(codecs.available())}\n")


def make(kind: str, mini_dir: str | os.PathLike, out_dir: str | os.PathLike, seed: int = 0,
         nj: int = 1) -> Path:
    """Write the ``kind`` stand-in into ``out_dir``; skipped when a finished identical build is there,
    and any other build of ``kind`` there is replaced (the marker is written last).

    ``nj`` files are coded at a time (threads: the codecs run as subprocesses); each file depends only
    on its own plan, so the bytes do not depend on ``nj``.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown stand-in kind {kind!r}; known: {', '.join(KINDS)}")
    mini_dir, out = Path(mini_dir), Path(out_dir)
    marker = out / MARKER
    if marker.exists() and marker.read_text(encoding="utf-8") == marker_text(kind, seed, mini_dir):
        log.info("stand-in %s already complete in %s", kind, out)
        return out
    planned = plan(eval_sources(mini_dir), kind, seed)
    _clear(kind, out)
    with ThreadPoolExecutor(max(1, nj)) as pool:
        jobs = [pool.submit(_render, p, _audio_path(kind, out, p)) for p in planned]
        for i, job in enumerate(jobs, 1):
            job.result()
            if i % 50 == 0 or i == len(planned):
                log.info("stand-in %s: %d/%d files written", kind, i, len(planned))
    if kind in ("la2021", "df2021"):
        track = "LA" if kind == "la2021" else "DF"
        eval_dir = out / f"ASVspoof2021_{track}_eval"
        _write_lines(eval_dir / f"ASVspoof2021.{track}.cm.eval.trl.txt", [p.utt for p in planned])
        _write_lines(out / "keys" / track / "CM" / "trial_metadata.txt", _key_lines(kind, planned))
        if kind == "la2021":
            _write_la_asv(mini_dir, out, planned)
    elif kind == "itw":
        # In-the-Wild names public figures ("Alec Guinness"): speaker names with a space, as there.
        label = {"bonafide": "bona-fide", "spoof": "spoof"}
        _write_lines(out / "release_in_the_wild" / "meta.csv", ["file,speaker,label"] + [
            f"{p.utt}.wav,Mini Speaker {p.source.speaker[3:]},{label[p.source.key]}" for p in planned])
    else:
        _write_lines(out / "list.tsv", ["path\tlabel\tattack\tspeaker"] + [
            f"{_custom_path(p)}\t{p.source.key}\t{p.source.attack}\t{p.source.speaker}"
            for p in planned])
    _write_lines(out / "standin.tsv", ["file\tsource\tkey\tattack\tcondition\tcodecs\tsubset"] + [
        f"{_audio_path(kind, out, p).relative_to(out)}\t{p.source.utt}\t{p.source.key}\t{p.source.attack}\t"
        f"{p.condition.label if p.condition else '-'}\t{_describe(p.steps)}\t{p.subset}" for p in planned])
    with atomic_write(marker) as f:
        f.write(marker_text(kind, seed, mini_dir))
    return out

"""Plan, render and write the mini corpus in the ASVspoof 2019 LA layout.

Planning is pure and seeded: the prompts of each speaker are shuffled once and dealt out to train, dev
and eval, so no recording (and no spoof made from a recording) appears in two splits. Within a split,
spoofs are made from that split's bona fide prompts first (same speakers, same words), topped up with
further prompts of the split's own when an attack needs more (English-only TTS, say). Rendering runs
chunk by chunk in worker processes; every utterance draws from its own seeded random stream, so the
bytes on disk do not depend on ``nj`` or scheduling. A completion marker is written last.
"""

from __future__ import annotations

import itertools
import json
import logging
import multiprocessing
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ssd.data.asvspoof2019 import (
    ASV_SCORE_DIR,
    PROTOCOL_DIR,
    SETS,
    asv_scores_path,
    audio_dir,
    protocol_path,
)
from ssd.data.mini_la import asv, attacks, channel, readme
from ssd.data.mini_la.baseline import SplitFeatures, evaluate, utterance_features
from ssd.data.mini_la.sources import (
    HELD_OUT_SECONDS,
    PROMPT_SECONDS,
    SOURCE_FS,
    Recording,
    decode_g722,
    find_recordings,
    held_out,
)
from ssd.data.mini_la.vocoders import F0Stats, f0_stats, warp_factor
from ssd.frontend.lfcc import lfcc
from ssd.metrics.eer import compute_eer
from ssd.metrics.tdcf import asv_operating_point
from ssd.utils.fileio import atomic_write

log = logging.getLogger(__name__)

# Bump when a change to the generator changes the corpus, so that old builds are rebuilt.
FORMAT_VERSION = 2
COMPLETE_MARKER = ".complete"
TRIVIAL_BASELINES = "trivial_baselines.json"  # {baseline: {split: EER}}, stage 5's reference rows
OWNER_MARKER = ".mini_la"
ASV_PROTOCOL_DIR = "ASVspoof2019_LA_asv_protocols"
SPLIT_LETTER = {"train": "T", "dev": "D", "eval": "E"}
CHUNK = 6  # utterances per worker task: small enough to balance, large enough to batch festival
SEX_NAME = {"f": "female", "m": "male"}


@dataclass(frozen=True)
class SplitSpec:
    """How much of each kind one split holds: per-speaker bona fide, ASV enrolment, spoofs per attack."""

    bonafide_per_speaker: int
    attacks: Mapping[str, int]
    enrol_per_speaker: int = 0


@dataclass(frozen=True)
class Profile:
    """A size of the corpus; F0 statistics for voice conversion use ``f0_recordings`` per speaker."""

    name: str
    splits: Mapping[str, SplitSpec]
    f0_recordings: int = 4


PROFILES: dict[str, Profile] = {
    # About 1,400 CM utterances (train 600, dev 330, eval 460, plus 24 enrolment) from 60/30/40 bona
    # fide prompts per speaker and split; two neural vocoder families in train and dev, a third only in
    # eval. The whole recipe runs on it in about 15 minutes on 2 cores.
    "default": Profile("default", {
        "train": SplitSpec(60, {"A01": 60, "A02": 60, "A03": 60, "A04": 60, "A09": 60, "A10": 60}),
        "dev": SplitSpec(30, {"A01": 35, "A02": 35, "A03": 35, "A04": 35, "A09": 35, "A10": 35},
                         enrol_per_speaker=3),
        "eval": SplitSpec(40, {"A01": 50, "A05": 50, "A06": 50, "A07": 50, "A08": 50, "A11": 50},
                          enrol_per_speaker=3),
    }),
    # 80 CM utterances (+16 enrolment) from eight generators, for tests: builds in seconds.
    "ci": Profile("ci", {
        "train": SplitSpec(3, {"A01": 4, "A02": 4, "A03": 4, "A09": 3, "A10": 3}),
        "dev": SplitSpec(2, {"A01": 3, "A02": 3, "A09": 3, "A10": 3}, enrol_per_speaker=2),
        "eval": SplitSpec(3, {"A01": 3, "A05": 4, "A06": 4, "A08": 4, "A11": 3}, enrol_per_speaker=2),
    }, f0_recordings=2),
}


@dataclass(frozen=True)
class Utterance:
    """One planned file: who it claims to be, what it is, and what it is made from."""

    index: int
    utt: str
    split: str
    role: str  # "cm" (in the CM protocol) or "enrol" (ASV enrolment only)
    speaker: str
    key: str
    attack: str
    source: Recording
    conversion: attacks.Conversion | None = None
    details: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Rendered:
    """What a worker reports back about a written file."""

    utt: str
    channel: channel.ChannelDraw
    seconds: float
    asv_embedding: np.ndarray
    mean_lfcc: np.ndarray
    high_band: float


def speaker_ids(recordings: list[Recording]) -> dict[str, str]:
    """LA-style ids for the voices, in name order: LA_0001, LA_0002, ..."""
    return {name: f"LA_{i:04d}" for i, name in enumerate(sorted({r.speaker for r in recordings}), 1)}


class _Deck:
    """Each speaker's prompts in a seeded order; dealing one removes it for every later split."""

    def __init__(self, recordings: list[Recording], rng: np.random.Generator):
        self.cards: dict[str, list[Recording]] = {}
        for name in sorted({r.speaker for r in recordings}):
            mine = sorted((r for r in recordings if r.speaker == name), key=lambda r: str(r.path))
            self.cards[name] = [mine[i] for i in rng.permutation(len(mine))]

    def deal(self, speaker: str, accepts=lambda lang: True, why: str = "") -> Recording:
        for i, rec in enumerate(self.cards[speaker]):
            if accepts(rec.lang):
                return self.cards[speaker].pop(i)
        raise ValueError(f"not enough prompts of {speaker} left for {why or 'the mini corpus'}; "
                         "choose a smaller profile")

    def has(self, speaker: str, accepts) -> bool:
        return any(accepts(r.lang) for r in self.cards[speaker])


def usable_recordings() -> tuple[list[Recording], list[Recording]]:
    """(usable, held out): the 1-6 s speech prompts a profile may use, and the prompts reserved for
    held-out testing (``sources.held_out``), which no profile uses."""
    lo, hi = PROMPT_SECONDS
    everything = find_recordings(min_seconds=min(lo, HELD_OUT_SECONDS[0]),
                                 max_seconds=max(hi, HELD_OUT_SECONDS[1]))  # one walk for both
    reserved = held_out(everything)
    paths = {r.path for r in reserved}
    usable = [r for r in everything
              if lo * SOURCE_FS <= r.num_samples <= hi * SOURCE_FS and r.path not in paths]
    return usable, reserved


def available_attacks(profile: Profile) -> tuple[set[str], dict[str, str]]:
    """Attacks of the profile this machine can run, and the reason for each one it cannot."""
    wanted = sorted({a for spec in profile.splits.values() for a in spec.attacks})
    skipped = {}
    for attack_id in wanted:
        reason = attacks.get(attack_id).missing()
        if reason:
            skipped[attack_id] = reason
    return set(wanted) - set(skipped), skipped


def _conversions(bonafide: Mapping[str, list[Recording]], count: int) -> dict[str, F0Stats]:
    """Per-speaker F0 statistics from the split's own first ``count`` bona fide prompts."""
    return {spk: f0_stats([decode_g722(r.path) for r in recs[:count]], SOURCE_FS)
            for spk, recs in bonafide.items()}


# One planned file before numbering: split, role, speaker name, key, attack, source, conversion, details.
_Row = tuple[str, str, str, str, str, Recording, attacks.Conversion | None, dict]


def _spoof_rows(split: str, attack: attacks.Attack, count: int, pool: dict[str, list[Recording]],
                deck: _Deck, stats: Mapping[str, F0Stats] | None, ids: Mapping[str, str]) -> list[_Row]:
    """``count`` spoofs of one attack, spread evenly over the speakers it can claim.

    Sources come from the split's pool (its bona fide prompts first), each used once per attack; when
    the pool runs out of prompts the attack accepts, a fresh one of the same speaker is dealt into it.
    Voice conversion claims each speaker in turn and takes its sources from the others in rotation.
    """
    speakers = sorted(pool)
    claimants = [s for s in speakers if attack.converts_speaker
                 or any(attack.accepts(r.lang) for r in pool[s]) or deck.has(s, attack.accepts)]
    used: set[Path] = set()
    rows: list[_Row] = []
    for i in range(count):
        claimed = source_speaker = claimants[i % len(claimants)]
        if attack.converts_speaker:
            others = [s for s in speakers if s != claimed]
            source_speaker = others[(i // len(claimants)) % len(others)]
        fresh = [r for r in pool[source_speaker] if attack.accepts(r.lang) and r.path not in used]
        rec = fresh[0] if fresh else deck.deal(source_speaker, attack.accepts, f"{split} {attack.attack_id}")
        if not fresh:
            pool[source_speaker].append(rec)
        used.add(rec.path)
        conversion, details = None, {}
        if attack.converts_speaker:
            src, tgt = stats[source_speaker], stats[claimed]
            conversion = attacks.Conversion(src, tgt, warp_factor(src, tgt))
            details = {"source_speaker": ids[source_speaker], "alpha": round(conversion.alpha, 4),
                       "f0_source_hz": round(src.median_hz, 1), "f0_target_hz": round(tgt.median_hz, 1)}
        rows.append((split, "cm", claimed, "spoof", attack.attack_id, rec, conversion, details))
    return rows


def plan(recordings: list[Recording], profile: Profile, seed: int, usable: set[str]) -> list[Utterance]:
    """Every file of the corpus, in a deterministic order, with unique LA-style utterance ids.

    Splits are dealt in order from one seeded deck per speaker, so no prompt is in two splits.
    """
    deck = _Deck(recordings, np.random.default_rng([seed, 0]))
    ids = speaker_ids(recordings)
    speakers = sorted(deck.cards)
    rows: list[_Row] = []
    for split in SETS:
        spec = profile.splits[split]
        enrol = {s: [deck.deal(s, why=f"{split} enrolment") for _ in range(spec.enrol_per_speaker)]
                 for s in speakers}
        bona = {s: [deck.deal(s, why=f"{split} bona fide") for _ in range(spec.bonafide_per_speaker)]
                for s in speakers}
        for s in speakers:
            rows += [(split, "enrol", s, "bonafide", "-", r, None, {}) for r in enrol[s]]
            rows += [(split, "cm", s, "bonafide", "-", r, None, {}) for r in bona[s]]
        pool = {s: list(bona[s]) for s in speakers}
        wanted = [attacks.get(a) for a in spec.attacks if a in usable]
        stats = _conversions(bona, profile.f0_recordings) if any(a.converts_speaker for a in wanted) else None
        for attack in wanted:
            rows += _spoof_rows(split, attack, spec.attacks[attack.attack_id], pool, deck, stats, ids)
    numbers = np.random.default_rng([seed, 1]).choice(9_000_000, size=len(rows), replace=False) + 1_000_000
    return [Utterance(index=i, utt=f"LA_{SPLIT_LETTER[split]}_{numbers[i]}", split=split, role=role,
                      speaker=ids[spk], key=key, attack=attack_id, source=rec, conversion=conv,
                      details=details)
            for i, (split, role, spk, key, attack_id, rec, conv, details) in enumerate(rows)]


def _render_chunk(task: tuple[str, int, list[Utterance]]) -> list[Rendered]:
    """Worker: synthesise (or decode), pass through the channel, write flac, measure features."""
    out_dir, seed, chunk = task
    # Stream 2 of the seed (0 deals the prompts, 1 numbers the files), one child per utterance, split
    # into generator and channel randomness: no utterance's draws depend on which worker runs it.
    streams = [np.random.SeedSequence([seed, 2, u.index]).spawn(2) for u in chunk]
    sources = [decode_g722(u.source.path) for u in chunk]
    if chunk[0].attack == "-":
        waveforms = [(x, SOURCE_FS) for x in sources]
    else:
        inputs = [attacks.SpoofInput(x, SOURCE_FS, u.source.text, u.source.lang, u.source.sex, u.conversion)
                  for x, u in zip(sources, chunk, strict=True)]
        try:
            waveforms = attacks.get(chunk[0].attack).synthesize(
                inputs, [np.random.default_rng(s[0]) for s in streams])
        except Exception as err:
            raise RuntimeError(f"{chunk[0].attack} failed on {', '.join(u.utt for u in chunk)} "
                               f"(sources {', '.join(str(u.source.path) for u in chunk)}): {err}") from err
    results = []
    for u, (x, fs), (_, chan_seed) in zip(chunk, waveforms, streams, strict=True):
        rng = np.random.default_rng(chan_seed)
        draw = channel.draw(rng)
        try:
            pcm = channel.apply(x, fs, draw, rng)
        except ValueError as err:
            raise RuntimeError(f"{u.utt} ({u.attack}, source {u.source.path}): {err}") from err
        channel.write_flac(audio_dir(out_dir, u.split) / f"{u.utt}.flac", pcm)
        audio = pcm.astype(np.float64) / 32768.0
        cepstra = lfcc(audio, channel.TARGET_FS)
        mean_lfcc, high_band = utterance_features(audio, channel.TARGET_FS, cepstra)
        results.append(Rendered(u.utt, draw, len(pcm) / channel.TARGET_FS, asv.embedding(cepstra),
                                mean_lfcc, high_band))
    return results


def _chunks(utterances: list[Utterance]) -> list[list[Utterance]]:
    """Same-attack chunks (a batch engine such as festival then starts once per chunk)."""
    groups: dict[str, list[Utterance]] = {}
    for u in utterances:
        groups.setdefault(u.attack, []).append(u)
    per_group = [[g[i : i + CHUNK] for i in range(0, len(g), CHUNK)] for g in groups.values()]
    # Round-robin over attacks so that the slow generators do not all land at the end.
    return [c for row in itertools.zip_longest(*per_group) for c in row if c is not None]


def render(out_dir: Path, utterances: list[Utterance], seed: int, nj: int) -> dict[str, Rendered]:
    """Write every planned file, ``nj`` processes at a time; logs progress every tenth of the work."""
    tasks = [(str(out_dir), seed, chunk) for chunk in _chunks(utterances)]
    for split in SETS:
        audio_dir(out_dir, split).mkdir(parents=True, exist_ok=True)
    done: dict[str, Rendered] = {}
    next_report = 0.1
    start = time.monotonic()

    def collect(results: list[Rendered]) -> None:
        nonlocal next_report
        done.update((r.utt, r) for r in results)
        if len(done) >= next_report * len(utterances):
            log.info("mini corpus: %d/%d files written (%.0f s)", len(done), len(utterances),
                     time.monotonic() - start)
            while next_report * len(utterances) <= len(done):
                next_report += 0.1

    if nj <= 1:
        for task in tasks:
            collect(_render_chunk(task))
    else:
        with multiprocessing.get_context("spawn").Pool(nj) as pool:
            for results in pool.imap_unordered(_render_chunk, tasks):
                collect(results)
    return done


def _write_protocols(out_dir: Path, utterances: list[Utterance]) -> None:
    for split in SETS:
        rows = sorted((u for u in utterances if u.split == split and u.role == "cm"), key=lambda u: u.utt)
        with atomic_write(protocol_path(out_dir, split)) as f:
            for u in rows:
                f.write(f"{u.speaker} {u.utt} - {u.attack} {u.key}\n")


def _write_asv(out_dir: Path, utterances: list[Utterance], rendered: Mapping[str, Rendered]
               ) -> dict[str, dict[str, float]]:
    """ASV enrolment, trial lists and score files for dev and eval; returns the ASV's own figures."""
    backend = asv.fit_backend(rendered[u.utt].asv_embedding for u in utterances
                              if u.split == "train" and u.key == "bonafide")
    sex = {u.speaker: u.source.sex for u in utterances if u.key == "bonafide"}
    figures = {}
    for split in ("dev", "eval"):
        enrol: dict[str, list[str]] = {}
        for u in utterances:
            if u.split == split and u.role == "enrol":
                enrol.setdefault(u.speaker, []).append(u.utt)
        models = asv.speaker_models(backend, {s: [rendered[x].asv_embedding for x in utts]
                                              for s, utts in enrol.items()})
        tests = sorted((u for u in utterances if u.split == split and u.role == "cm"), key=lambda u: u.utt)
        tested = ((u.utt, u.speaker, u.attack, rendered[u.utt].asv_embedding) for u in tests)
        trials = asv.score_trials(backend, models, tested)
        asv.write_scores(asv_scores_path(out_dir, split), trials)
        base = out_dir / ASV_PROTOCOL_DIR / f"ASVspoof2019.LA.asv.{split}"
        asv.write_trial_list(f"{base}.gi.trl.txt", trials)
        for code, name in SEX_NAME.items():
            asv.write_enrolment(f"{base}.{name}.trn.txt",
                                {s: utts for s, utts in enrol.items() if sex[s] == code})
        target = np.array([t.score for t in trials if t.key == "target"])
        nontarget = np.array([t.score for t in trials if t.key == "nontarget"])
        spoof = np.array([t.score for t in trials if t.key == "spoof"])
        point = asv_operating_point(target, nontarget, spoof) if spoof.size else None
        figures[split] = {"eer": compute_eer(target, nontarget)[0],
                          "spoof_accept": 1.0 - point.p_miss_spoof if point else float("nan")}
    return figures


def _write_sources(out_dir: Path, utterances: list[Utterance], rendered: Mapping[str, Rendered]) -> None:
    columns = ["utt", "split", "role", "speaker", "key", "attack", "generator", "settings", "channel",
               "source", "text"]
    with atomic_write(out_dir / "sources.tsv") as f:
        f.write("\t".join(columns) + "\n")
        for u in sorted(utterances, key=lambda u: (SETS.index(u.split), u.utt)):
            if u.attack == "-":
                generator, settings = "bonafide", "-"
            else:
                attack = attacks.get(u.attack)
                generator = attack.generator
                settings = json.dumps({**attack.settings, **u.details}, sort_keys=True, separators=(",", ":"))
            f.write("\t".join([u.utt, u.split, u.role, u.speaker, u.key, u.attack, generator, settings,
                               rendered[u.utt].channel.describe(), str(u.source.path),
                               u.source.text.replace("\t", " ")]) + "\n")


def _write_held_out(out_dir: Path, reserved: list[Recording]) -> None:
    with atomic_write(out_dir / "held_out.tsv") as f:
        f.write("source\tvoice\tseconds\ttext\n")
        for r in sorted(reserved, key=lambda r: str(r.path)):
            f.write(f"{r.path}\t{r.voice}\t{r.duration:.3f}\t{r.text.replace(chr(9), ' ')}\n")


def _summary(profile: Profile, seed: int, utterances: list[Utterance], rendered: Mapping[str, Rendered],
             skipped: Mapping[str, str], asv_figures: Mapping[str, Mapping[str, float]],
             held_out_count: int) -> readme.CorpusSummary:
    features = {}
    for split in SETS:
        cm = [u for u in utterances if u.split == split and u.role == "cm"]
        features[split] = SplitFeatures(
            mean_lfcc=np.stack([rendered[u.utt].mean_lfcc for u in cm]),
            high_band=np.array([rendered[u.utt].high_band for u in cm]),
            is_bonafide=np.array([u.key == "bonafide" for u in cm]),
        )
    speakers: dict[str, readme.Speaker] = {}
    for u in utterances:
        if u.key == "bonafide":
            known = speakers.get(u.speaker)
            voices = sorted({u.source.voice, *(known.voices if known else ())})
            speakers[u.speaker] = readme.Speaker(u.speaker, u.source.speaker, SEX_NAME[u.source.sex],
                                                 tuple(voices))
    counts: dict[str, dict[str, int]] = {split: {} for split in SETS}
    enrol = dict.fromkeys(SETS, 0)
    for u in utterances:
        if u.role == "enrol":
            enrol[u.split] += 1
        else:
            counts[u.split][u.attack] = counts[u.split].get(u.attack, 0) + 1
    return readme.CorpusSummary(
        profile=profile.name, seed=seed, format_version=FORMAT_VERSION,
        speakers=[speakers[s] for s in sorted(speakers)], counts=counts, enrol=enrol,
        seconds={s: sum(rendered[u.utt].seconds for u in utterances if u.split == s) for s in SETS},
        skipped=dict(skipped), asv={k: dict(v) for k, v in asv_figures.items()}, baselines=evaluate(features),
        held_out=held_out_count,
    )


def _owned_paths(out_dir: Path) -> list[Path]:
    return [*(audio_dir(out_dir, s).parent for s in SETS), out_dir / PROTOCOL_DIR, out_dir / ASV_SCORE_DIR,
            out_dir / ASV_PROTOCOL_DIR, out_dir / "sources.tsv", out_dir / "held_out.tsv",
            out_dir / "README.md", out_dir / TRIVIAL_BASELINES, out_dir / COMPLETE_MARKER]


def marker_text(profile: str, seed: int) -> str:
    return f"profile={profile} seed={seed} version={FORMAT_VERSION}\n"


def is_complete(out_dir: str | Path, profile: str, seed: int) -> bool:
    """True when ``out_dir`` holds a finished build of this profile, seed and generator version."""
    marker = Path(out_dir) / COMPLETE_MARKER
    return marker.is_file() and marker.read_text() == marker_text(profile, seed)


def _claim(out_dir: Path, profile: str, seed: int) -> None:
    """Make ``out_dir`` ours and clear any previous (partial or other-profile) build in it.

    A directory that already holds an LA tree but no ownership marker is someone's real corpus: refuse.
    """
    owner = out_dir / OWNER_MARKER
    if not owner.exists() and any(p.exists() for p in _owned_paths(out_dir)):
        raise FileExistsError(f"{out_dir} holds an ASVspoof-like tree that this generator did not write; "
                              "refusing to overwrite it (choose another --out)")
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(owner) as f:
        f.write(marker_text(profile, seed))
    for path in _owned_paths(out_dir):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def build(out_dir: str | Path, profile: str = "default", seed: int = 0, nj: int = 1) -> bool:
    """Build the mini corpus into ``out_dir`` unless a complete build of the same profile and seed is there.

    Returns True when it built, False when the existing build was kept. Raises SourcesMissingError
    (with the apt-get command) when the Asterisk prompts are not installed, and FileExistsError when
    ``out_dir`` holds an LA tree that this generator did not write.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown mini-corpus profile {profile!r}; choose from {', '.join(PROFILES)}")
    if nj < 1:
        raise ValueError(f"nj must be at least 1, got {nj}")
    out_dir = Path(out_dir)
    if is_complete(out_dir, profile, seed):
        log.info("mini corpus: %s already holds profile %s, seed %d; keeping it", out_dir, profile, seed)
        return False
    start = time.monotonic()
    spec = PROFILES[profile]
    recordings, reserved = usable_recordings()
    usable, skipped = available_attacks(spec)
    for attack_id, reason in skipped.items():
        log.warning("mini corpus: skipping %s (%s): %s", attack_id, attacks.get(attack_id).generator, reason)
    utterances = plan(recordings, spec, seed, usable)
    _claim(out_dir, profile, seed)
    log.info("mini corpus: writing %d files (profile %s, seed %d, %d jobs) to %s",
             len(utterances), profile, seed, nj, out_dir)
    rendered = render(out_dir, utterances, seed, nj)
    _write_protocols(out_dir, utterances)
    asv_figures = _write_asv(out_dir, utterances, rendered)
    _write_sources(out_dir, utterances, rendered)
    _write_held_out(out_dir, reserved)
    summary = _summary(spec, seed, utterances, rendered, skipped, asv_figures, len(reserved))
    with atomic_write(out_dir / "README.md") as f:
        f.write(readme.render(summary))
    with atomic_write(out_dir / TRIVIAL_BASELINES) as f:
        json.dump(summary.baselines, f, indent=1, sort_keys=True)
        f.write("\n")
    with atomic_write(out_dir / COMPLETE_MARKER) as f:
        f.write(marker_text(profile, seed))
    log.info("mini corpus: done in %.1f s; %s", time.monotonic() - start, readme.one_line(summary))
    return True

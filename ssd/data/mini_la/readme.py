"""The mini corpus's README: what it is and is not, what is in it, how it was made, and its licences.

Generated from the build's own figures, so the document always matches the files beside it. It holds
nothing machine-dependent (no timings), so a rebuild with the same seed reproduces it byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass

from ssd.data.asvspoof2019 import SETS
from ssd.data.mini_la import attacks
from ssd.data.mini_la.channel import ChannelConfig
from ssd.data.mini_la.sources import CREDITS, HELD_OUT_PER_VOICE, INSTALL_COMMAND, VOICE_DIR


@dataclass(frozen=True)
class Speaker:
    """One speaker: corpus id, name, sex and the Asterisk voice folders read."""

    speaker_id: str
    name: str
    sex: str
    voices: tuple[str, ...]


@dataclass(frozen=True)
class CorpusSummary:
    """Everything the README reports about one build."""

    profile: str
    seed: int
    format_version: int
    speakers: list[Speaker]
    counts: dict[str, dict[str, int]]  # split -> attack ('-' for bona fide) -> CM utterances
    enrol: dict[str, int]  # split -> ASV enrolment utterances (not in the CM protocol)
    seconds: dict[str, float]  # split -> audio duration, enrolment included
    skipped: dict[str, str]  # attack -> why this machine could not run it
    asv: dict[str, dict[str, float]]  # split -> {"eer", "spoof_accept"}
    baselines: dict[str, dict[str, float]]  # baseline -> split -> EER
    held_out: int  # prompts reserved for held-out testing, listed in held_out.tsv


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _attack_order(counts: dict[str, dict[str, int]]) -> list[str]:
    return sorted({a for per in counts.values() for a in per if a != "-"})


def one_line(s: CorpusSummary) -> str:
    """A log-line summary: utterances per split and the eval EERs of the trivial baselines."""
    sizes = ", ".join(f"{split} {sum(s.counts[split].values())}" for split in SETS)
    eers = ", ".join(f"{name} {_pct(per['eval'])}" for name, per in s.baselines.items())
    return f"CM utterances: {sizes}; trivial baselines' eval EER: {eers}"


def render(s: CorpusSummary) -> str:
    """The README text (Markdown)."""
    cfg = ChannelConfig()
    order = _attack_order(s.counts)
    train_attacks = {a for a in s.counts["train"] if a != "-"}
    lines = [
        "# Mini ASVspoof 2019 LA corpus (generated)",
        "",
        f"Built by `python -m ssd.bin.make_mini_corpus --out DIR --profile {s.profile} --seed {s.seed}` "
        f"(generator format {s.format_version}); the same profile and seed rebuild the same bytes "
        "with the same software versions.",
        "",
        "## What it is, and what it is not",
        "",
        "A small synthetic-speech-detection corpus laid out exactly like ASVspoof 2019 LA (flac folders, "
        "CM protocols, ASV protocols and ASV score files), so that the recipe runs end to end on a machine "
        "without the real 7.7 GB corpus and CI exercises the same code path. Bona fide speech is real: the "
        "Asterisk telephony prompts shipped by Debian. Spoofs are made offline from those prompts by the "
        "generators listed below. As in ASVspoof, train and dev share their attacks and eval holds attacks "
        "never seen in training. No recording, and no spoof made from a recording, is in two splits.",
        "",
        "It is **not** ASVspoof: it has four speakers (ASVspoof 2019 LA has 107), speakers are shared "
        "between splits, the spoofing systems are classic vocoders, offline TTS engines and three small "
        "neural vocoders trained here on the training split's bona fide speech (25 to 151 thousand "
        "parameters, trained for minutes without adversarial losses) rather than the challenge's neural "
        "systems, and the ASV scores come from a deliberately simple cepstral system. "
        "Figures measured on it test the pipeline; they say nothing about performance on ASVspoof.",
        "",
        "## Speakers",
        "",
        "| id | speaker | sex | Asterisk voices | credited to (Debian copyright file) | licence |",
        "|---|---|---|---|---|---|",
    ]
    for sp in s.speakers:
        langs = [VOICE_DIR.match(v)["lang"] for v in sp.voices]
        credit = "; ".join(sorted({CREDITS[lang][0] for lang in langs}))
        licence = "; ".join(sorted({CREDITS[lang][1] for lang in langs}))
        lines.append(f"| {sp.speaker_id} | {sp.name} | {sp.sex} | {', '.join(sp.voices)} | {credit} "
                     f"| {licence} |")
    lines += [
        "",
        "## Contents",
        "",
        "CM utterances per split (bona fide and spoofs per attack); enrolment utterances sit in the flac "
        "folders of dev and eval for the ASV system only and are not in the CM protocols.",
        "",
        "| split | bona fide | " + " | ".join(order) + " | spoof total | enrolment | duration |",
        "|---|---|" + "---|" * len(order) + "---|---|---|",
    ]
    for split in SETS:
        per = s.counts[split]
        spoof = sum(n for a, n in per.items() if a != "-")
        cells = [str(per.get(a, 0)) if a in per else "-" for a in order]
        lines.append(f"| {split} | {per.get('-', 0)} | " + " | ".join(cells)
                     + f" | {spoof} | {s.enrol[split]} | {s.seconds[split] / 60:.1f} min |")
    total = sum(s.seconds.values())
    lines += ["", f"Total: {sum(sum(p.values()) + s.enrol[k] for k, p in s.counts.items())} files, "
              f"{total / 60:.1f} minutes of audio.", "", "## Attacks", "",
              "| attack | generator | family | splits | seen in training | what it does |",
              "|---|---|---|---|---|---|"]
    for a in order:
        attack = attacks.get(a)
        splits = ", ".join(split for split in SETS if a in s.counts[split])
        seen = "yes" if a in train_attacks else "no"
        lines.append(f"| {a} | {attack.generator} | {attack.family} | {splits} | {seen} "
                     f"| {attack.description} |")
    if s.skipped:
        lines += ["", "Skipped on the machine that built this copy (the corpus is valid without them):", ""]
        lines += [f"- {a} ({attacks.get(a).generator}): {why}" for a, why in sorted(s.skipped.items())]
    lines += [
        "",
        "Settings of every generator, per utterance, are in `sources.tsv` (columns: utt, split, role, "
        "speaker, key, attack, generator, settings, channel, source, text), together with the source "
        "recording each file was made from. For voice conversion (speaker column = the claimed target) the "
        "settings name the source speaker; for the neural vocoders they give the digest of the weights "
        "(`ssd/data/mini_la/neural/weights/`, with their training cards and script).",
        "",
        f"`held_out.tsv` lists {s.held_out} prompts of 1.5-12 s ({HELD_OUT_PER_VOICE} per Asterisk voice "
        "folder, chosen by a hash of their names) that no profile of this generator uses, whatever the "
        "seed: they are reserved for held-out testing and must not be used to train or tune a detector.",
        "",
        "## Channel",
        "",
        "Every file, bona fide and spoof alike, goes through the same channel so that sampling rate, "
        "bandwidth, codec, level and silence give nothing away: resampling to 16 kHz; leading and trailing "
        f"silence trimmed (frames {cfg.trim_db:g} dB below the loudest, {1000 * cfg.margin_s:g} ms margin) "
        f"and re-padded with {cfg.pad_s[0]:g}-{cfg.pad_s[1]:g} s at each end; active-speech RMS set to "
        f"{cfg.level_dbfs[0]:g} to {cfg.level_dbfs[1]:g} dBFS; white noise at {cfg.noise_dbfs[0]:g} to "
        f"{cfg.noise_dbfs[1]:g} dBFS; a G.722 (64 kbit/s) encode/decode round trip; 16-bit flac. The "
        "per-file draws are in `sources.tsv`. (The bona fide prompts were G.722 before this channel too.)",
        "",
        "## ASV scores",
        "",
        "`ASVspoof2019_LA_asv_scores/` holds, in the organisers' format (`source key score`), the scores "
        "of a simple real ASV system: mean and standard deviation of the 20 static LFCCs over speech "
        "frames, standardised with the training set's bona fide statistics, cosine-scored against the "
        "mean of the speaker's enrolment utterances (listed in `ASVspoof2019_LA_asv_protocols/*.trn.txt`; "
        "they are never trials). Target trials: bona fide against its own speaker; nontarget: bona fide "
        "against every other speaker; spoof: a spoof against the speaker it claims. "
        "`*.gi.trl.txt` lists the trials line by line in the score files' order.",
        "",
        "| split | ASV EER (target vs nontarget) | spoofs accepted at that threshold |",
        "|---|---|---|",
    ]
    for split, fig in s.asv.items():
        lines.append(f"| {split} | {_pct(fig['eer'])} | {_pct(fig['spoof_accept'])} |")
    lines += [
        "",
        "## Trivial baselines",
        "",
        "A corpus whose labels leak through level, bandwidth or codec is useless. Two trivial "
        "countermeasures, fitted on train only, must stay far from 0 % EER "
        "(`python -m ssd.bin.mini_corpus_baseline DIR` recomputes them from the flac files):",
        "",
        "| baseline | dev EER | eval EER |",
        "|---|---|---|",
    ]
    for name, per in s.baselines.items():
        lines.append(f"| {name} | {_pct(per['dev'])} | {_pct(per['eval'])} |")
    lines += [
        "",
        "## Licences",
        "",
        "The bona fide audio is derived from the Asterisk core sound prompts as packaged by Debian "
        f"(`{INSTALL_COMMAND}`): English and Spanish by Allison Smith and French by June Wallack under "
        "CC-BY-SA-3.0, Italian by Carlo Flora and Russian by Maxim Topal (ivrvoice.ru) under CC-BY-3.0. "
        "Spoofs derived from those recordings are adaptations of them; the corpus as a whole is therefore "
        "shared under CC-BY-SA-3.0 with the attributions above. The TTS engines (flite, espeak-ng, "
        "festival with festvox-kallpc16k) are free software whose output carries no further restriction; "
        "the neural vocoders' weights were trained on the CC-BY-SA-3.0 prompts and are shared under the "
        "same licence.",
        "",
        "## Layout",
        "",
        "```",
        "ASVspoof2019_LA_{train,dev,eval}/flac/LA_{T,D,E}_NNNNNNN.flac   16 kHz mono 16-bit",
        "ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.{train.trn,dev.trl,eval.trl}.txt",
        "ASVspoof2019_LA_asv_scores/ASVspoof2019.LA.asv.{dev,eval}.gi.trl.scores.txt",
        "ASVspoof2019_LA_asv_protocols/ASVspoof2019.LA.asv.{dev,eval}.{female,male}.trn.txt, *.gi.trl.txt",
        "sources.tsv   provenance of every file",
        "held_out.tsv  the Asterisk prompts reserved for held-out testing (used by no profile)",
        ".mini_la      says this generator owns the folder (it refuses to overwrite any other LA tree)",
        ".complete     written last: profile, seed and generator version of a finished build",
        "```",
        "",
    ]
    return "\n".join(lines)

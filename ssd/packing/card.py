"""The model card of a packed detector (its README.md): what the model is, where it came from, how it did.

The parts shared by every card (front end, figures table, thresholds) are here for the cards of
imported models too (ssd.importers).
"""

from __future__ import annotations

from typing import Any

BACKBONE_NAMES = {
    "resnet": "pre-activation ResNet with attentive statistics pooling, Mo & Wang 2022",
    "lcnn": "LFCC-LCNN, the ASVspoof 2021 baseline", "rawnet2": "RawNet2, the ASVspoof 2021 baseline",
    "aasist": "AASIST, Jung et al. 2022", "aasist-l": "AASIST-L, Jung et al. 2022",
    "aasist-ssl": "AASIST's graph back end on SSL features, after Tak et al. 2022",
}


def describe_frontend(fe: dict[str, Any], parts: dict[str, Any] | None = None) -> str:
    """One line on a manifest's front-end entry (``parts``: the manifest's model entry, for ssl)."""
    if fe.get("name") == "raw":
        return f"the waveform at {fe['fs']} Hz, full scale +-1"
    if fe.get("name") == "ssl":
        ssl = (parts or {}).get("ssl") or {}
        arch = ssl.get("architecture") or {}
        return (f"the waveform at {fe['fs']} Hz into a {ssl.get('family', '?')} encoder "
                f"({arch.get('num_hidden_layers', '?')} layers x {arch.get('hidden_size', '?')}, from "
                f"{ssl.get('checkpoint') or 'random initialisation'}), layer {ssl.get('layer') or 'last'}, "
                f"{'frozen' if ssl.get('freeze', True) else 'fine-tuned'}, projected to "
                f"{ssl.get('proj_dim') or arch.get('hidden_size', '?')} dims")
    if fe.get("name") == "log-power-spectrogram":
        return (f"log power spectrogram, {fe['feature_dim']} bins of a {fe['nfft']}-point FFT, "
                f"{fe['window_samples']}-sample windows every {fe['hop_samples']} samples at {fe['fs']} Hz")
    return (f"LFCC, {fe['feature_dim']} dims: {fe['num_ceps']} static + delta + delta-delta, "
            f"{fe['window_samples']}-sample windows every {fe['hop_samples']} samples at {fe['fs']} Hz")


def figures_table(figures: dict[str, Any], with_files: bool = False) -> list[str]:
    """A markdown table of a manifest's figures, one row per set (``with_files``: name its score file)."""
    lines = ["| set | bona fide | spoof | EER (%) | min t-DCF |", "|---|---|---|---|---|"]
    for name, fig in figures.items():
        tdcf = f"{fig['min_tdcf']:.4f}" if fig.get("min_tdcf") is not None else "-"
        label = f"{name} ({fig['scores']})" if with_files else name
        lines.append(f"| {label} | {fig['n_bonafide']} | {fig['n_spoof']} | {100 * fig['eer']:.3f} "
                     f"| {tdcf} |")
    return lines


def threshold_lines(thresholds: dict[str, Any], when_none: str) -> list[str]:
    """The list of a manifest's decision thresholds; ``when_none`` says what to do when none is known."""
    if not thresholds:
        return [f"- none known: {when_none}"]
    return [f"- `{name}`{' (default)' if name == thresholds['default'] else ''}: {entry['value']} "
            f"(from the {entry['set']} set)" for name, entry in thresholds.items() if isinstance(entry, dict)]


def model_card(manifest: dict[str, Any], config: dict[str, Any]) -> str:
    """The archive's README.md: what the model is, how it was made, how well it did, how to use it."""
    tag = manifest.get("tag") or "model"
    loss = config.get("loss", {}).get("name", "?")
    tasks = {name: (section or {}).get("weight", 0) for name, section in (config.get("tasks") or {}).items()}
    on = ", ".join(f"{name} (weight {w:g})" for name, w in tasks.items() if w) or "none (vanilla)"
    fe, ev, corpus, git = manifest["frontend"], manifest["eval"], manifest["corpus"], manifest["git"]
    parts = manifest["model"]
    lines = [
        f"# {tag}: synthetic speech detector (ssd)",
        "",
        "A spoofing countermeasure: given speech, it returns a score, higher = more likely bona fide "
        "(human) speech, and calls the input `bonafide` when the score is at least the threshold, else "
        "`spoof`.",
        "",
        "## Model",
        "",
        f"- front end `{parts['frontend']}`: {describe_frontend(fe, parts)}",
        f"- backbone `{parts['backbone']}` ({BACKBONE_NAMES.get(parts['backbone'], parts['backbone'])}), "
        f"{manifest['parameters']:,} parameters in the scoring network; loss `{loss}`",
        f"- auxiliary training tasks: {on}",
        f"- evaluation (`{ev['policy']}`): {ev['window']}-{ev['unit']} window"
        + (f"s every {ev['hop']} {ev['unit']}, scores averaged" if ev["policy"] == "windowed" else
           ", the input's first") + f"; shorter inputs are {ev['short']}",
        "",
        "## Provenance",
        "",
        f"- experiment `{tag}`, checkpoint {manifest['checkpoint']['file']} "
        f"(epoch {manifest['checkpoint']['epoch']})",
        f"- corpus: {corpus['path'] or 'unknown'}"
        + (f" (the bundled mini corpus, {corpus['mini_corpus']}: a test corpus, not ASVspoof data)"
           if corpus.get("mini_corpus") else ""),
        f"- code: ssd {manifest['ssd_version']}, git commit {git['commit'] or 'unknown'}"
        + (" (with local changes)" if git.get("dirty") else ""),
        f"- packed {manifest['created']}",
        "",
        "## Results",
        "",
        *figures_table(manifest["figures"]),
        "",
        "## Decision thresholds",
        "",
        *threshold_lines(manifest["thresholds"], "no dev scores with a finite EER threshold; give one, "
                         "`ssd-detect --threshold <number>` or `Detector.use_threshold(<number>)`"),
        "",
        "## Use",
        "",
        "```",
        f"ssd-detect recording.flac --model {tag}.zip            # score, decision, threshold, duration",
        f"ssd-detect a.wav b.ogg some_dir/ --model {tag}.zip --json",
        "```",
        "",
        "```python",
        "from ssd import Detector",
        f"det = Detector.load('{tag}.zip')",
        "score = det.score(waveform, fs)  # any rate; (samples,) or (samples, channels) as soundfile reads",
        "print(score, det.decide(score))",
        "```",
        "",
        "Other sampling rates are resampled to the model's rate and multi-channel audio is averaged to "
        "mono before the front end.",
        "",
        "## Limitations",
        "",
        "The model has only seen the attacks and recording conditions of its training corpus; scores on "
        "other material (codecs, noise, unseen synthesis methods) are not calibrated and the threshold may "
        "not transfer. A score is evidence, not proof.",
        "",
    ]
    return "\n".join(lines)

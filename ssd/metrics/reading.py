"""A plain-language reading of stage 5's table: which differences the intervals support, which are noise.

Systems are compared on each set's pooled EER through their bootstrap intervals: two systems whose
intervals overlap cannot be told apart on that set; one whose interval lies wholly below another's is
better beyond resampling noise. Overlap is a conservative test (a paired test over seeds, ``--seeds``,
is the sharper one), and the intervals cover the trials of one set and one training run, not seed-to-
seed variation: the text says so. Reference rows (the LFCC-GMM baseline, trivial baselines of the
corpus) are compared the same way; a reference without an interval is a single number.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

REFERENCE_SYSTEMS = ("lfcc_gmm",)  # experiment tags (or their prefix) that are reference rows


@dataclass(frozen=True)
class Entry:
    """One row of a set: a system's pooled EER (a fraction) and its interval, when computed."""

    name: str
    eer: float
    low: float | None = None
    high: float | None = None
    reference: bool = False

    def text(self) -> str:
        ci = f" [{100 * self.low:.1f}, {100 * self.high:.1f}]" if self.low is not None else ""
        return f"`{self.name}` ({100 * self.eer:.1f} %{ci})"

    def below(self, other: Entry) -> bool:
        """True when this EER is lower than ``other``'s beyond both intervals (or the bare number)."""
        mine = self.high if self.high is not None else self.eer
        theirs = other.low if other.low is not None else other.eer
        return mine < theirs


def is_reference(tag: str) -> bool:
    return any(tag == r or tag.startswith(f"{r}_") for r in REFERENCE_SYSTEMS)


def read_references(path: Path) -> dict[str, dict[str, float]]:
    """``{name: {set: eer}}`` from a JSON file (the mini corpus's ``trivial_baselines.json``)."""
    try:
        table = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: not a JSON table of reference EERs ({err})") from None
    if not isinstance(table, dict) or not all(
            isinstance(per, dict) and all(isinstance(v, (int, float)) and 0 <= v <= 1 for v in per.values())
            for per in table.values()):
        raise ValueError(f"{path}: expected {{name: {{set: EER between 0 and 1}}}}")
    return {str(name): {str(k): float(v) for k, v in per.items()} for name, per in table.items()}


def _names(entries: list[Entry]) -> str:
    return ", ".join(e.text() for e in entries)


def reading(set_name: str, entries: list[Entry]) -> list[str]:
    """Markdown bullets reading one set's table."""
    systems = sorted((e for e in entries if not e.reference), key=lambda e: e.eer)
    references = [e for e in entries if e.reference]
    if not systems:
        return []
    best = systems[0]
    lines = [f"- **{set_name}**: the lowest EER is {best.text()}."]
    if best.low is None:
        lines.append("  No intervals were computed (`--ci 0`), so no difference can be judged from noise.")
    tied = [e for e in systems[1:] if not best.below(e)]
    worse = [e for e in systems[1:] if best.below(e)]
    if tied:
        lines.append(f"  Within noise of it (intervals overlap): {_names(tied)}.")
    if worse:
        lines.append(f"  Worse beyond noise: {_names(worse)}.")
    for ref in sorted(references, key=lambda e: e.eer):
        beat = [e for e in systems if e.below(ref)]
        lost = [e for e in systems if ref.below(e)]
        parts = [f"beaten beyond noise by {len(beat)} of {len(systems)} systems"]
        if lost:
            parts.append(f"better than {_names(lost)}")
        lines.append(f"  Reference {ref.text()}: " + "; ".join(parts) + ".")
    return lines


def reading_markdown(per_set: dict[str, list[Entry]]) -> list[str]:
    """The "Reading the table" section of RESULTS.md."""
    lines = ["", "## Reading the table", "",
             "Pooled EER per set, compared through the 95 % bootstrap intervals above (brackets): two "
             "systems whose intervals overlap cannot be told apart on that set. The intervals resample the "
             "trials of one training run; differences between training seeds are not in them (train "
             "several seeds with `--seeds \"0 1 2\"` for mean, spread and paired differences).", ""]
    for set_name, entries in per_set.items():
        lines += reading(set_name, entries)
    return lines

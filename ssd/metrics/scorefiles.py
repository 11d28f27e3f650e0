"""Reading CM score files, CM protocols and ASV score files, and joining them into scored trials.

Every file is parsed in bulk (one ``str.split``, one vectorised float conversion, categorical columns
turned into integer codes), which keeps a 71k-trial evaluation well under a second; only when the bulk
parse finds a problem does a per-line pass run, so that every error names the file, the line and the
utterance.

Formats:

- CM scores: ``utt attack key score`` (ours and the official ASVspoof 2019 CM format; the attack is
  ``-`` for bona fide, the AIR-ASVspoof files write ``A00``; ``-`` on a spoof line means the attack is
  unknown), or ``utt score`` when a protocol supplies the labels (the ASVspoof 2021 format).
- CM protocol: the official ``speaker utt - attack key`` file (parsed by
  ``ssd.data.asvspoof2019.read_protocol_table``, the one reader of that format), or a Kaldi data
  directory holding ``utt2label`` (``bonafide``/``spoof``) and optionally ``utt2attack``.
- ASV scores: the organisers' ``source key score`` (source ``bonafide`` or an attack id; key
  ``target``, ``nontarget`` or ``spoof``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ssd.data.asvspoof2019 import CorpusError, read_protocol_table

BONAFIDE = "bonafide"
SPOOF = "spoof"
NO_ATTACK = "-"
# Attack fields that mean "bona fide" on a bona fide line: ours/official, AIR-ASVspoof, ASV-file style.
BONAFIDE_ATTACKS = frozenset({NO_ATTACK, "A00", BONAFIDE})
ASV_KEYS = ("target", "nontarget", SPOOF)
KEYS = (BONAFIDE, SPOOF)
_SHOW = 5  # how many offending items an error message lists


class ScoreFileError(ValueError):
    """A score, protocol or ASV file is malformed or does not match the others."""


def attack_sort_key(name: str) -> list:
    """Natural order for attack ids, so that A2 sorts before A10 whatever their zero padding."""
    return [int(part) if i % 2 else part for i, part in enumerate(re.split(r"(\d+)", name))]


def _first(items: list, total: int | None = None) -> str:
    """The first few items of a problem list, and how many there are when not all are shown."""
    total = len(items) if total is None else total
    shown = ", ".join(str(x) for x in items[:_SHOW])
    return shown + (f", ... ({total} in all)" if total > _SHOW else "")


@dataclass(frozen=True)
class _Table:
    """Whitespace-separated columns of a file plus where each record came from."""

    path: str
    columns: list[list[str]]
    line_numbers: list[int] | None  # None: record i is on line i + 1
    allowed: tuple[int, ...]
    what: str

    def line(self, record: int) -> int:
        return record + 1 if self.line_numbers is None else self.line_numbers[record]

    def where(self, record: int) -> str:
        return f"{self.path}:{self.line(record)}"


def _read_table(path: str | Path, allowed: tuple[int, ...], what: str, bulk: bool = True) -> _Table:
    """Split ``path`` into columns; the first line fixes the field count, which must be in ``allowed``.

    ``bulk`` splits the whole text at once when the token count fits; otherwise (or with
    ``bulk=False``) lines are split one by one and the first one with a wrong field count is an error.
    """
    path = str(path)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except UnicodeDecodeError as err:
        raise ScoreFileError(f"{path}: not a UTF-8 text file ({err})") from err
    tokens = text.split()
    if not tokens:
        raise ScoreFileError(f"{path}: empty {what} file")
    body = text.rstrip()  # trailing blank lines do not count
    n_lines = body.count("\n") + 1
    ncols = len(body[: body.find("\n")].split()) if "\n" in body else len(tokens)
    if bulk and ncols in allowed and len(tokens) == ncols * n_lines:
        return _Table(path, [tokens[j::ncols] for j in range(ncols)], None, allowed, what)
    # Slow path: blank lines or a malformed line somewhere; find it, or keep line numbers for errors.
    lines = text.split("\n")
    first = next(i for i, line in enumerate(lines) if line.strip())
    ncols = len(lines[first].split())
    if ncols not in allowed:
        want = " or ".join(str(n) for n in allowed)
        raise ScoreFileError(
            f"{path}:{first + 1}: {what} lines have {want} fields, found {ncols}: {lines[first].strip()!r}"
        )
    columns: list[list[str]] = [[] for _ in range(ncols)]
    numbers: list[int] = []
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != ncols:
            raise ScoreFileError(
                f"{path}:{number}: expected {ncols} fields like line {first + 1}, found {len(fields)}: "
                f"{line.strip()!r}"
            )
        for column, value in zip(columns, fields, strict=True):
            column.append(value)
        numbers.append(number)
    return _Table(path, columns, numbers, allowed, what)


@contextmanager
def _blaming_lines(table: _Table) -> Iterator[None]:
    """Validate a table; on failure of a bulk-split one, first report a line with a wrong field count.

    Two such lines (one short, one long) cancel out in the bulk token count and shift the columns of
    the lines between them, which then fail validation with a less helpful message.
    """
    try:
        yield
    except ScoreFileError:
        if table.line_numbers is None:
            _read_table(table.path, table.allowed, table.what, bulk=False)
        raise


def _parse_scores(table: _Table, col: int, utts: list[str] | None) -> np.ndarray:
    """Float column with errors naming the line (and utterance) of a non-number, NaN or infinity."""
    tokens = table.columns[col]
    try:
        values = np.array(tokens, dtype=np.float64)
    except ValueError:
        for i, token in enumerate(tokens):
            try:
                float(token)
            except ValueError:
                who = f" (utterance {utts[i]})" if utts else ""
                raise ScoreFileError(f"{table.where(i)}: score {token!r} is not a number{who}") from None
        raise
    finite = np.isfinite(values)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        who = [f"{utts[i] if utts else 'line'} ({table.where(i)}: {tokens[i]})" for i in bad[:_SHOW]]
        raise ScoreFileError(
            f"{table.path}: {bad.size} score(s) are NaN or infinite, scores must be finite: "
            f"{_first(who, bad.size)}"
        )
    return values


def _check_unique(table: _Table, utts: list[str]) -> None:
    if len(set(utts)) == len(utts):
        return
    seen: dict[str, list[int]] = {}
    for i, utt in enumerate(utts):
        seen.setdefault(utt, []).append(table.line(i))
    repeated = [f"{u} (lines {', '.join(map(str, lines))})" for u, lines in seen.items() if len(lines) > 1]
    raise ScoreFileError(f"{table.path}: {len(repeated)} duplicate utterance id(s): {_first(repeated)}")


def _codes(table: _Table, col: int, allowed: tuple[str, ...], name: str) -> np.ndarray:
    """Index of each value of a categorical column in ``allowed``; an unknown value is an error."""
    values = table.columns[col]
    try:
        return np.fromiter(
            map({v: i for i, v in enumerate(allowed)}.__getitem__, values), np.int8, len(values)
        )
    except KeyError:
        i = next(i for i, v in enumerate(values) if v not in allowed)
        raise ScoreFileError(
            f"{table.where(i)}: {name} {values[i]!r} is not one of {', '.join(allowed)}"
        ) from None


@dataclass(frozen=True)
class Labels:
    """Ground truth per trial: bona fide flag, and an index into ``attack_names`` (natural order).

    ``attack_index`` is -1 for bona fide trials and for spoofs whose attack is unknown.
    """

    is_bonafide: np.ndarray
    attack_index: np.ndarray
    attack_names: tuple[str, ...]

    def attack_of(self, record: int) -> str:
        code = int(self.attack_index[record])
        return NO_ATTACK if code < 0 else self.attack_names[code]

    def take(self, order: np.ndarray) -> Labels:
        """The labels of records ``order`` (a re-indexing, e.g. into another file's order)."""
        return Labels(self.is_bonafide[order], self.attack_index[order], self.attack_names)


def _encode_labels(is_bona: np.ndarray, attacks: list[str] | None, where: Callable[[int], str]) -> Labels:
    """Labels from bona fide flags and an attack column, refusing lines whose key contradicts their attack."""
    if attacks is None:
        return Labels(is_bona, np.full(is_bona.size, -1, dtype=np.int32), ())
    values = sorted(set(attacks))
    raw = np.fromiter(map({v: i for i, v in enumerate(values)}.__getitem__, attacks), np.int32, len(attacks))
    bona_like = np.array([v in BONAFIDE_ATTACKS for v in values])[raw]
    unknown = np.array([v == NO_ATTACK for v in values])[raw]
    bad = np.flatnonzero((is_bona & ~bona_like) | (~is_bona & bona_like & ~unknown))
    if bad.size:
        i = int(bad[0])
        key = BONAFIDE if is_bona[i] else SPOOF
        raise ScoreFileError(
            f"{where(i)}: key {key!r} contradicts attack {attacks[i]!r} ({bad.size} such line(s); bona fide "
            "lines carry '-' or 'A00', spoof lines an attack id, or '-' when it is unknown)"
        )
    names = sorted((v for v in values if v not in BONAFIDE_ATTACKS), key=attack_sort_key)
    position = {name: i for i, name in enumerate(names)}
    remap = np.array([position.get(v, -1) for v in values], dtype=np.int32)
    return Labels(is_bona, remap[raw], tuple(names))


def _table_labels(table: _Table, key_col: int, attack_col: int | None) -> Labels:
    is_bona = _codes(table, key_col, KEYS, "key") == 0
    attacks = None if attack_col is None else table.columns[attack_col]
    return _encode_labels(is_bona, attacks, table.where)


@dataclass(frozen=True)
class CmScores:
    """A CM score file as written (scores in the file's own sign convention)."""

    path: str
    utts: list[str]
    scores: np.ndarray
    labels: Labels | None  # None for a two-column ``utt score`` file
    line_numbers: list[int] | None = None  # None: record i is on line i + 1

    def line(self, record: int) -> int:
        return record + 1 if self.line_numbers is None else self.line_numbers[record]

    def select(self, keep: np.ndarray) -> CmScores:
        """The records at positions ``keep`` (in that order), still naming their lines in the file."""
        keep = np.asarray(keep, dtype=np.int64)
        return CmScores(
            self.path,
            [self.utts[i] for i in keep],
            self.scores[keep],
            None if self.labels is None else self.labels.take(keep),
            [self.line(int(i)) for i in keep],
        )


def read_cm_scores(path: str | Path) -> CmScores:
    """Parse a CM score file (``utt attack key score`` or ``utt score``); errors name the line."""
    table = _read_table(path, (4, 2), "CM score")
    utts = table.columns[0]
    with _blaming_lines(table):
        _check_unique(table, utts)
        if len(table.columns) == 2:
            return CmScores(table.path, utts, _parse_scores(table, 1, utts), None, table.line_numbers)
        labels = _table_labels(table, key_col=2, attack_col=1)
        return CmScores(table.path, utts, _parse_scores(table, 3, utts), labels, table.line_numbers)


@dataclass(frozen=True)
class Protocol:
    """The ground truth of a set of trials, from a protocol file or a data directory."""

    path: str
    utts: list[str]
    labels: Labels


def protocol_from_columns(
    path: str, utts: list[str], is_bonafide: np.ndarray, attacks: list[str], where: Callable[[int], str]
) -> Protocol:
    """A protocol from another reader's columns (attack ``-`` for bona fide); ``where(i)`` names a line."""
    return Protocol(path, utts, _encode_labels(np.asarray(is_bonafide, dtype=bool), attacks, where))


def _read_data_dir_protocol(data_dir: Path) -> Protocol:
    label_path = data_dir / "utt2label"
    if not label_path.is_file():
        raise ScoreFileError(f"{data_dir}: a data directory used as protocol needs utt2label")
    table = _read_table(label_path, (2,), "utt2label")
    utts = table.columns[0]
    with _blaming_lines(table):
        _check_unique(table, utts)
        is_bona = _codes(table, 1, KEYS, "label") == 0
    attack_path = data_dir / "utt2attack"
    if not attack_path.is_file():
        return Protocol(str(data_dir), utts, _encode_labels(is_bona, None, table.where))
    attack_table = _read_table(attack_path, (2,), "utt2attack")
    with _blaming_lines(table), _blaming_lines(attack_table):
        attacks = _attacks_by_utt(attack_table, utts, label_path)

        def where(i: int) -> str:
            return f"{attack_path} (utterance {utts[i]}, labelled in {table.where(i)})"

        return Protocol(str(data_dir), utts, _encode_labels(is_bona, attacks, where))


def _attacks_by_utt(attack_table: _Table, utts: list[str], label_path: Path) -> list[str]:
    """utt2attack values in the order of ``utts``; both files must list the same utterances."""
    _check_unique(attack_table, attack_table.columns[0])
    if attack_table.columns[0] == utts:
        return attack_table.columns[1]
    lookup = dict(zip(attack_table.columns[0], attack_table.columns[1], strict=True))
    missing = [u for u in utts if u not in lookup]
    extra = len(lookup) - (len(utts) - len(missing))
    if missing or extra:
        raise ScoreFileError(
            f"{attack_table.path} and {label_path} list different utterances: {len(missing)} labelled "
            f"utterance(s) have no attack ({_first(missing)}), {extra} attack line(s) have no label"
        )
    return [lookup[u] for u in utts]


def read_protocol(path: str | Path) -> Protocol:
    """Read an official ``speaker utt - attack key`` CM protocol, or a Kaldi data directory.

    The protocol file goes through the corpus's own reader (ssd.data.asvspoof2019) without its LA
    attack list, so other corpora's protocols in this layout are scored too; key and attack must
    agree as on score lines.
    """
    path = Path(path)
    if path.is_dir():
        return _read_data_dir_protocol(path)
    try:
        table = read_protocol_table(path, la_attacks=False)
    except CorpusError as err:
        raise ScoreFileError(str(err)) from err
    is_bona = np.fromiter((key == BONAFIDE for key in table.keys), dtype=bool, count=len(table.keys))
    return Protocol(table.path, table.utts, _encode_labels(is_bona, table.attacks, table.where))


@dataclass(frozen=True)
class Trials:
    """Scored trials ready for the metrics: higher score = more bona fide."""

    scores: np.ndarray
    labels: Labels
    source: str

    @property
    def is_bonafide(self) -> np.ndarray:
        return self.labels.is_bonafide

    @property
    def attack_index(self) -> np.ndarray:
        return self.labels.attack_index

    @property
    def attack_names(self) -> tuple[str, ...]:
        return self.labels.attack_names

    @property
    def n_bonafide(self) -> int:
        return int(np.count_nonzero(self.is_bonafide))

    @property
    def n_spoof(self) -> int:
        return int(self.is_bonafide.size - self.n_bonafide)

    @property
    def n_unknown_attack(self) -> int:
        return int(np.count_nonzero((self.attack_index < 0) & ~self.is_bonafide))

    def bonafide_scores(self) -> np.ndarray:
        return self.scores[self.is_bonafide]

    def spoof_scores(self, attack: str | None = None) -> np.ndarray:
        """Scores of all spoofs, or of one attack's spoofs."""
        if attack is None:
            return self.scores[~self.is_bonafide]
        return self.scores[self.attack_index == self.attack_names.index(attack)]


def make_trials(cm: CmScores, protocol: Protocol | None = None, higher_is_spoof: bool = False) -> Trials:
    """Join CM scores with their protocol (when given) and orient scores so that higher = bona fide.

    Raises ScoreFileError for score ids unknown to the protocol, protocol trials without a score, or
    a score line whose key or attack contradicts the protocol.
    """
    scores = -cm.scores if higher_is_spoof else cm.scores
    if protocol is None:
        if cm.labels is None:
            raise ScoreFileError(
                f"{cm.path}: two-column 'utt score' lines carry no labels; give the protocol"
            )
        return Trials(scores, cm.labels, cm.path)
    if cm.utts == protocol.utts:
        truth = protocol.labels
    else:
        truth = protocol.labels.take(_protocol_positions(cm, protocol))
    if cm.labels is not None:
        _check_against_protocol(cm, cm.labels, truth, protocol.path)
        truth = _fill_unknown_attacks(truth, cm.labels)
    return Trials(scores, truth, cm.path)


def _fill_unknown_attacks(truth: Labels, given: Labels) -> Labels:
    """Protocol labels, with the score file's attack for spoofs whose attack the protocol does not know."""
    fill = (truth.attack_index < 0) & ~truth.is_bonafide & (given.attack_index >= 0)
    if not fill.any():
        return truth
    names = tuple(sorted(set(truth.attack_names) | set(given.attack_names), key=attack_sort_key))
    from_truth = np.array([names.index(n) for n in truth.attack_names] + [-1], dtype=np.int32)
    from_given = np.array([names.index(n) for n in given.attack_names] + [-1], dtype=np.int32)
    index = np.where(fill, from_given[given.attack_index], from_truth[truth.attack_index])
    used = sorted(set(index[index >= 0].tolist()))
    compact = np.full(len(names) + 1, -1, dtype=np.int32)
    compact[used] = np.arange(len(used), dtype=np.int32)
    return Labels(truth.is_bonafide, compact[index], tuple(names[i] for i in used))


def _protocol_positions(cm: CmScores, protocol: Protocol) -> np.ndarray:
    """Protocol index of each score line; every protocol trial must be scored exactly once."""
    position = {utt: i for i, utt in enumerate(protocol.utts)}
    unknown = [f"{u} (line {cm.line(i)})" for i, u in enumerate(cm.utts) if u not in position]
    if unknown:
        raise ScoreFileError(
            f"{cm.path}: {len(unknown)} utterance id(s) are not in the protocol {protocol.path}: "
            f"{_first(unknown)}"
        )
    if len(cm.utts) < len(protocol.utts):
        scored = set(cm.utts)
        missing = [u for u in protocol.utts if u not in scored]
        raise ScoreFileError(
            f"{cm.path}: {len(missing)} of the {len(protocol.utts)} trials of {protocol.path} have no "
            f"score: {_first(missing)}"
        )
    return np.fromiter(map(position.__getitem__, cm.utts), dtype=np.int64, count=len(cm.utts))


def _check_against_protocol(cm: CmScores, given: Labels, truth: Labels, protocol_path: str) -> None:
    """Key and attack of each score line must agree with the protocol where both know the attack."""

    def name(bona: bool) -> str:
        return BONAFIDE if bona else SPOOF

    key_bad = np.flatnonzero(given.is_bonafide != truth.is_bonafide)
    if key_bad.size:
        shown = [
            f"{cm.utts[i]} (line {cm.line(i)}: {name(given.is_bonafide[i])}, protocol: "
            f"{name(truth.is_bonafide[i])})"
            for i in key_bad[:_SHOW]
        ]
        raise ScoreFileError(
            f"{cm.path}: {key_bad.size} key(s) disagree with the protocol {protocol_path}: "
            f"{_first(shown, key_bad.size)}"
        )
    # Translate the score file's attack codes into the protocol's (-2: an attack the protocol lacks).
    lookup = [truth.attack_names.index(n) if n in truth.attack_names else -2 for n in given.attack_names]
    translated = np.array(lookup + [-1], dtype=np.int32)[given.attack_index]
    known = (given.attack_index >= 0) & (truth.attack_index >= 0)
    attack_bad = np.flatnonzero(known & (translated != truth.attack_index))
    if attack_bad.size:
        shown = [
            f"{cm.utts[i]} (line {cm.line(i)}: {given.attack_of(i)}, protocol: {truth.attack_of(i)})"
            for i in attack_bad[:_SHOW]
        ]
        raise ScoreFileError(
            f"{cm.path}: {attack_bad.size} attack(s) disagree with the protocol {protocol_path}: "
            f"{_first(shown, attack_bad.size)}"
        )


@dataclass(frozen=True)
class AsvScores:
    """The organisers' ASV scores for one set: target, nontarget, and spoof scores per attack."""

    path: str
    target: np.ndarray
    nontarget: np.ndarray
    spoof: dict[str, np.ndarray]


def read_asv_scores(path: str | Path) -> AsvScores:
    """Parse an ASV score file ``source key score``; target and nontarget lines must be bona fide."""
    table = _read_table(path, (3,), "ASV score (source key score)")
    with _blaming_lines(table):
        return _asv_from_table(table)


def _asv_from_table(table: _Table) -> AsvScores:
    sources, keys = table.columns[0], table.columns[1]
    key = _codes(table, 1, ASV_KEYS, "ASV key")
    scores = _parse_scores(table, 2, None)
    names = sorted(set(sources), key=attack_sort_key)
    src = np.fromiter(map({n: i for i, n in enumerate(names)}.__getitem__, sources), np.int32, len(sources))
    from_bona = src == (names.index(BONAFIDE) if BONAFIDE in names else -1)
    wrong = np.flatnonzero(from_bona != (key != 2))
    if wrong.size:
        i = int(wrong[0])
        raise ScoreFileError(
            f"{table.where(i)}: source {sources[i]!r} with key {keys[i]!r}: target and nontarget trials "
            f"come from 'bonafide', spoof trials from an attack ({wrong.size} such line(s))"
        )
    target, nontarget = scores[key == 0], scores[key == 1]
    if target.size == 0 or nontarget.size == 0:
        raise ScoreFileError(
            f"{table.path}: needs target and nontarget trials to fix the ASV threshold, found "
            f"{target.size} target and {nontarget.size} nontarget"
        )
    order = np.argsort(src, kind="stable")
    bounds = np.searchsorted(src[order], np.arange(len(names) + 1))
    spoof = {
        name: scores[order[bounds[i] : bounds[i + 1]]] for i, name in enumerate(names) if name != BONAFIDE
    }
    return AsvScores(table.path, target, nontarget, spoof)


@dataclass(frozen=True)
class KeyedTrialScores:
    """``utt score key`` lines with key target / nontarget / spoof: SASV scores, or ASV scores per trial.

    An utterance may appear in several trials (one per claimed speaker); ``key`` indexes ``ASV_KEYS``.
    """

    path: str
    utts: list[str]
    scores: np.ndarray
    key: np.ndarray
    line_numbers: list[int] | None = None

    def of(self, key: str) -> np.ndarray:
        return self.scores[self.key == ASV_KEYS.index(key)]


def read_keyed_trial_scores(path: str | Path) -> KeyedTrialScores:
    """Parse ``utt score key`` lines (key target, nontarget or spoof); every key must be present."""
    table = _read_table(path, (3,), "trial score (utt score key)")
    with _blaming_lines(table):
        key = _codes(table, 2, ASV_KEYS, "key")
        scores = _parse_scores(table, 1, table.columns[0])
    counts = np.bincount(key, minlength=3)
    if counts.min() == 0:
        have = ", ".join(f"{n} {k}" for n, k in zip(counts.tolist(), ASV_KEYS, strict=True))
        raise ScoreFileError(f"{table.path}: needs target, nontarget and spoof trials, found {have}")
    return KeyedTrialScores(table.path, table.columns[0], scores, key, table.line_numbers)


def cm_scores_of_trials(trials: KeyedTrialScores, cm: Trials, cm_utts: list[str]) -> np.ndarray:
    """The CM score (higher = bona fide) of each trial's utterance; spoof trials must be CM spoofs."""
    position = {utt: i for i, utt in enumerate(cm_utts)}
    missing = [
        f"{u} ({trials.path}:{_line(trials, i)})" for i, u in enumerate(trials.utts) if u not in position
    ]
    if missing:
        raise ScoreFileError(
            f"{len(missing)} trial utterance(s) have no CM score in {cm.source}: {_first(missing)}"
        )
    index = np.fromiter(map(position.__getitem__, trials.utts), dtype=np.int64, count=len(trials.utts))
    wrong = np.flatnonzero(cm.is_bonafide[index] == (trials.key == ASV_KEYS.index(SPOOF)))
    if wrong.size:
        i = int(wrong[0])
        raise ScoreFileError(
            f"{trials.path}:{_line(trials, i)}: trial key {ASV_KEYS[trials.key[i]]!r} of {trials.utts[i]} "
            f"contradicts its CM label in {cm.source} ({wrong.size} such trial(s))"
        )
    return cm.scores[index]


def _line(trials: KeyedTrialScores, record: int) -> int:
    return record + 1 if trials.line_numbers is None else trials.line_numbers[record]

"""Readers for the label files of the evaluation corpora: ASVspoof 2021 LA/DF keys, In-the-Wild, lists.

Every CM reader returns one ``EvalProtocol``: per trial the utterance id, label (``bonafide``,
``spoof``, or None for an unlabelled set), attack (``-`` for bona fide or unknown), speaker and the
format's extra condition columns (codec, transmission, subset, ...), and where each came from, so that
every error names the file and line. Formats, as the organisers publish them:

- 2021 LA CM keys ``keys/LA/CM/trial_metadata.txt``, 8 fields:
  ``speaker utt codec transmission attack key trim subset`` (bona fide attack ``bonafide`` or ``-``).
- 2021 DF CM keys ``keys/DF/CM/trial_metadata.txt``, 13 fields: ``speaker utt compression source
  attack key trim subset vocoder task team gender_pair language`` (``-`` where not applicable).
- 2021 LA ASV keys ``keys/LA/ASV/trial_metadata.txt``, 8 fields like the CM keys with the key
  ``target``/``nontarget``/``spoof``; ASV scores ``keys/LA/ASV/ASVTorch_Kaldi/score.txt``:
  ``model trial score``. Their ids may carry the channel (``LA_0007-alaw-ita_tx``).
- In-the-Wild ``meta.csv``: ``file,speaker,label`` with labels ``bona-fide``/``spoof``.
- Generic list (CSV or TSV): ``path[,label[,attack[,speaker]]]``, optionally with a header naming
  those columns (any further named columns become conditions); or ``bonafide/`` ``spoof/`` folders.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ssd.data.datadir import write_data_dir
from ssd.utils.fileio import atomic_write

BONAFIDE, SPOOF = "bonafide", "spoof"
NONE = "-"
LA2021_FIELDS = ("speaker", "utt", "codec", "transmission", "attack", "key", "trim", "subset")
DF2021_FIELDS = ("speaker", "utt", "compression", "source", "attack", "key", "trim", "subset", "vocoder",
                 "task", "team", "gender_pair", "language")
SUBSETS = ("eval", "progress", "hidden")
TRIMS = ("notrim", "trim")
ASV_KEYS = ("target", "nontarget", SPOOF)
# Label spellings accepted in In-the-Wild and generic lists (In-the-Wild writes "bona-fide").
LABEL_SPELLINGS = {"bonafide": BONAFIDE, "bona-fide": BONAFIDE, "bona_fide": BONAFIDE, "spoof": SPOOF}
AUDIO_EXTENSIONS = (".flac", ".wav", ".ogg", ".mp3", ".m4a", ".opus", ".aiff", ".au")
FORMATS = ("la2021", "df2021", "la2021_asv", "asv2021_scores", "asvspoof2019", "itw", "list", "folders",
           "datadir")
_ID = re.compile(r"[A-Z]{2}_(?:[TDE]_)?\d+")  # the utterance/speaker id inside a channel-tagged token
_SHOW = 5


class ProtocolError(ValueError):
    """A label file is malformed or does not match its audio; the message names the file and line."""


@dataclass
class EvalProtocol:
    """The trials of one evaluation set, column-wise (a 2021 DF key has 611k rows)."""

    path: str
    format: str
    utts: list[str] = field(default_factory=list)
    labels: list[str | None] = field(default_factory=list)
    attacks: list[str] = field(default_factory=list)
    speakers: list[str] = field(default_factory=list)
    conditions: dict[str, list[str]] = field(default_factory=dict)
    lines: list[int] = field(default_factory=list)  # line in ``path``; 0 for entries of a folder
    audio: list[str] | None = None  # audio path relative to the corpus, where the format names it

    def __len__(self) -> int:
        return len(self.utts)

    @property
    def labelled(self) -> bool:
        return all(label is not None for label in self.labels)

    def where(self, i: int) -> str:
        return f"{self.path}:{self.lines[i]}" if self.lines[i] else f"{self.path}: {self.audio[i]}"

    def select(self, keep: list[int]) -> EvalProtocol:
        """The trials at positions ``keep``, in that order."""
        return EvalProtocol(self.path, self.format, [self.utts[i] for i in keep],
                            [self.labels[i] for i in keep], [self.attacks[i] for i in keep],
                            [self.speakers[i] for i in keep],
                            {k: [v[i] for i in keep] for k, v in self.conditions.items()},
                            [self.lines[i] for i in keep],
                            None if self.audio is None else [self.audio[i] for i in keep])

    def subset(self, name: str) -> EvalProtocol:
        """The trials of one 2021 subset (``eval``, ``progress``, ``hidden``)."""
        if "subset" not in self.conditions:
            raise ProtocolError(f"{self.path}: a {self.format} protocol has no subset column")
        return self.select([i for i, s in enumerate(self.conditions["subset"]) if s == name])


def _first(items: list) -> str:
    shown = ", ".join(str(x) for x in items[:_SHOW])
    return shown + (f", ... ({len(items)} in all)" if len(items) > _SHOW else "")


def _text(path: str | os.PathLike) -> str:
    """The whole file as text; a binary file is an error."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            return f.read()
    except UnicodeDecodeError as err:
        raise ProtocolError(f"{path}: not UTF-8 text ({err.reason}): not a protocol?") from None


def _lines(path: str | os.PathLike) -> Iterator[tuple[int, list[str]]]:
    """Non-blank whitespace-split lines with their numbers."""
    for number, line in enumerate(_text(path).split("\n"), 1):
        fields = line.split()
        if fields:
            yield number, fields


class _Builder:
    """Collects rows, refusing duplicate utterances; ``done`` refuses an empty protocol."""

    def __init__(self, path: str | os.PathLike, fmt: str, conditions: tuple[str, ...], with_audio: bool):
        self.protocol = EvalProtocol(str(path), fmt, conditions={c: [] for c in conditions},
                                     audio=[] if with_audio else None)
        self.seen: dict[str, str] = {}

    def add(self, where: str, line: int, utt: str, label: str | None, attack: str, speaker: str,
            conditions: dict[str, str], audio: str | None = None) -> None:
        if utt in self.seen:
            raise ProtocolError(f"{where}: utterance {utt} is already listed at {self.seen[utt]}")
        self.seen[utt] = where
        p = self.protocol
        p.utts.append(utt)
        p.labels.append(label)
        p.attacks.append(attack)
        p.speakers.append(speaker)
        p.lines.append(line)
        for name, column in p.conditions.items():
            column.append(conditions[name])
        if p.audio is not None:
            p.audio.append(audio)

    def done(self) -> EvalProtocol:
        if not self.protocol.utts:
            raise ProtocolError(f"{self.protocol.path}: the {self.protocol.format} protocol lists no trials")
        return self.protocol


def _check_choice(where: str, name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ProtocolError(f"{where}: {name} {value!r} is not one of {', '.join(allowed)}")


def _attack_of(where: str, utt: str, key: str, attack: str) -> str:
    """The attack in our convention: ``-`` for bona fide; a spoof must name its attack."""
    if key == BONAFIDE:
        if attack not in (BONAFIDE, NONE):
            raise ProtocolError(f"{where}: bona fide {utt} has attack {attack!r} "
                                "('bonafide' or '-' expected)")
        return NONE
    if attack in (BONAFIDE, NONE):
        raise ProtocolError(f"{where}: spoof {utt} has no attack ({attack!r})")
    return attack


def _read_2021_cm(path: str | os.PathLike, fmt: str, names: tuple[str, ...]) -> EvalProtocol:
    conditions = tuple(n for n in names if n not in ("speaker", "utt", "attack", "key"))
    out = _Builder(path, fmt, conditions, with_audio=False)
    for number, fields in _lines(path):
        where = f"{path}:{number}"
        if len(fields) != len(names):
            raise ProtocolError(f"{where}: a {fmt} key line has {len(names)} fields "
                                f"({' '.join(names)}), found {len(fields)}")
        row = dict(zip(names, fields, strict=True))
        _check_choice(where, "key", row["key"], (BONAFIDE, SPOOF))
        _check_choice(where, "subset", row["subset"], SUBSETS)
        _check_choice(where, "trim", row["trim"], TRIMS)
        attack = _attack_of(where, row["utt"], row["key"], row["attack"])
        out.add(where, number, row["utt"], row["key"], attack, row["speaker"], row)
    return out.done()


def read_la2021_keys(path: str | os.PathLike) -> EvalProtocol:
    """ASVspoof 2021 LA CM keys (8 fields); conditions codec, transmission, trim, subset."""
    return _read_2021_cm(path, "la2021", LA2021_FIELDS)


def read_df2021_keys(path: str | os.PathLike) -> EvalProtocol:
    """ASVspoof 2021 DF CM keys (13 fields); conditions compression, source, vocoder, subset, ..."""
    return _read_2021_cm(path, "df2021", DF2021_FIELDS)


def _plain_id(token: str) -> str:
    """``LA_E_5013670`` from ``LA_E_5013670``, ``LA_E_5013670-alaw-ita_tx`` or ``LA2021-LA_E_5013670``."""
    found = _ID.search(token)
    return found.group(0) if found else token


@dataclass(frozen=True)
class AsvTrial:
    """One line of the 2021 LA ASV keys, with its score once joined."""

    model: str  # the token as written (may carry the channel)
    trial: str  # the token as written
    utt: str  # the plain utterance id, as in the CM keys
    speaker: str  # the plain claimed speaker id
    key: str  # target, nontarget or spoof
    attack: str  # '-' for bona fide
    codec: str
    transmission: str
    subset: str
    score: float | None = None


def read_la2021_asv_keys(path: str | os.PathLike) -> list[AsvTrial]:
    """ASVspoof 2021 LA ASV keys: ``model trial codec transmission attack key trim subset``."""
    trials: list[AsvTrial] = []
    seen: dict[tuple[str, str], int] = {}
    for number, fields in _lines(path):
        where = f"{path}:{number}"
        if len(fields) != 8:
            raise ProtocolError(f"{where}: an ASV key line has 8 fields (model trial codec transmission "
                                f"attack key trim subset), found {len(fields)}")
        model, trial, codec, transmission, attack, key, _trim, subset = fields
        _check_choice(where, "ASV key", key, ASV_KEYS)
        _check_choice(where, "subset", subset, SUBSETS)
        attack = _attack_of(where, trial, SPOOF if key == SPOOF else BONAFIDE, attack)
        if (model, trial) in seen:
            raise ProtocolError(f"{where}: trial {model} {trial} is already listed on line "
                                f"{seen[model, trial]}")
        seen[model, trial] = number
        trials.append(AsvTrial(model, trial, _plain_id(trial), _plain_id(model), key, attack, codec,
                               transmission, subset))
    if not trials:
        raise ProtocolError(f"{path}: the ASV keys list no trials")
    return trials


def read_asv2021_scores(path: str | os.PathLike) -> dict[tuple[str, str], float]:
    """ASV score file ``model trial score`` (the organisers' ASVTorch_Kaldi/score.txt)."""
    scores: dict[tuple[str, str], float] = {}
    lines: dict[tuple[str, str], int] = {}
    for number, fields in _lines(path):
        where = f"{path}:{number}"
        if len(fields) != 3:
            raise ProtocolError(f"{where}: an ASV score line has 3 fields (model trial score), "
                                f"found {len(fields)}")
        model, trial, text = fields
        try:
            score = float(text)
        except ValueError:
            raise ProtocolError(f"{where}: score {text!r} of {trial} is not a number") from None
        if score != score or score in (float("inf"), float("-inf")):
            raise ProtocolError(f"{where}: score of {trial} is {text}")
        if (model, trial) in scores:
            raise ProtocolError(f"{where}: trial {model} {trial} is already scored on line "
                                f"{lines[model, trial]}")
        scores[model, trial] = score
        lines[model, trial] = number
    if not scores:
        raise ProtocolError(f"{path}: the ASV score file is empty")
    return scores


def join_asv(keys: list[AsvTrial], scores: dict[tuple[str, str], float], keys_path: str = "ASV keys",
             scores_path: str = "ASV scores") -> list[AsvTrial]:
    """Each ASV key with its score; a key without a score is an error (extra scores are ignored)."""
    unscored = [f"{t.model} {t.trial}" for t in keys if (t.model, t.trial) not in scores]
    if unscored:
        raise ProtocolError(f"{scores_path}: {len(unscored)} trial(s) of {keys_path} have no score: "
                            f"{_first(unscored)}")
    return [AsvTrial(**{**t.__dict__, "score": scores[t.model, t.trial]}) for t in keys]


def write_asv2019_scores(path: str | os.PathLike, trials: list[AsvTrial]) -> None:
    """Scored ASV trials in the 2019 ``source key score`` form that the t-DCF code reads."""
    with atomic_write(path) as f:
        for t in trials:
            if t.score is None:
                raise ValueError(f"ASV trial {t.model} {t.trial} has no score; join_asv first")
            f.write(f"{BONAFIDE if t.attack == NONE else t.attack} {t.key} {t.score!r}\n")


def _label(where: str, text: str) -> str:
    label = LABEL_SPELLINGS.get(text.strip().lower())
    if label is None:
        spellings = ", ".join(k for k, v in LABEL_SPELLINGS.items() if v == BONAFIDE)
        raise ProtocolError(f"{where}: label {text!r} is neither bona fide ({spellings}) nor spoof")
    return label


def _id_of(audio: str) -> str:
    """A Kaldi-safe utterance id from a relative audio path: no extension, no spaces or slashes."""
    stem = str(Path(audio).with_suffix(""))
    return re.sub(r"\s+", "_", stem.replace(os.sep, "-").replace("/", "-"))


def read_itw_meta(path: str | os.PathLike) -> EvalProtocol:
    """In-the-Wild ``meta.csv`` (``file,speaker,label``); utterance ids are the file names' stems."""
    out = _Builder(path, "itw", (), with_audio=True)
    rows = csv.reader(io.StringIO(_text(path)))
    header = next(rows, None)
    if header is None or [h.strip() for h in header] != ["file", "speaker", "label"]:
        raise ProtocolError(f"{path}:1: an In-the-Wild meta.csv starts with 'file,speaker,label', "
                            f"found {header!r}")
    for row in rows:
        where = f"{path}:{rows.line_num}"
        if not row:
            continue
        if len(row) != 3:
            raise ProtocolError(f"{where}: expected 3 fields (file,speaker,label), found {len(row)}")
        audio, speaker, text = (v.strip() for v in row)
        label = _label(where, text)
        out.add(where, rows.line_num, _id_of(audio), label, NONE, speaker, {}, audio)
    return out.done()


LIST_COLUMNS = ("path", "label", "attack", "speaker")


def read_list(path: str | os.PathLike) -> EvalProtocol:
    """A CSV or TSV list ``path[,label[,attack[,speaker]]]``, with or without a header naming them.

    Without a label column the set is unlabelled (scores, no metric). A header may name further
    columns; they become conditions.
    """
    text = _text(path)
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = "\t" if "\t" in first else ","
    parsed = enumerate(csv.reader(text.splitlines(), delimiter=delimiter), 1)
    rows = [(n, [v.strip() for v in row]) for n, row in parsed if any(v.strip() for v in row)]
    if not rows:
        raise ProtocolError(f"{path}: the list is empty")
    names = list(LIST_COLUMNS[: len(rows[0][1])])
    if rows[0][1][0].lower() == "path":
        names = [v.lower() for v in rows[0][1]]
        rows = rows[1:]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ProtocolError(f"{path}:1: column(s) {', '.join(duplicated)} named twice in the header")
    elif len(names) < len(rows[0][1]):
        raise ProtocolError(f"{path}:{rows[0][0]}: a list without header has at most 4 fields "
                            f"({','.join(LIST_COLUMNS)}), found {len(rows[0][1])}")
    extra = tuple(n for n in names if n not in LIST_COLUMNS)
    out = _Builder(path, "list", extra, with_audio=True)
    for number, row in rows:
        where = f"{path}:{number}"
        if len(row) != len(names):
            raise ProtocolError(f"{where}: expected {len(names)} fields ({','.join(names)}), "
                                f"found {len(row)}")
        values = dict(zip(names, row, strict=True))
        label = _label(where, values["label"]) if "label" in values else None
        attack = values.get("attack") or NONE
        if label == BONAFIDE and attack != NONE:
            raise ProtocolError(f"{where}: bona fide {values['path']} has attack {attack!r} ('-' expected)")
        out.add(where, number, _id_of(values["path"]), label, attack, values.get("speaker") or NONE,
                values, values["path"])
    return out.done()


def _audio_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)


def read_folders(path: str | os.PathLike) -> EvalProtocol:
    """``bonafide/`` and ``spoof/`` folders (``spoof/<attack>/`` names the attack); any other folder
    of audio files is an unlabelled set. Utterance ids come from the paths below ``path``."""
    root = Path(path)
    if not root.is_dir():
        raise ProtocolError(f"{root}: no such directory")
    classes = [c for c in (BONAFIDE, SPOOF) if (root / c).is_dir()]
    out = _Builder(root, "folders", (), with_audio=True)
    if not classes:
        for p in _audio_files(root):
            rel = str(p.relative_to(root))
            out.add(f"{root}: {rel}", 0, _id_of(rel), None, NONE, NONE, {}, rel)
        return out.done()
    for label in classes:
        for p in _audio_files(root / label):
            rel = p.relative_to(root)
            attack = rel.parts[1] if label == SPOOF and len(rel.parts) > 2 else NONE
            out.add(f"{root}: {rel}", 0, _id_of(str(rel)), label, attack, NONE, {}, str(rel))
    return out.done()


def detect_format(path: str | os.PathLike) -> str:
    """Which of ``FORMATS`` a label file (or folder) is, from its name and its first line."""
    path = Path(path)
    if path.is_dir():
        return "datadir" if (path / "utt2label").exists() else "folders"
    if not path.is_file():
        raise ProtocolError(f"{path}: no such file or directory")
    with open(path, encoding="utf-8", errors="replace") as f:
        first = next((line for line in f if line.strip()), "")
    if first.strip().replace(" ", "") == "file,speaker,label":
        return "itw"
    fields = first.split()
    if len(fields) == 13:
        return "df2021"
    if len(fields) == 8:
        return "la2021_asv" if fields[5] in ("target", "nontarget") else "la2021"
    if len(fields) == 5 and fields[2] == NONE:
        return "asvspoof2019"
    if len(fields) == 3 and _is_number(fields[2]) and "," not in first:
        return "asv2021_scores"
    if "," in first or "\t" in first or len(fields) == 1:
        return "list"
    raise ProtocolError(f"{path}:1: not a known protocol format ({len(fields)} fields: {first.strip()!r}); "
                        f"known: {', '.join(FORMATS)}")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


READERS = {"la2021": read_la2021_keys, "df2021": read_df2021_keys, "itw": read_itw_meta, "list": read_list,
           "folders": read_folders}


def read(path: str | os.PathLike, fmt: str | None = None) -> EvalProtocol:
    """Read a CM protocol of any format in ``READERS``, detected from the file unless ``fmt`` is given."""
    fmt = fmt or detect_format(path)
    if fmt not in READERS:
        raise ProtocolError(f"{path}: format {fmt!r} is not a CM protocol this reader knows "
                            f"({', '.join(READERS)})")
    return READERS[fmt](path)


def audio_paths(protocol: EvalProtocol, audio_root: str | os.PathLike, ext: str = ".flac") -> dict[str, str]:
    """Absolute audio path of every trial: ``audio_root/<listed path>``, or ``audio_root/<utt><ext>``
    for the ASVspoof keys. Trials whose audio is missing are an error naming the first few."""
    root = Path(audio_root).resolve()
    found: dict[str, str] = {}
    absent: list[str] = []
    for i, utt in enumerate(protocol.utts):
        p = root / (protocol.audio[i] if protocol.audio is not None else f"{utt}{ext}")
        if p.is_file():
            found[utt] = str(p)
        else:
            absent.append(f"{utt} ({protocol.where(i)})")
    if absent:
        raise ProtocolError(f"{root}: {len(absent)} of {len(protocol)} trials of {protocol.path} have no "
                            f"audio: {_first(absent)}")
    return found


def write_kaldi_dir(protocol: EvalProtocol, wavs: dict[str, str], out_dir: str | os.PathLike) -> None:
    """The Kaldi data dir of a set: wav.scp, utt2spk, one ``utt2<condition>`` per condition column,
    and for labelled sets utt2label, plus utt2attack when every spoof names its attack (the data-dir
    contract has no "unknown attack"). Unknown speakers (``-``) become the utterance itself."""
    spk = {u: (s if s != NONE else u).replace(" ", "_") for u, s in zip(protocol.utts, protocol.speakers,
                                                                       strict=True)}
    tables = {"wav.scp": {u: wavs[u] for u in protocol.utts}, "utt2spk": spk}
    if protocol.labelled:
        tables["utt2label"] = dict(zip(protocol.utts, protocol.labels, strict=True))
        pairs = zip(protocol.attacks, protocol.labels, strict=True)
        if all(attack != NONE for attack, label in pairs if label == SPOOF):
            tables["utt2attack"] = dict(zip(protocol.utts, protocol.attacks, strict=True))
    for name, column in protocol.conditions.items():
        tables[f"utt2{name}"] = {u: v.replace(" ", "_") or NONE
                                 for u, v in zip(protocol.utts, column, strict=True)}
    write_data_dir(out_dir, tables)

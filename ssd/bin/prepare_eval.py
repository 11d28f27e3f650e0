"""Kaldi data dirs of an evaluation corpus, from its published layout (stage 1 of the eval recipes).

Usage: python -m ssd.bin.prepare_eval --kind la2021|df2021|itw|custom --corpus DIR [--keys DIR] DATA

Layouts (as the organisers publish them, and as ssd.bin.make_eval_standin writes its stand-ins):

- ``la2021``, ``df2021``: ``--corpus`` is ``ASVspoof2021_{LA,DF}_eval`` (audio in ``flac/``), ``--keys``
  the track's keys folder ``keys/{LA,DF}`` (default: ``keys/<track>`` beside the corpus) with
  ``CM/trial_metadata.txt`` and, for LA, ``ASV/trial_metadata.txt`` and ``ASV/ASVTorch_Kaldi/score.txt``.
  One data dir per subset of the keys that has trials: ``DATA/eval`` (the official results),
  ``DATA/progress``, ``DATA/hidden``; LA dirs carry the ASV scores of their subset
  (``asv_scores.txt``, the 2019 form the t-DCF code reads).
- ``itw``: ``--corpus`` is ``release_in_the_wild`` with ``meta.csv`` (``file,speaker,label``).
- ``custom``: ``--corpus`` is a folder with ``list.tsv`` or ``list.csv`` (``path,label[,attack[,speaker]]``,
  paths relative to the folder), or ``bonafide/`` and ``spoof/[<attack>/]`` folders, or any folder of audio
  (unlabelled: scores, no metric); or ``--corpus`` is such a list file itself.

Every trial's audio must exist (the error names the first missing ones). Condition columns become
``utt2<name>`` tables (``utt2codec``, ``utt2speaker``, ...).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ssd.data import eval_protocols as ep

KINDS = ("la2021", "df2021", "itw", "custom")
TRACKS = {"la2021": "LA", "df2021": "DF"}

log = logging.getLogger("ssd.bin.prepare_eval")


def _keys_dir(kind: str, corpus: Path, keys: str | None) -> Path:
    return Path(keys) if keys else corpus.resolve().parent / "keys" / TRACKS[kind]


def _custom(corpus: Path) -> tuple[ep.EvalProtocol, Path]:
    """The protocol of a custom set and the folder its paths are relative to."""
    if corpus.is_file():
        return ep.read_list(corpus), corpus.parent
    for name in ("list.tsv", "list.csv"):
        if (corpus / name).is_file():
            return ep.read_list(corpus / name), corpus
    return ep.read_folders(corpus), corpus


def prepare(kind: str, corpus: str, keys: str | None, data: str) -> list[str]:
    """Write the data dirs of ``kind``; returns the names of the sets written."""
    root, out = Path(corpus), Path(data)
    if not root.exists():
        raise ep.ProtocolError(f"--corpus {root}: no such file or directory")
    if kind in TRACKS:
        keys_dir = _keys_dir(kind, root, keys)
        cm = keys_dir / "CM" / "trial_metadata.txt"
        protocol = (ep.read_la2021_keys if kind == "la2021" else ep.read_df2021_keys)(cm)
        wavs = ep.audio_paths(protocol, root / "flac")
        asv = None
        if kind == "la2021":
            asv_keys = keys_dir / "ASV" / "trial_metadata.txt"
            asv_scores = keys_dir / "ASV" / "ASVTorch_Kaldi" / "score.txt"
            if asv_keys.is_file() and asv_scores.is_file():
                asv = ep.join_asv(ep.read_la2021_asv_keys(asv_keys), ep.read_asv2021_scores(asv_scores),
                                  str(asv_keys), str(asv_scores))
            else:
                log.warning("no %s and %s: no t-DCF for this corpus", asv_keys, asv_scores)
        written = []
        for subset in ep.SUBSETS:
            part = protocol.subset(subset)
            if not len(part):
                continue
            ep.write_kaldi_dir(part, wavs, out / subset)
            if asv is not None:
                trials = [t for t in asv if t.subset == subset]
                ep.write_asv2019_scores(out / subset / "asv_scores.txt", trials)
            written.append(subset)
        return written
    if kind == "itw":
        protocol, audio_root = ep.read_itw_meta(root / "meta.csv"), root
    else:
        protocol, audio_root = _custom(root)
    ep.write_kaldi_dir(protocol, ep.audio_paths(protocol, audio_root), out / "eval")
    return ["eval"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", required=True, choices=KINDS, help="which corpus layout")
    parser.add_argument("--corpus", required=True, help="the corpus folder (or, for custom, a list file)")
    parser.add_argument("--keys", help="la2021/df2021: the keys folder of the track (keys/LA or keys/DF)")
    parser.add_argument("data", help="data root: the sets are written to DATA/<set>")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        sets = prepare(args.kind, args.corpus, args.keys, args.data)
    except (ep.ProtocolError, ValueError, OSError) as err:
        print(f"prepare_eval: error: {err}", file=sys.stderr)
        return 1
    for name in sets:
        count = sum(1 for _ in open(Path(args.data) / name / "wav.scp"))
        log.info("%s/%s: %d trials", args.data, name, count)
    print(" ".join(sets))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Fuse the scores of several experiments into a new experiment directory, as stage 4 does with --fuse-with.

Example::

    python -m ssd.bin.fuse --exp-dirs exp/ocsoftmax_vanilla exp/lfcc_gmm --sets dev eval \\
        --out-dir exp/ocsoftmax_vanilla+lfcc_gmm

Reads EXP_DIR/scores/<set>.txt of every experiment, standardises each by the mean and standard deviation
of its own scores on --norm-set (dev by default), averages them with equal weights, and writes
OUT_DIR/scores/<set>.txt (``utt attack key score``, in the first experiment's order), OUT_DIR/fusion.json
(the members and their statistics) and OUT_DIR/model_info.json (the members' parameters). The experiments
must score the same trials with the same labels; any mismatch is an error naming the file and utterance,
and nothing is written.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from ssd.metrics.fusion import FUSION_FILE, fuse, score_lines, standardiser
from ssd.metrics.scorefiles import read_cm_scores
from ssd.utils.cli import run_logged
from ssd.utils.fileio import atomic_write

log = logging.getLogger("ssd.bin.fuse")


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--exp-dirs", nargs="+", required=True, type=Path, metavar="DIR",
                        help="experiments to fuse (at least two), each with scores/<set>.txt")
    parser.add_argument("--sets", nargs="+", default=["dev", "eval"], help="sets to fuse (default: dev eval)")
    parser.add_argument("--norm-set", default="dev",
                        help="set whose scores standardise each experiment (default: %(default)s)")
    parser.add_argument("--out-dir", required=True, type=Path, help="experiment directory to write")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = get_parser().parse_args(argv)
    command = shlex.join(["python", "-m", "ssd.bin.fuse", *(sys.argv[1:] if argv is None else argv)])
    run_logged(lambda: run(args, command), log)


def run(args: argparse.Namespace, command: str) -> None:
    if len(args.exp_dirs) < 2:
        raise ValueError(f"--exp-dirs: fusion needs at least two experiments, got {len(args.exp_dirs)}")
    norms = [standardiser(read_cm_scores(d / "scores" / f"{args.norm_set}.txt")) for d in args.exp_dirs]
    # Every set is fused before anything is written, so a bad file leaves no partial experiment behind.
    fused = {}
    for set_name in args.sets:
        systems = [read_cm_scores(d / "scores" / f"{set_name}.txt") for d in args.exp_dirs]
        fused[set_name] = score_lines(systems[0], fuse(systems, norms))
    (args.out_dir / "scores").mkdir(parents=True, exist_ok=True)
    for set_name, lines in fused.items():
        out = args.out_dir / "scores" / f"{set_name}.txt"
        with atomic_write(out) as f:
            f.writelines(lines)
        log.info("wrote %s (%d trials)", out, len(lines))
    info = {"method": "mean of scores standardised on the norm set, equal weights",
            "norm_set": args.norm_set, "command": command,
            "members": [{"exp_dir": str(d), "norm_scores": n.source, "mean": n.mean, "std": n.std}
                        for d, n in zip(args.exp_dirs, norms, strict=True)]}
    with atomic_write(args.out_dir / FUSION_FILE) as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    sizes = {str(d): _total_parameters(d) for d in args.exp_dirs}
    if all(n is not None for n in sizes.values()):  # what the fused system holds, for RESULTS.md
        with atomic_write(args.out_dir / "model_info.json") as f:
            json.dump({"parameters": sizes, "total": sum(sizes.values())}, f, indent=2)
            f.write("\n")


def _total_parameters(exp_dir: Path) -> int | None:
    """The ``total`` of an experiment's model_info.json (stage 3 writes one), or None without one."""
    try:
        total = json.loads((exp_dir / "model_info.json").read_text()).get("total")
    except (OSError, ValueError, AttributeError):
        return None
    return total if isinstance(total, int) else None


if __name__ == "__main__":
    main()

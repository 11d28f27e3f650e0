"""Train one countermeasure variant: ``python -m ssd.bin.train --config conf/train_<loss>_<variant>.yaml``.

Examples::

    python -m ssd.bin.train --config conf/train_ocsoftmax_recon.yaml --base conf/train_mini.yaml \\
        --train-dir dump/lfcc/train --dev-dir dump/lfcc/dev --exp-dir exp/ocsoftmax_recon --lambda-r 0.1
    python -m ssd.bin.train --config conf/train_ocsoftmax_all.yaml --print_config
    torchrun --nproc_per_node 4 -m ssd.bin.train --config ... --exp-dir ...   # DDP (or --ngpu 4)

A run resumes by default when ``--exp-dir`` holds ``last.pt``; ``--force`` starts afresh.
Logs go to stderr; everything else goes to the experiment directory (see ssd.training.loop).
"""

from __future__ import annotations

import os
import platform

# numpy's OpenBLAS threads (LFCC on the fly, RawBoost, codec variants in the data pipeline) spin against
# torch's on small machines: one per process here, in the loader workers too (measured on 2 cores: codec
# training at 230 samples/s with OpenBLAS's default threads, 410 with one). On x86 torch's kernels are
# MKL's, not OpenBLAS's (on aarch64 torch uses OpenBLAS too: left alone). Set before numpy is first
# imported; OPENBLAS_NUM_THREADS in the environment wins.
if platform.machine().lower() in ("x86_64", "amd64"):
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
from collections.abc import Sequence  # noqa: E402

from ssd.utils import config as config_lib  # noqa: E402
from ssd.utils.distributed import init_distributed, launch_env, shutdown  # noqa: E402

ALIASES = {
    "--lambda-r": "tasks.recon.weight",
    "--lambda-c": "tasks.conv.weight",
    "--lambda-m": "tasks.spk.weight",
    "--loss": "loss.name",
    "--train-dir": "data.train_dir",
    "--dev-dir": "data.dev_dir",
    "--batch-size": "data.batch_size",
    "--epochs": "train.epochs",
    "--device": "run.device",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that are not config keys."""
    parser.add_argument("--exp-dir", help="experiment directory (required unless --print_config)")
    parser.add_argument("--resume", action="store_true",
                        help="require resuming from EXP_DIR/last.pt (the default whenever it exists)")
    parser.add_argument("--force", action="store_true", help="discard EXP_DIR's checkpoints and start afresh")
    parser.add_argument("--ngpu", type=int, default=None,
                        help="0: CPU; 1: one GPU; N > 1: start N DDP processes on this node via torchrun")


def setup_logging(rank: int) -> None:
    """Rank 0 logs progress; other ranks only warnings, tagged with their rank."""
    tag = f"[rank {rank}] " if rank else ""
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING, stream=sys.stderr, force=True,
                        format=f"%(asctime)s {tag}(%(module)s:%(lineno)d) %(levelname)s: %(message)s")


def relaunch_with_torchrun(ngpu: int, argv: Sequence[str]) -> None:
    """Replace this process by ``torchrun --standalone --nproc_per_node ngpu -m ssd.bin.train argv``."""
    args = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ngpu}",
            "-m", "ssd.bin.train", *argv]
    logging.info("starting %d DDP processes: %s", ngpu, " ".join(args))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, args)


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        cfg, args = config_lib.parse(argv, __doc__.splitlines()[0], ALIASES, add_arguments)
    except config_lib.ConfigError as e:
        raise SystemExit(f"ssd.bin.train: {e}") from None
    if not args.exp_dir:
        raise SystemExit("ssd.bin.train: --exp-dir is required")
    launch = launch_env()
    setup_logging(launch.rank if launch else 0)
    if args.ngpu is not None:
        cfg["run"]["device"] = "cpu" if args.ngpu == 0 else "cuda"
        if args.ngpu > 1 and launch is None:
            relaunch_with_torchrun(args.ngpu, _drop_option(argv, "--ngpu"))

    from ssd.training.loop import Harness, TrainingError  # torch-heavy: after argument errors

    ctx = init_distributed(cfg["run"]["device"])
    try:
        Harness(cfg, args.exp_dir, ctx, argv=argv, resume=args.resume, force=args.force).run()
    except (TrainingError, config_lib.ConfigError, ValueError, FileNotFoundError) as e:
        logging.getLogger("ssd.bin.train").error("%s", e)
        raise SystemExit(1) from None
    finally:
        shutdown()


def _drop_option(argv: Sequence[str], name: str) -> list[str]:
    """``argv`` without ``name VALUE`` / ``name=VALUE``."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == name:
            skip = True
        elif not arg.startswith(name + "="):
            out.append(arg)
    return out


if __name__ == "__main__":
    main()

"""Training-step throughput of the multi-task model: samples/s and peak memory, efficient vs reference step.

Each configuration (variant, loss, batch, amp, allocator) runs in its own subprocess, so that its peak
memory and its allocator environment are its own. Inside it, each "path" runs on its own copy of the
same model and batch, their timed steps interleaved so that machine noise hits them alike; "vs ref" is
samples/s relative to the reference path, "cpu s" the process's CPU seconds (user + system) per step
and "cpu vs ref" the reference's CPU seconds over the path's: on a machine shared with other work the
CPU time is the steadier measure of the work a step does. Paths (each adds one change to the previous):

    reference      the paper's order of work (converter twice, full backwards), out-of-place ReLU
    efficient-s2   + the efficient S2 update (converter once, no discarded gradients)
    efficient      + in-place ReLU after BatchNorm (the code as it is)

    python bench/train_step.py                                    # paper size: vanilla + all, batch 64
    python bench/train_step.py --variants recon conv spk --losses ocsoftmax amsoftmax softmax --batch 16
    python bench/train_step.py --allocators glibc glibc-tuned jemalloc jemalloc-tuned
    python bench/train_step.py --size mini --batch 8 --frames 48 --steps 1 --warmup 1   # seconds
    python bench/train_step.py --infer --device cuda --amp none bf16     # scoring: windows/s

With ``--infer`` it times forward-only scoring (``MultiTaskModel.score`` in eval mode) of batches of
``--frames``-long windows instead: the network cost of inference, without feature reading.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

VARIANTS = {
    "vanilla": {},
    "recon": {"recon": {"weight": 0.04}},
    "conv": {"conv": {"weight": 0.0003}},
    "spk": {"spk": {"weight": 0.00005}},
    "all": {"recon": {"weight": 0.04}, "conv": {"weight": 0.0003}, "spk": {"weight": 0.00005}},
}
SIZES = {
    "paper": {},
    "mini": {"stem_channels": 8, "channels": [8, 16, 32, 64], "blocks": [1, 1, 1, 1], "pool_channels": 32,
             "embedding_dim": 32},
}
JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
# glibc serves blocks above its mmap threshold (at most 32 MiB) with fresh mmaps and unmaps them on free,
# so each step page-faults its activations in again; these keep freed memory in the heap instead.
GLIBC_TUNED = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(1 << 40),
               "MALLOC_TOP_PAD_": str(1 << 28)}
# Only large blocks kept off mmap (up to 1 GiB from the heap), the heap still trimmed as glibc does.
GLIBC_THRESHOLD = {"MALLOC_MMAP_THRESHOLD_": str(1 << 30)}
NUM_SPEAKERS = 20
PATHS = {"reference": (False, False), "efficient-s2": (True, False), "efficient": (True, True)}  # (S2, ReLU)
BONA_FRACTION = 0.1  # ASVspoof 2019 LA train: 2,580 of 25,380 utterances are bona fide


def allocator_env(name: str) -> dict[str, str] | None:
    """Environment of an allocator setting; None when it is not available on this machine."""
    if name == "glibc":
        return {}
    if name == "glibc-tuned":
        return dict(GLIBC_TUNED)
    if name == "glibc-threshold":
        return dict(GLIBC_THRESHOLD)
    if name in ("jemalloc", "jemalloc-tuned"):
        if not os.path.exists(JEMALLOC):
            return None
        env = {"LD_PRELOAD": JEMALLOC}
        if name == "jemalloc-tuned":  # never hand freed pages back to the kernel
            env["MALLOC_CONF"] = "dirty_decay_ms:-1,muzzy_decay_ms:-1"
        return env
    raise ValueError(f"unknown allocator {name!r}")


class PeakRSS:
    """Samples this process's resident set size every 5 ms while active (per-phase peaks)."""

    def __init__(self) -> None:
        self.peak = 0
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.is_set():
            with open("/proc/self/statm") as f:
                self.peak = max(self.peak, int(f.read().split()[1]) * self._page)
            time.sleep(0.005)

    def __enter__(self) -> PeakRSS:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def use_inplace_relu(enabled: bool) -> None:
    """Switches the networks between in-place ReLU (as written) and out-of-place ReLU (before the change)."""
    import types

    import torch
    import torch.nn.functional as F

    from ssd.nets import blocks, conversion, reconstruction, resnet, speaker_head

    functional = F
    if not enabled:
        functional = types.SimpleNamespace(**{k: getattr(F, k) for k in dir(F) if not k.startswith("__")})
        functional.relu = lambda x, inplace=False: torch.relu(x)
    for module in (blocks, conversion, reconstruction, resnet, speaker_head):
        module.F = functional


def _setup(spec: dict):
    """Device, config, a seeded batch with the LA bona fide fraction, speakers."""
    import torch

    torch.manual_seed(0)
    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    torch.backends.cudnn.benchmark = spec["cudnn_benchmark"]
    torch.backends.mkldnn.enabled = spec.get("onednn", "on") == "on"
    cfg = {"model": {"resnet": SIZES[spec["size"]], "input_length": spec["frames"]},
           "loss": {"name": spec["loss"]},
           "tasks": VARIANTS[spec["variant"]],
           "train": {"amp": spec["amp"], "channels_last": spec["channels_last"],
                     "compile": spec.get("compile", "none")}}
    batch = spec["batch"]
    n_bona = max(1, round(BONA_FRACTION * batch))
    g = torch.Generator().manual_seed(1)
    feats = torch.randn(batch, 60, spec["frames"], generator=g)
    labels = torch.tensor([0] * n_bona + [1] * (batch - n_bona))
    speakers = torch.randint(0, NUM_SPEAKERS, (batch,), generator=g)
    return torch.device(spec["device"]), cfg, feats, labels, speakers


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak(device, rss: PeakRSS) -> int:
    import torch

    return torch.cuda.max_memory_allocated(device) if device.type == "cuda" else rss.peak


def _use_adam(implementation: str) -> None:
    """Makes every Adam the trainer builds (in this worker process only) use ``implementation``:
    torch's default (a for-loop over the tensors on CPU), ``foreach`` or ``fused`` kernels."""
    import torch

    if implementation == "default":
        return
    base = torch.optim.Adam

    class Adam(base):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs, **{implementation: True})

    torch.optim.Adam = Adam


def run_worker(spec: dict) -> dict:
    """Times ``spec['steps']`` steps of each path after ``spec['warmup']`` warm-up steps; returns figures."""
    import torch

    from ssd.tasks.multitask import MultiTaskModel, MultiTaskTrainer

    device, cfg, feats, labels, speakers = _setup(spec)
    _use_adam(spec.get("adam", "default"))
    batch = spec["batch"]
    trainers = {}
    for path in spec["paths"]:
        torch.manual_seed(0)
        model = MultiTaskModel(cfg, num_speakers=NUM_SPEAKERS).to(device)
        step_cfg = {**cfg["train"], "efficient_step": PATHS[path][0]}
        trainers[path] = MultiTaskTrainer(model, {**cfg, "train": step_cfg})
    for path, trainer in trainers.items():
        use_inplace_relu(PATHS[path][1])
        for _ in range(spec["warmup"]):
            trainer.train_step(feats, labels, speakers)
    _sync(device)
    times = {path: [] for path in trainers}
    cpu = {path: [0.0, 0.0] for path in trainers}  # user, system seconds
    peaks = dict.fromkeys(trainers, 0)
    for _ in range(spec["steps"]):
        for path, trainer in trainers.items():
            use_inplace_relu(PATHS[path][1])
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            with PeakRSS() as rss:
                before = resource.getrusage(resource.RUSAGE_SELF)
                start = time.perf_counter()
                trainer.train_step(feats, labels, speakers)
                _sync(device)
                times[path].append(time.perf_counter() - start)
                after = resource.getrusage(resource.RUSAGE_SELF)
            cpu[path][0] += after.ru_utime - before.ru_utime
            cpu[path][1] += after.ru_stime - before.ru_stime
            peaks[path] = max(peaks[path], _peak(device, rss))
    n = spec["steps"]
    return {path: {"s_per_step": sum(t) / n, "samples_per_s": batch * n / sum(t),
                   "cpu_s_per_step": sum(cpu[path]) / n, "sys_s_per_step": cpu[path][1] / n,
                   "peak_mb": peaks[path] / 2**20} for path, t in times.items()} | {
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": torch.get_num_threads()}


def run_infer_worker(spec: dict) -> dict:
    """Times forward-only scoring of ``spec['batch']`` windows in eval mode (reported as path "score")."""
    import contextlib

    import torch

    from ssd.tasks.multitask import MultiTaskModel

    device, cfg, feats, _, _ = _setup(spec)
    model = MultiTaskModel(cfg, num_speakers=NUM_SPEAKERS).to(device).eval()
    feats = feats.to(device)
    if spec["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(spec["amp"])
    autocast = (torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext())
    with torch.inference_mode(), autocast:
        for _ in range(spec["warmup"]):
            model.score(feats)
        _sync(device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        with PeakRSS() as rss:
            start = time.perf_counter()
            for _ in range(spec["steps"]):
                model.score(feats)
            _sync(device)
            elapsed = time.perf_counter() - start
    return {"score": {"s_per_step": elapsed / spec["steps"],
                      "samples_per_s": spec["batch"] * spec["steps"] / elapsed,
                      "peak_mb": _peak(device, rss) / 2**20},
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "threads": torch.get_num_threads()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=["vanilla", "all"], choices=sorted(VARIANTS))
    parser.add_argument("--losses", nargs="+", default=["ocsoftmax"],
                        choices=["ocsoftmax", "amsoftmax", "softmax"])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--frames", type=int, default=750)
    parser.add_argument("--size", choices=sorted(SIZES), default="paper")
    parser.add_argument("--steps", type=int, default=2, help="timed steps per path")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--amp", nargs="+", default=["none"], choices=["none", "bf16", "fp16"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", default="none", metavar="BACKEND",
                        help="train.compile: torch.compile the backbone with this backend (warm-up steps "
                        "absorb the compilation; training steps only)")
    parser.add_argument("--cudnn-benchmark", action="store_true", help="let cuDNN time its algorithms")
    parser.add_argument("--adam", choices=["default", "foreach", "fused"], default="default",
                        help="Adam's implementation (default: torch's choice, a for-loop on CPU)")
    parser.add_argument("--onednn", choices=["on", "off"], default="on",
                        help="off: torch's own CPU convolutions instead of oneDNN's (torch.backends.mkldnn)")
    parser.add_argument("--paths", nargs="+", default=["reference", "efficient"], choices=list(PATHS),
                        help="efficient-s2 is skipped for variants without S2, where it is the reference")
    parser.add_argument("--allocators", nargs="+", default=["glibc"],
                        choices=["glibc", "glibc-tuned", "glibc-threshold", "jemalloc", "jemalloc-tuned"])
    parser.add_argument("--infer", action="store_true", help="time forward-only scoring instead of training")
    parser.add_argument("--in-process", action="store_true",
                        help="run every configuration in this process (quick checks; no allocator choice)")
    parser.add_argument("--json", type=Path, help="also write the figures here (one object per line)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        spec = json.loads(args.worker)
        print(json.dumps(run_infer_worker(spec) if spec["infer"] else run_worker(spec)))
        return 0

    header = (f"{'variant':8} {'loss':9} {'batch':>5} {'amp':4} {'alloc':11} {'path':12} {'s/step':>8} "
              f"{'samples/s':>9} {'vs ref':>6} {'cpu s':>8} {'sys s':>6} {'cpu vs ref':>10} {'peak MB':>8}")
    print(f"# {'scoring' if args.infer else 'training step'}: device={args.device} size={args.size} "
          f"frames={args.frames} steps={args.steps} warmup={args.warmup} channels_last={args.channels_last} "
          f"compile={args.compile} cudnn_benchmark={args.cudnn_benchmark} adam={args.adam} "
          f"onednn={args.onednn}",
          flush=True)
    print(header, flush=True)
    rows = []
    if args.in_process and args.allocators != ["glibc"]:
        parser.error("--in-process runs under this process's allocator: drop --allocators")
    for alloc in args.allocators:
        env_extra = allocator_env(alloc)
        if env_extra is None:
            print(f"# allocator {alloc}: not available here, skipped", flush=True)
            continue
        for amp in args.amp:
            for variant in args.variants:
                for loss in args.losses:
                    paths = [p for p in args.paths if p != "efficient-s2" or "conv" in VARIANTS[variant]]
                    if args.infer:
                        paths = ["score"]
                    spec = {"variant": variant, "loss": loss, "batch": args.batch, "frames": args.frames,
                            "size": args.size, "steps": args.steps, "warmup": args.warmup, "amp": amp,
                            "device": args.device, "threads": args.threads, "paths": paths,
                            "channels_last": args.channels_last, "compile": args.compile,
                            "infer": args.infer, "adam": args.adam, "onednn": args.onednn,
                            "cudnn_benchmark": args.cudnn_benchmark}
                    if args.in_process:
                        result = run_infer_worker(spec) if args.infer else run_worker(spec)
                    else:
                        env = {**os.environ, **env_extra}
                        proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)],
                                              env=env, capture_output=True, text=True)
                        if proc.returncode != 0:
                            sys.stderr.write(proc.stderr)
                            raise SystemExit(f"worker failed for {spec}")
                        result = json.loads(proc.stdout.strip().splitlines()[-1])
                    ref = result.get("reference", {})
                    for path in paths:
                        r = result[path]
                        ratio = f"{r['samples_per_s'] / ref['samples_per_s']:6.2f}" if ref else "     -"
                        cpu = f"{'-':>8} {'-':>6}"  # scoring: not measured
                        if "cpu_s_per_step" in r:
                            cpu = f"{r['cpu_s_per_step']:8.2f} {r['sys_s_per_step']:6.2f}"
                        cpu_ratio = (f"{ref['cpu_s_per_step'] / r['cpu_s_per_step']:10.2f}"
                                     if ref and r.get("cpu_s_per_step") else f"{'-':>10}")
                        print(f"{variant:8} {loss:9} {args.batch:5d} {amp:4} {alloc:11} {path:12} "
                              f"{r['s_per_step']:8.2f} {r['samples_per_s']:9.2f} {ratio} {cpu} {cpu_ratio} "
                              f"{r['peak_mb']:8.0f}", flush=True)
                    rows.append({"spec": spec, "allocator": alloc, **result})
    if args.json:
        args.json.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

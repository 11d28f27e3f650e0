"""Throughput of the LFCC feature dump on real speech, per CPU core, end to end and LFCC alone.

End to end means what a stage-2 job does: FLAC decoding, LFCC, float32 ark writing and scp publishing.
The LFCC alone is compared with a straightforward per-frame NumPy loop of the same specification
(written independently here), and the two must agree to 1e-9.

Usage: tools/venv/bin/python bench/lfcc_throughput.py [--seconds 600] [--lang en] [--repeat 5]
Audio: the Debian asterisk-core-sounds-<lang>-g722 prompts, decoded with the G722 package to 16 kHz FLAC.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one core per job, as run.pl runs them

import argparse  # noqa: E402
import math  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
from G722 import G722  # noqa: E402

from ssd.frontend.audio import read_audio  # noqa: E402
from ssd.frontend.dump import dump_lfcc  # noqa: E402
from ssd.frontend.lfcc import lfcc  # noqa: E402

FS = 16000


def lfcc_loop(x: np.ndarray, fs: int) -> np.ndarray:
    """The baseline LFCC computed frame by frame, the way a first implementation would be written."""
    win = fs // 50
    hop = win // 2
    y = np.append(x[:1], x[1:] - 0.97 * x[:-1])
    n_frames = max(1, math.ceil((len(x) - hop) / hop))
    window = np.hamming(win)
    freqs = np.linspace(0, fs / 2, 257)
    edges = np.linspace(0, fs / 2, 22)
    bank = [np.maximum(0.0, np.minimum((freqs - a) / (b - a), (c - freqs) / (c - b)))
            for a, b, c in zip(edges[:-2], edges[1:-1], edges[2:], strict=True)]
    static = np.zeros((n_frames, 20))
    for t in range(n_frames):
        frame = np.zeros(win)
        segment = y[t * hop : t * hop + win]
        frame[: len(segment)] = segment
        power = np.abs(np.fft.fft(frame * window, 512)[:257]) ** 2
        logs = np.log10(np.array([power @ tri for tri in bank]) + np.finfo(float).eps)
        for k in range(20):
            scale = math.sqrt((1 if k == 0 else 2) / 20)
            static[t, k] = scale * np.sum(logs * np.cos(math.pi * k * (2 * np.arange(20) + 1) / 40))

    def delta(m: np.ndarray) -> np.ndarray:
        out = np.zeros_like(m)
        for t in range(len(m)):
            out[t] = m[min(t + 1, len(m) - 1)] - m[max(t - 1, 0)]
        return out

    d = delta(static)
    return np.hstack([static, d, delta(d)])


def make_corpus(out_dir: Path, lang: str, seconds: float) -> list[tuple[str, Path, float]]:
    """Decode prompts to FLAC until ``seconds`` of audio; returns (utt, path, duration)."""
    sources = sorted(Path(f"/usr/share/asterisk/sounds/{lang}").glob("*.g722"))
    if not sources:
        raise SystemExit(f"no prompts found; run: apt-get install asterisk-core-sounds-{lang}-g722")
    corpus, total = [], 0.0
    for src in sources:
        pcm = np.array(G722(FS, 64000).decode(src.read_bytes()), dtype=np.int16)
        if pcm.size == 0:
            continue
        path = out_dir / f"{lang}_{src.stem}.flac"
        sf.write(path, pcm, FS, subtype="PCM_16")
        corpus.append((f"{lang}_{src.stem}", path, pcm.size / FS))
        total += pcm.size / FS
        if total >= seconds:
            break
    return corpus


def run_job(wav_scp: str, ark: str, scp: str) -> tuple[float, float, float]:
    """One stage-2 job, as ssd-compute-lfcc runs it: (audio seconds, wall seconds, CPU seconds)."""
    cpu = time.process_time()
    stats = dump_lfcc(wav_scp, f"ark,scp:{ark},{scp}", fs=FS, utt2num_frames=f"{scp}.utt2num_frames")
    return stats.audio_seconds, stats.elapsed_seconds, time.process_time() - cpu


def end_to_end(work: Path, corpus: list[tuple[str, Path, float]], jobs: int) -> tuple[float, float, float]:
    """``jobs`` parallel jobs over the corpus: (real-time factor per core by wall and by CPU time, wall s)."""
    splits = []
    for j in range(jobs):
        wav_scp = work / f"wav.{jobs}.{j}.scp"
        wav_scp.write_text("".join(f"{utt} {path}\n" for utt, path, _ in corpus[j::jobs]))
        feats = work / f"feats.{jobs}.{j}"
        splits.append((str(wav_scp), f"{feats}.ark", f"{feats}.scp"))
    start = time.perf_counter()
    with ProcessPoolExecutor(jobs) as pool:
        results = list(pool.map(run_job, *zip(*splits, strict=True)))
    wall = time.perf_counter() - start
    audio, job_wall, job_cpu = (np.array(col) for col in zip(*results, strict=True))
    return float(np.mean(audio / job_wall)), float(np.mean(audio / job_cpu)), wall


def timed(fn: Callable[[], object], audio_seconds: float, repeat: int) -> tuple[float, float, float]:
    """``fn`` in this process: (median real-time factor by wall and by CPU time, median wall s)."""
    walls, cpus = [], []
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    wall, cpu = float(np.median(walls)), float(np.median(cpus))
    return audio_seconds / wall, audio_seconds / cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0,
                        help="audio to process (default: %(default)s)")
    parser.add_argument("--lang", default="en", help="asterisk prompt language (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measure; medians are shown")
    parser.add_argument("--loop-seconds", type=float, default=60.0,
                        help="audio for the slow per-frame loop comparison (default: %(default)s)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="lfcc_bench.") as tmp:
        work = Path(tmp)
        corpus = make_corpus(work, args.lang, args.seconds)
        audio = sum(d for _, _, d in corpus)
        print(f"{len(corpus)} utterances, {audio:.0f} s of 16 kHz speech ({args.lang} asterisk prompts), "
              f"{os.cpu_count()} CPUs, 1 BLAS thread per job, median of {args.repeat} runs")
        print(f"{'measure':<46} {'jobs':>4} {'wall s':>7}   x real time per core: {'wall':>6} {'CPU':>6}")

        def row(label: str, jobs: int, rtf_wall: float, rtf_cpu: float, wall: float) -> None:
            print(f"{label:<46} {jobs:>4} {wall:>7.2f} {'':>22}{rtf_wall:>6.0f} {rtf_cpu:>6.0f}")

        end_to_end(work, corpus[:2], 1)  # warm-up: imports, FFT plans, filterbank cache
        for jobs in (1, 2):
            runs = np.array([end_to_end(work, corpus, jobs) for _ in range(args.repeat)])
            row("end to end (FLAC decode + LFCC + ark/scp)", jobs, *np.median(runs, axis=0))

        paths = [str(path) for _, path, _ in corpus]
        waves = [read_audio(p)[0] for p in paths]
        row("FLAC decode only (read_audio)", 1,
            *timed(lambda: [read_audio(p) for p in paths], audio, args.repeat))
        row("LFCC only, vectorised (ssd.frontend.lfcc)", 1,
            *timed(lambda: [lfcc(w, FS) for w in waves], audio, args.repeat))

        subset, sub_audio = [], 0.0
        for wave in waves:
            subset.append(wave)
            sub_audio += wave.size / FS
            if sub_audio >= args.loop_seconds:
                break
        fast = timed(lambda: [lfcc(w, FS) for w in subset], sub_audio, args.repeat)
        loop = timed(lambda: [lfcc_loop(w, FS) for w in subset], sub_audio, 1)
        row(f"LFCC only, vectorised, first {sub_audio:.0f} s", 1, *fast)
        row(f"LFCC only, per-frame NumPy loop, first {sub_audio:.0f} s", 1, *loop)
        diff = max(float(np.abs(lfcc(w, FS) - lfcc_loop(w, FS)).max()) for w in subset)
        print(f"vectorised / loop speed-up (CPU time): {fast[1] / loop[1]:.0f}x; "
              f"max abs difference {diff:.2e}")
        if diff > 1e-9:
            raise SystemExit(f"vectorised and per-frame LFCC disagree: max abs difference {diff:.3e}")


if __name__ == "__main__":
    main()

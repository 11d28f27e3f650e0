"""Throughput of the LFCC feature dump per CPU core: ssd's job against a plain NumPy job, and where it goes.

End to end is what one stage-2 job does (``ssd.frontend.dump.dump_features``): FLAC decoding, LFCC, float32
ark writing and scp publishing, one thread. The reference job does the same work the plain way:
``soundfile.read``, a loop over frames with each frame's LFCC vectorised in NumPy (written independently
here from DESIGN.md's definition), ``kaldiio.save_ark``. The two jobs alternate in one process, so their
ratio holds up on a loaded machine even when the absolute figures do not. The stage split times each
step of ssd's job on its own (the staged LFCC is checked to equal ``lfcc`` bit for bit).

Usage: tools/venv/bin/python bench/lfcc_throughput.py [--wav-scp FILE] [--utts 400] [--repeat 5]
Audio: the first ``--utts`` entries of a wav.scp (e.g. the mini corpus's), or by default ``--utts``
Asterisk prompts of 1.5-5 s spread over every installed voice, decoded from G.722 to 16 kHz FLAC.
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
from pathlib import Path  # noqa: E402

import kaldiio  # noqa: E402
import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from ssd.data.ark_writer import ArkScpWriter  # noqa: E402
from ssd.data.datadir import read_scp  # noqa: E402
from ssd.frontend import lfcc as ssd_lfcc  # noqa: E402
from ssd.frontend.audio import read_audio  # noqa: E402
from ssd.frontend.dump import dump_features  # noqa: E402

FS = 16000


def reference_lfcc(x: np.ndarray, fs: int) -> np.ndarray:
    """The baseline LFCC the plain way: one frame at a time, each frame's arithmetic vectorised."""
    win = fs // 50
    hop = win // 2
    y = np.append(x[:1], x[1:] - 0.97 * x[:-1])
    n_frames = max(1, math.ceil((len(x) - hop) / hop))
    window = np.hamming(win)
    freqs = np.linspace(0, fs / 2, 257)
    edges = np.linspace(0, fs / 2, 22)
    bank = np.stack([np.maximum(0.0, np.minimum((freqs - a) / (b - a), (c - freqs) / (c - b)))
                     for a, b, c in zip(edges[:-2], edges[1:-1], edges[2:], strict=True)], axis=1)
    k = np.arange(20)[:, None]
    dct = np.sqrt(2 / 20) * np.cos(np.pi * k * (2 * np.arange(20) + 1) / 40)
    dct[0] /= np.sqrt(2)
    static = np.empty((n_frames, 20))
    for t in range(n_frames):
        frame = y[t * hop : t * hop + win]
        power = np.abs(np.fft.rfft(frame * window[: len(frame)], 512)) ** 2
        static[t] = dct @ np.log10(power @ bank + np.finfo(float).eps)

    def delta(m: np.ndarray) -> np.ndarray:
        edged = np.pad(m, ((1, 1), (0, 0)), mode="edge")
        return edged[2:] - edged[:-2]

    d = delta(static)
    return np.hstack([static, d, delta(d)])


def reference_job(entries: list[tuple[str, str]], ark: str, scp: str) -> None:
    """The reference stage-2 job: decode, LFCC, float32 ark and scp, as a first version would."""
    with open(ark, "wb") as ark_f, open(scp, "w") as scp_f:
        for utt, path in entries:
            x, fs = sf.read(path, dtype="float64")
            kaldiio.save_ark(ark_f, {utt: reference_lfcc(x, fs).astype(np.float32)}, scp=scp_f)
        ark_f.flush()
        os.fsync(ark_f.fileno())


def staged_lfcc(x: np.ndarray, fs: int, clock: dict[str, float]) -> np.ndarray:
    """``ssd.frontend.lfcc.lfcc``'s steps one by one with a timer each (its buffers and block size)."""
    tick = time.process_time
    t0 = tick()
    win, hop = ssd_lfcc.frame_geometry(fs)
    total, block = ssd_lfcc.num_frames(x.size, fs), ssd_lfcc.BLOCK_FRAMES
    ws = ssd_lfcc._workspace(fs, block)
    out = np.empty((total, ssd_lfcc.FEATURE_DIM))
    steps = {"framing (pre-emphasis, window)": 0.0, "FFT": 0.0, "power": 0.0, "filterbank": 0.0,
             "log, DCT": 0.0}
    for first in range(0, total, block):
        n = min(block, total - first)
        t1 = tick()
        start = first * hop
        stop = min(x.size, start + (n - 1) * hop + win)
        e, length = ws.emphasised, stop - start
        if start == 0:
            e[0] = x[0]
            np.multiply(x[: length - 1], -ssd_lfcc.PREEMPHASIS, out=e[1:length])
            e[1:length] += x[1:length]
        else:
            np.multiply(x[start - 1 : stop - 1], -ssd_lfcc.PREEMPHASIS, out=e[:length])
            e[:length] += x[start:stop]
        e[length : (n - 1) * hop + win] = 0.0
        np.multiply(ws.frames[:n, : ws.used], ws.window[: ws.used], out=ws.padded[:n, : ws.used])
        t2 = tick()
        np.fft.rfft(ws.padded[:n], axis=1, out=ws.spectrum[:n])
        t3 = tick()
        np.square(ws.spectrum.real[:n], out=ws.power[:n])
        np.square(ws.spectrum.imag[:n], out=ws.scratch[:n])
        np.add(ws.power[:n], ws.scratch[:n], out=ws.power[:n])
        t4 = tick()
        np.matmul(ws.power[:n], ws.filterbank, out=ws.energies[:n])
        t5 = tick()
        np.log10(ws.energies[:n] + ssd_lfcc.LOG_FLOOR, out=ws.energies[:n])
        np.matmul(ws.energies[:n], ws.dct, out=ws.ceps[:n])
        out[first : first + n, :20] = ws.ceps[:n]
        t6 = tick()
        for step, begin, end in zip(steps, (t1, t2, t3, t4, t5), (t2, t3, t4, t5, t6), strict=True):
            steps[step] += end - begin
    t7 = tick()
    ssd_lfcc._delta_into(out[:, :20], out[:, 20:40])
    ssd_lfcc._delta_into(out[:, 20:40], out[:, 40:])
    t8 = tick()
    steps["set-up, Python, timers"] = (t7 - t0) - sum(steps.values())
    steps["deltas"] = t8 - t7
    for step, seconds in steps.items():
        clock[step] = clock.get(step, 0.0) + seconds
    return out


def prompt_corpus(out_dir: Path, utts: int) -> list[tuple[str, str]]:
    """``utts`` Asterisk prompts of 1.5-5 s, evenly spread over every installed voice, as 16 kHz FLAC."""
    from G722 import G722

    from ssd.data.mini_la.sources import voice_dirs

    prompts = [p for voice in voice_dirs() for p in sorted(voice.glob("*.g722"))
               if 1.5 * FS <= 2 * p.stat().st_size <= 5 * FS]  # G.722 at 64 kbit/s: 2 samples a byte
    if len(prompts) < utts:
        raise SystemExit(f"found {len(prompts)} Asterisk prompts of 1.5-5 s, need {utts}; install them "
                         "with: apt-get install asterisk-core-sounds-en-g722 (and -es, -fr, -it, -ru)")
    entries = []
    for i in np.linspace(0, len(prompts) - 1, utts).round().astype(int):
        src = prompts[i]
        utt = f"{src.parent.name}_{src.stem}"
        pcm = np.array(G722(FS, 64000).decode(src.read_bytes()), dtype=np.int16)
        sf.write(out_dir / f"{utt}.flac", pcm, FS, subtype="PCM_16")
        entries.append((utt, str(out_dir / f"{utt}.flac")))
    return entries


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall, CPU) seconds of one call."""
    start, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wav-scp", help="audio to use (default: Asterisk prompts decoded to FLAC)")
    parser.add_argument("--utts", type=int, default=400, help="utterances (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=5, help="alternating runs per job; medians shown")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="lfcc_bench.") as tmp:
        work = Path(tmp)
        entries = read_scp(args.wav_scp)[: args.utts] if args.wav_scp else prompt_corpus(work, args.utts)
        wav_scp = work / "wav.scp"
        wav_scp.write_text("".join(f"{utt} {path}\n" for utt, path in entries))
        waves = [read_audio(path, utt, expected_fs=FS)[0] for utt, path in entries]
        audio = sum(w.size for w in waves) / FS
        print(f"{len(entries)} utterances, {audio:.0f} s of 16 kHz audio "
              f"({args.wav_scp or 'Asterisk prompts'}), 1 thread, {args.repeat} alternating runs, medians; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

        diff = max(float(np.abs(ssd_lfcc.lfcc(w, FS) - reference_lfcc(w, FS)).max()) for w in waves)
        if diff > 1e-9:
            raise SystemExit(f"ssd and reference LFCC disagree: max abs difference {diff:.3e}")

        def ssd_job() -> None:
            dump_features(wav_scp, f"ark,scp:{work}/ssd.ark,{work}/ssd.scp", fs=FS,
                      utt2num_frames=work / "utt2num_frames")

        measures: dict[str, Callable[[], object]] = {
            "end to end, ssd (dump_features)": ssd_job,
            "end to end, reference job": lambda: reference_job(entries, f"{work}/ref.ark", f"{work}/ref.scp"),
            "LFCC only, ssd": lambda: [ssd_lfcc.lfcc(w, FS) for w in waves],
            "LFCC only, reference": lambda: [reference_lfcc(w, FS) for w in waves],
        }
        ssd_job()  # warm-up: imports, FFT plans, filterbank cache
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in measures}
        for _ in range(args.repeat):
            for name, fn in measures.items():
                runs[name].append(timed(fn))
        print("\n| measure | wall s | x real time (wall) | x real time (CPU) |\n|---|---|---|---|")
        median = {name: np.median(np.array(r), axis=0) for name, r in runs.items()}
        for name, (wall, cpu) in median.items():
            print(f"| {name} | {wall:.2f} | {audio / wall:.0f} | {audio / cpu:.0f} |")
        for what, (ours, ref) in {"end to end": ("end to end, ssd (dump_features)",
                                                 "end to end, reference job"),
                                  "LFCC only": ("LFCC only, ssd", "LFCC only, reference")}.items():
            ratios = [r[1] / o[1] for o, r in zip(runs[ours], runs[ref], strict=True)]
            print(f"{what}: ssd / reference speed (CPU time), median of the {args.repeat} paired runs: "
                  f"{np.median(ratios):.2f} (range {min(ratios):.2f}-{max(ratios):.2f})")
        print(f"ssd and reference LFCC agree to {diff:.1e}")

        feats = [ssd_lfcc.lfcc(w, FS) for w in waves]
        clock: dict[str, float] = {}
        split = {"decode (read_audio)": 0.0, "LFCC": 0.0, "float32 + ark/scp write": 0.0}
        for _ in range(args.repeat):
            split["decode (read_audio)"] += timed(lambda: [read_audio(p, u, expected_fs=FS)
                                                          for u, p in entries])[1]
            staged = [staged_lfcc(w, FS, clock) for w in waves]

            def write() -> None:
                with ArkScpWriter(f"ark,scp:{work}/split.ark,{work}/split.scp") as writer:
                    for (utt, _), f in zip(entries, feats, strict=True):
                        writer.write(utt, f.astype(np.float32))

            split["float32 + ark/scp write"] += timed(write)[1]
        if not all(np.array_equal(a, b) for a, b in zip(staged, feats, strict=True)):
            raise SystemExit("the staged LFCC of the split no longer equals ssd.frontend.lfcc.lfcc")
        split["LFCC"] = sum(clock.values())
        total = sum(split.values())
        print(f"\nStage split of ssd's job (CPU time, {args.repeat} runs):\n"
              "| stage | us per s of audio | share |\n|---|---|---|")
        for stage, seconds in split.items():
            print(f"| {stage} | {seconds / args.repeat / audio * 1e6:.0f} | {seconds / total:.0%} |")
            if stage == "LFCC":
                for step, s in clock.items():
                    print(f"| - {step} | {s / args.repeat / audio * 1e6:.0f} | {s / total:.0%} |")


if __name__ == "__main__":
    main()

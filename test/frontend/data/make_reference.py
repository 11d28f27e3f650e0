"""Regenerate the LFCC test fixtures: real speech clips and the baseline MATLAB code's output under Octave.

Not run by the test suite (it needs Octave and the organisers' MATLAB files); see README.md here.
Usage: python test/frontend/data/make_reference.py --matlab-dir DIR [--out test/frontend/data]
where DIR holds the ASVspoof 2019 baseline's ``extract_lfcc.m`` and ``deltas.m``.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from G722 import G722

SOURCE = Path("/usr/share/asterisk/sounds/en/agent-incorrect.g722")
FS = 16000
# name -> (first sample in the decoded prompt, number of samples)
CLIPS = {
    "speech_100": (2000, 100),
    "speech_161": (1600, 161),
    "speech_320": (3300, 320),
    "speech_480": (5000, 480),
    "speech_1600": (40000, 1600),
    "speech_12347": (57000, 12347),
    "speech_16000": (14000, 16000),
}


def synthetic_inputs() -> dict[str, tuple[np.ndarray, int]]:
    """Edge cases: digital silence, DC, Nyquist, an impulse, float noise; 8 kHz; 32 kHz (frames > NFFT)."""
    rng = np.random.default_rng(2019)
    impulse = np.zeros(483)
    impulse[200] = 1.0
    return {
        "silence_800": (np.zeros(800), FS),
        "dc_1000": (np.full(1000, 0.5), FS),
        "nyquist_700": (np.where(np.arange(700) % 2 == 0, 1.0, -1.0), FS),
        "impulse_483": (impulse, FS),
        "noise_4321": (rng.uniform(-1.0, 1.0, 4321), FS),
        "single_1": (np.array([0.3]), FS),
        "noise8k_2000": (rng.uniform(-1.0, 1.0, 2000), 8000),
        "noise32k_3000": (rng.uniform(-1.0, 1.0, 3000), 32000),
    }


def octave_equivalent(x: np.ndarray, fs: int) -> np.ndarray:
    """Input on which MATLAB yields the frames that ``ssd`` defines for ``x``.

    MATLAB returns no frame for half a window or less. Continuing ``x`` with x[n] = 0.97 x[n-1] up to
    half a window + 1 samples makes the pre-emphasised tail exactly zero, i.e. the zero padding that
    ``ssd`` applies after pre-emphasis, so MATLAB's single frame is ours.
    """
    need = fs // 100 + 1
    if x.size >= need:
        return x
    tail = x[-1] * 0.97 ** np.arange(1, need - x.size + 1)
    return np.concatenate([x, tail])


DRIVER = r"""
pkg load signal; pkg load fuzzy-logic-toolkit;
addpath('{matlab_dir}');
cases = strsplit(fileread('{work}/cases.txt'), "\n");
for i = 1:numel(cases)
  c = strsplit(strtrim(cases{{i}}), ' ');
  if numel(c) < 3, continue; end
  if strcmp(c{{2}}, 'flac')
    [x, fs] = audioread(c{{3}});
  else
    fid = fopen(c{{3}}, 'r'); x = fread(fid, Inf, 'double'); fclose(fid); fs = str2double(c{{4}});
  end
  [s, d, dd] = extract_lfcc(x, fs, 20, 512, 20);
  m = [s d dd];
  fid = fopen(['{work}/' c{{1}} '.out'], 'w'); fwrite(fid, size(m), 'double'); fwrite(fid, m', 'double');
  fclose(fid);
end
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matlab-dir", required=True, type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args()

    prompt = np.array(G722(FS, 64000).decode(SOURCE.read_bytes()), dtype=np.int16)
    with tempfile.TemporaryDirectory() as work:
        lines = []
        inputs: dict[str, np.ndarray] = {}
        for name, (start, length) in CLIPS.items():
            clip = prompt[start : start + length]
            flac = args.out / f"{name}.flac"
            sf.write(flac, clip, FS, subtype="PCM_16")
            x = clip.astype(np.float64) / 32768.0
            if x.size > FS // 100:
                lines.append(f"{name} flac {flac.resolve()}")
            else:
                raw = Path(work) / f"{name}.f64"
                octave_equivalent(x, FS).tofile(raw)
                lines.append(f"{name} raw {raw} {FS}")
        for name, (x, fs) in synthetic_inputs().items():
            inputs[f"{name}.input"] = x
            inputs[f"{name}.fs"] = np.array(fs)
            raw = Path(work) / f"{name}.f64"
            octave_equivalent(x, fs).tofile(raw)
            lines.append(f"{name} raw {raw} {fs}")
        Path(work, "cases.txt").write_text("\n".join(lines) + "\n")
        driver = DRIVER.format(matlab_dir=args.matlab_dir.resolve(), work=work)
        subprocess.run(["octave-cli", "--no-gui", "-q", "--eval", driver], check=True)

        refs = dict(inputs)
        for line in lines:
            name = line.split()[0]
            raw = np.fromfile(Path(work) / f"{name}.out", dtype=np.float64)
            rows, cols = int(raw[0]), int(raw[1])
            refs[f"{name}.lfcc"] = raw[2:].reshape(rows, cols)
    np.savez_compressed(args.out / "octave_lfcc.npz", **refs)


if __name__ == "__main__":
    main()

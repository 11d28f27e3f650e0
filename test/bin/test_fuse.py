"""python -m ssd.bin.fuse: every set fused with statistics of the norm set, written whole or not at all."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np


def _experiment(root, name, scores_by_set):
    for set_name, rows in scores_by_set.items():
        path = root / name / "scores" / f"{set_name}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{u} {a} {k} {s!r}\n" for u, a, k, s in rows))
    return root / name


def _fuse(*args):
    return subprocess.run([sys.executable, "-m", "ssd.bin.fuse", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def _trials(prefix, n, rng, shift):
    keys = ["bonafide" if i % 2 else "spoof" for i in range(n)]
    return [(f"{prefix}{i:02d}", "-" if k == "bonafide" else "A01", k,
             float(rng.normal() + shift * (k == "bonafide"))) for i, k in enumerate(keys)]


def test_each_set_is_standardised_with_the_norm_sets_statistics(tmp_path, rng):
    a = {"dev": _trials("D", 20, rng, 2.0), "eval": _trials("E", 30, rng, 1.0)}
    # The second system is the first on another scale, in another order, plus noise on eval only.
    b = {"dev": [(u, at, k, 40.0 * s + 3.0) for u, at, k, s in reversed(a["dev"])],
         "eval": [(u, at, k, 40.0 * (s + 0.5 * rng.normal()) + 3.0) for u, at, k, s in a["eval"]]}
    out = tmp_path / "fused"
    result = _fuse("--exp-dirs", _experiment(tmp_path, "a", a), _experiment(tmp_path, "b", b),
                   "--out-dir", out)
    assert result.returncode == 0, result.stderr
    dev_a = np.array([s for *_, s in a["dev"]])
    mean, std = dev_a.mean(), dev_a.std()
    lines = (out / "scores" / "eval.txt").read_text().splitlines()
    assert [line.split()[:3] for line in lines] == [[u, at, k] for u, at, k, _ in a["eval"]]
    expected = [((sa - mean) / std + (sb - (40.0 * mean + 3.0)) / (40.0 * std)) / 2
                for (*_, sa), (*_, sb) in zip(a["eval"], b["eval"], strict=True)]
    np.testing.assert_allclose([float(line.split()[3]) for line in lines], expected, atol=1e-7)
    dev = [float(line.split()[3]) for line in (out / "scores" / "dev.txt").read_text().splitlines()]
    np.testing.assert_allclose(dev, (dev_a - mean) / std, atol=1e-7)
    info = json.loads((out / "fusion.json").read_text())
    assert info["norm_set"] == "dev" and [m["exp_dir"] for m in info["members"]] == [
        str(tmp_path / "a"), str(tmp_path / "b")]
    np.testing.assert_allclose([info["members"][1]["mean"], info["members"][1]["std"]],
                               [40.0 * mean + 3.0, 40.0 * std])


def test_a_bad_set_leaves_nothing_behind(tmp_path, rng):
    a = {"dev": _trials("D", 10, rng, 2.0), "eval": _trials("E", 10, rng, 1.0)}
    b = {"dev": a["dev"], "eval": a["eval"][:-1]}
    out = tmp_path / "fused"
    result = _fuse("--exp-dirs", _experiment(tmp_path, "a", a), _experiment(tmp_path, "b", b),
                   "--out-dir", out)
    assert result.returncode == 1
    assert "b/scores/eval.txt and " in result.stderr and "do not score the same trials" in result.stderr
    assert not out.exists()
    missing = _fuse("--exp-dirs", tmp_path / "a", tmp_path / "nosuch", "--out-dir", out)
    assert missing.returncode == 1 and "nosuch/scores/dev.txt" in missing.stderr
    alone = _fuse("--exp-dirs", tmp_path / "a", "--out-dir", out)
    assert alone.returncode == 1 and "fusion needs at least two experiments, got 1" in alone.stderr
    assert not out.exists()

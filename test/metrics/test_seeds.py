"""Multi-seed aggregation: paired differences by hand, and stage 5 over <tag>_s<seed> directories."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ssd.bin.results import main
from ssd.metrics.seeds import paired_difference, split_tag


def test_paired_difference_by_hand():
    pair = paired_difference({0: 0.10, 1: 0.12, 2: 0.11, 7: 0.5}, {0: 0.15, 1: 0.16, 2: 0.17})
    assert pair.seeds == (0, 1, 2)  # seed 7 has no baseline run
    assert pair.mean == pytest.approx(-0.05)
    half = 4.302652729911275 * 0.01 / math.sqrt(3)  # t quantile 0.975 with 2 degrees of freedom
    assert pair.interval == (pytest.approx(-0.05 - half), pytest.approx(-0.05 + half))
    assert pair.distinguishable
    assert pair.verdict() == "distinguishable from seed noise (the 95 % interval excludes 0)"
    noisy = paired_difference({0: 0.10, 1: 0.20}, {0: 0.15, 1: 0.14})
    assert noisy.distinguishable is False and "not distinguishable" in noisy.verdict()
    single = paired_difference({3: 0.1}, {3: 0.2})
    assert single.interval is None and single.distinguishable is None
    with pytest.raises(ValueError, match="no seed is shared"):
        paired_difference({0: 0.1}, {1: 0.1})


def test_tags_must_carry_the_seed():
    assert split_tag("mtl_all_s12") == ("mtl_all", 12)
    with pytest.raises(ValueError, match="vanilla: .* must be named <tag>_s<seed>"):
        split_tag("vanilla")


def _write_scores(path, rng, separation):
    lines = [f"b{i} - bonafide {rng.normal(separation, 1):.5f}" for i in range(150)]
    lines += [f"s{i} A07 spoof {rng.normal(0, 1):.5f}" for i in range(150)]
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(lines) + "\n")


def test_stage5_aggregates_seeds_and_pairs_variants(tmp_path, monkeypatch, rng, ref):
    monkeypatch.chdir(tmp_path)
    eers: dict[str, list[float]] = {"vanilla": [], "better": []}
    for seed in range(3):
        for variant, separation in (("vanilla", 1.0), ("better", 3.0)):
            path = tmp_path / "exp" / f"{variant}_s{seed}" / "scores" / "eval.txt"
            _write_scores(path, rng, separation)
            rows = [line.split() for line in path.read_text().splitlines()]
            bona = [float(r[3]) for r in rows if r[2] == "bonafide"]
            eers[variant].append(ref.eer(bona, [float(r[3]) for r in rows if r[2] == "spoof"])[0])
    exp_dirs = [f"exp/{v}_s{s}" for s in range(3) for v in ("vanilla", "better")]
    rc = main(["--exp-dirs", *exp_dirs, "--data-root", "data", "--sets", "eval", "--ci", "0",
               "--calibrate-on", "none", "--aggregate-seeds", "--baseline", "vanilla"])  # fmt: skip
    assert rc == 0
    top = (tmp_path / "RESULTS.md").read_text()
    for variant, values in eers.items():
        arr = 100 * np.array(values)
        assert f"| {variant} | {arr.mean():.3f} +- {arr.std(ddof=1):.3f} (3 seeds) | n/a |" in top
    diff = 100 * (np.array(eers["better"]) - np.array(eers["vanilla"]))
    assert f"- better - vanilla, EER (%): {diff.mean():+.3f} [" in top
    assert "over seeds 0, 1, 2: distinguishable from seed noise" in top
    data = json.loads((tmp_path / "seeds.json").read_text())
    entry = data["variants"]["better"]["eval"]["eer"]
    assert entry["seeds"] == [0, 1, 2] and entry["difference_to_baseline"]["distinguishable"] is True
    assert entry["mean"] == pytest.approx(np.mean(eers["better"]))


def test_stage5_aggregates_seeds_without_a_baseline(tmp_path, monkeypatch, rng):
    """--baseline none (the recipe's choice when vanilla was not trained, e.g. the reference systems
    alone): means and deviations over seeds, no paired differences."""
    monkeypatch.chdir(tmp_path)
    for seed in range(2):
        _write_scores(tmp_path / "exp" / f"lfcc_gmm_s{seed}" / "scores" / "eval.txt", rng, 2.0)
    exp_dirs = [f"exp/lfcc_gmm_s{s}" for s in range(2)]
    common = ["--exp-dirs", *exp_dirs, "--data-root", "data", "--sets", "eval", "--ci", "0",
              "--calibrate-on", "none", "--aggregate-seeds"]  # fmt: skip
    assert main([*common, "--baseline", "none"]) == 0
    top = (tmp_path / "RESULTS.md").read_text()
    assert "| lfcc_gmm | " in top and "(2 seeds)" in top and "paired by seed" not in top
    data = json.loads((tmp_path / "seeds.json").read_text())
    eer = data["variants"]["lfcc_gmm"]["eval"]["eer"]
    assert data["baseline"] is None and eer["seeds"] == [0, 1] and "difference_to_baseline" not in eer
    assert main(common) == 1  # the default baseline, vanilla, is not there


def test_stage5_refuses_unseeded_directories_when_aggregating(tmp_path, monkeypatch, rng, caplog):
    monkeypatch.chdir(tmp_path)
    _write_scores(tmp_path / "exp" / "vanilla" / "scores" / "eval.txt", rng, 1.0)
    rc = main(["--exp-dirs", "exp/vanilla", "--data-root", "data", "--sets", "eval", "--aggregate-seeds"])
    assert rc == 1 and "vanilla: experiment directories aggregated over seeds" in caplog.text

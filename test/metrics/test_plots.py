"""Plots: probit axis values, and PNG files written atomically for each figure type."""

from __future__ import annotations

import numpy as np
import pytest

from ssd.metrics import plots
from ssd.metrics.eer import det_curve
from ssd.metrics.scorefiles import make_trials, read_cm_scores
from ssd.metrics.tdcf import AsvOperatingPoint, tdcf_curve_from_det

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_probit_is_the_normal_quantile_clipped_to_the_axes():
    values = plots.probit(np.array([0.5, 0.691462461, 0.0, 1.0]))
    assert values[0] == pytest.approx(0.0, abs=1e-12)
    assert values[1] == pytest.approx(0.5, abs=1e-6)
    assert values[2] == pytest.approx(-3.7190, abs=1e-4)  # clipped to 0.01 %
    assert values[3] == pytest.approx(0.8416, abs=1e-4)  # clipped to 80 %


def test_every_figure_is_a_png_and_leaves_no_temp_file(tmp_path, rng):
    lines = [f"b{i} - bonafide {x:.4f}" for i, x in enumerate(rng.normal(2, 1, 200))]
    lines += [f"s{i} A{7 + i % 3:02d} spoof {x:.4f}" for i, x in enumerate(rng.normal(0, 1, 300))]
    (tmp_path / "cm.txt").write_text("\n".join(lines) + "\n")
    trials = make_trials(read_cm_scores(tmp_path / "cm.txt"))
    det = det_curve(trials.bonafide_scores(), trials.spoof_scores())
    point = AsvOperatingPoint(threshold=0.0, p_fa=0.02, p_miss=0.03, p_miss_spoof=0.4)
    out = tmp_path / "plots"
    plots.plot_det_curves({"a": det, "b": det}, out / "det.png", "DET")
    plots.plot_score_histograms(trials, out / "hist.png", "histograms")
    plots.plot_tdcf_curve(det, tdcf_curve_from_det(det, point), out / "tdcf.png", "t-DCF")
    assert sorted(p.name for p in out.iterdir()) == ["det.png", "hist.png", "tdcf.png"]
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in out.iterdir())
    with pytest.raises(ValueError, match="no DET curves"):
        plots.plot_det_curves({}, out / "none.png", "DET")

"""ssd-export --onnx: onnxruntime scores real LFCC windows as torch does."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from detector_helpers import TinyExperiment, tiny_experiment

from ssd import Detector
from ssd.bin import export


@pytest.fixture(scope="module")
def ort():
    """onnxruntime, or a skip (a failure with SSD_REQUIRE_ONNX=1) when the onnx extra is missing."""
    try:
        import onnx  # noqa: F401
        import onnxruntime
    except ImportError as err:
        if os.environ.get("SSD_REQUIRE_ONNX") == "1":
            pytest.fail(f"SSD_REQUIRE_ONNX=1 but the onnx extra is missing: {err}")
        pytest.skip(f"the optional onnx extra is not installed (pip install 'ssd[onnx]'): {err}")
    return onnxruntime


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyExperiment:
    torch.set_num_threads(1)
    return tiny_experiment(tmp_path_factory)


def test_onnx_matches_torch_on_real_features(ort, tiny: TinyExperiment, tmp_path: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "model.onnx"
    assert export.main(["--onnx", str(out), "--model", str(tiny.packed)]) == 0
    assert "input feats (batch, 60, 100)" in capsys.readouterr().err
    det = Detector.load(tiny.packed)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert int(meta["ssd.window"]) == det.window == 100 and meta["ssd.input"] == "feats"
    assert int(meta["ssd.hop"]) == det.hop == 50 and meta["ssd.policy"] == "windowed"
    assert float(meta["ssd.threshold"]) == det.threshold and int(meta["ssd.fs"]) == 16000
    assert json.loads(meta["ssd.thresholds"]) == det.thresholds

    for utt in ("E_0001", "E_0003", "E_0006"):  # 3.3 s, 5.5 s (10 windows) and 0.6 s (repeat-padded)
        x, fs = sf.read(tiny.root / "corpus" / "eval" / f"{utt}.flac", dtype="float64")
        windows = det.window_batch(det.features(x, fs))
        (onnx_scores,) = session.run(["score"], {"feats": windows.numpy()})
        with torch.inference_mode():
            torch_scores = det.model.score(windows).numpy()
        assert onnx_scores.shape == (windows.shape[0],)
        np.testing.assert_allclose(onnx_scores, torch_scores, rtol=0, atol=1e-4)
        assert float(np.mean(onnx_scores, dtype=np.float64)) == pytest.approx(det.score(x, fs), abs=1e-4)


def test_export_of_a_broken_model_fails_clearly(tiny: TinyExperiment, tmp_path: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 not really")
    assert export.main(["--onnx", str(tmp_path / "m.onnx"), "--model", str(broken)]) == 1
    assert "broken.zip: not a readable zip archive" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()

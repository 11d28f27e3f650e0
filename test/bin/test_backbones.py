"""Every registered backbone trains through ssd.bin.train (vanilla and one auxiliary task), scores through
ssd.bin.infer and ssd-detect, and exports to ONNX: LFCC dumps for LCNN, raw audio for RawNet2 and AASIST."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from helpers import CONF, write_audio_dir

from ssd.bin.infer import main as infer_main
from ssd.bin.train import main as train_main
from ssd.detector import Detector
from ssd.packing import pack_experiment
from ssd.utils.checkpoint import load_checkpoint

FS = 16000
# Tiny sizes over each backbone's mini profile: a few thousand weights, short crops, one epoch.
TINY = {
    "lcnn": ("train_lcnn_mini.yaml", "model: {input_length: 32, lcnn: {channels: [4, 4, 8, 4, 4]}}\n"
             "eval: {hop_length: 16}\n"),
    "rawnet2": ("train_rawnet2_mini.yaml", "model:\n  input_length: 4000\n  rawnet2: {first_conv: 64, "
                "filts: [8, [8, 8], [8, 16], [16, 16]], nb_fc_node: 16, gru_node: 16}\n"
                "eval: {hop_length: 2000}\n"),
    "aasist": ("train_aasist_mini.yaml", "model:\n  input_length: 4000\n  aasist: {first_conv: 32, "
               "filts: [6, [1, 4], [4, 4], [4, 8], [8, 8]], gat_dims: [8, 6]}\neval: {hop_length: 2000}\n"),
}
AUX = {"lcnn": "conv", "rawnet2": "spk", "aasist": "recon"}  # one auxiliary task per backbone


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("audio")
    return {"train": write_audio_dir(root / "train", 24, 0, ["S1", "S2", "S3"], "U"),
            "dev": write_audio_dir(root / "dev", 10, 1, ["S9"], "D")}


@pytest.mark.parametrize("backbone", sorted(TINY))
def test_backbone_trains_vanilla_and_with_an_auxiliary_task_then_scores(backbone, dumps, audio, tmp_path):
    profile, sizes = TINY[backbone]
    base = tmp_path / "tiny.yaml"
    base.write_text(f"base: {CONF / profile}\n{sizes}train: {{epochs: 1}}\ndata: {{batch_size: 8}}\n"
                    "run: {threads: 1, log_interval: 1}\n")
    data = dumps if backbone == "lcnn" else audio
    for variant in ("vanilla", AUX[backbone]):
        exp = tmp_path / f"exp_{variant}"
        train_main(["--config", str(CONF / f"train_ocsoftmax_{variant}.yaml"), "--base", str(base),
                    "--train-dir", str(data["train"]), "--dev-dir", str(data["dev"]), "--exp-dir", str(exp)])
        state = load_checkpoint(exp / "best.pt")
        assert state["config"]["model"]["backbone"] == backbone
        networks = {k.split(".")[0] for k in state["model"]} - {"backbone", "cm_loss"}
        assert networks == {"vanilla": set(), "conv": {"converter"}, "spk": {"speaker_head"},
                            "recon": {"decoder"}}[variant]
        infer_main(["--exp-dir", str(exp), "--data-dir", str(data["dev"]),
                    "--out", str(exp / "scores" / "dev.txt")])
        lines = (exp / "scores" / "dev.txt").read_text().split("\n")[:-1]
        assert len(lines) == (16 if backbone == "lcnn" else 10)
        assert all(np.isfinite(float(line.split()[3])) for line in lines)
    if backbone != "lcnn":  # a waveform model scores a file as stage 4 does and exports its waveform input
        detector = Detector.load(exp)
        wav = audio["dev"] / "wav" / "D0003.wav"
        stage4 = float(next(line for line in lines if line.startswith("D0003 ")).split()[3])
        assert detector.score_files([str(wav)])[0].score == pytest.approx(stage4, rel=1e-5, abs=1e-6)
        assert detector.frontend.name == "raw" and detector.window == 4000
        onnxruntime = pytest.importorskip("onnxruntime")
        pack_experiment(exp, tmp_path / "m.zip", require_threshold=False)  # no stage 5: no threshold
        detector = Detector.load(tmp_path / "m.zip")
        assert detector.threshold is None
        detector.export_onnx(tmp_path / "m.onnx")
        session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"))
        meta = session.get_modelmeta().custom_metadata_map
        assert (meta["ssd.threshold"], meta["ssd.threshold_name"]) == ("None", "")
        wave, _ = sf.read(wav, dtype="float64")
        batch = detector.window_batch(detector.features(wave, FS))
        assert batch.shape[1:] == (4000,) and session.get_inputs()[0].name == "waveform"
        with torch.inference_mode():
            expected = detector.scorer()(batch).numpy()
        got = session.run(None, {"waveform": batch.numpy()})[0]
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_s2_on_a_waveform_backbone_is_refused_before_any_work(audio, tmp_path, capsys):
    base = tmp_path / "tiny.yaml"
    base.write_text(f"base: {CONF / TINY['aasist'][0]}\n{TINY['aasist'][1]}")
    with pytest.raises(SystemExit):
        train_main(["--config", str(CONF / "train_ocsoftmax_conv.yaml"), "--base", str(base),
                    "--train-dir", str(audio["train"]), "--dev-dir", str(audio["dev"]),
                    "--exp-dir", str(tmp_path / "exp")])
    assert "S2 has nothing to convert" in capsys.readouterr().err


def test_wave_table_checks_every_file_and_caches_only_what_fits(audio):
    from ssd.data.dataset import WaveTable

    d = audio["dev"]
    cached = WaveTable(d / "wav.scp", d / "utt2label", d / "utt2spk", ["S9"])
    lazy = WaveTable(d / "wav.scp", d / "utt2label", cache="auto", cache_max_gb=1e-9)
    assert cached.cached and not lazy.cached and len(lazy) == 10
    np.testing.assert_array_equal(lazy.num_frames, cached.num_frames)
    np.testing.assert_array_equal(lazy.feats(3), cached.feats(3))
    assert cached.feats(3).shape == (cached.num_frames[3], 1) and cached.speakers.tolist() == [0] * 10
    (d / "broken.scp").write_text(f"D0000 {d / 'wav' / 'missing.wav'}\n")
    with pytest.raises(ValueError, match="D0000"):
        WaveTable(d / "broken.scp", d / "utt2label")

"""The recipe with the ssl front end on the ci mini corpus: a tiny randomly initialised XLS-R-layout
encoder + AASIST-SSL, stages 2-6 (stage 2 lists the audio as for raw models; no LFCC-GMM row), the
packed model scoring a file with ssd-detect as stage 4 did, and its ONNX export scoring as torch does."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from helpers import CONF, link_recipe, run_recipe

from ssd.detector import Detector

pytest.importorskip("transformers", reason="the ssl extra (pip install -e '.[ssl]')")

TINY_SSL = f"""base: {CONF / 'train_mini.yaml'}
model:
  frontend: ssl
  backbone: aasist-ssl
  input_length: 8000
  ssl:
    family: wav2vec2
    architecture: {{hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 32,
                    conv_dim: [8, 8, 8], conv_kernel: [10, 3, 3], conv_stride: [5, 2, 2],
                    num_conv_pos_embeddings: 8, num_conv_pos_embedding_groups: 2, feat_extract_norm: layer,
                    do_stable_layer_norm: true}}
    layer: weighted
    freeze: false
    proj_dim: 12
  aasist-ssl: {{widths: [[1, 4], [4, 4], [4, 8], [8, 8]], gat_dims: [8, 6]}}
train: {{epochs: 1, patience: 0}}
data: {{batch_size: 16}}
eval: {{hop_length: 4000}}
"""


def test_tiny_ssl_front_end_trains_scores_and_reports_on_the_mini_corpus(mini_recipe, tmp_path):
    recipe = link_recipe(tmp_path / "recipe")
    shutil.copytree(mini_recipe / "data", recipe / "data", symlinks=True)
    profile = tmp_path / "train_tiny_ssl.yaml"
    profile.write_text(TINY_SSL)
    result = run_recipe(recipe, "--stage", "2", "--stop-stage", "6", "--train-base", str(profile),
                        "--variants", "vanilla", "--tag-prefix", "ssl_", "--systems", "")
    assert result.returncode == 0, result.stdout + result.stderr[-5000:]
    assert (recipe / "dump" / "raw" / "eval" / "wav.scp").is_file()
    assert not (recipe / "dump" / "lfcc").exists()
    scores = (recipe / "exp" / "ssl_ocsoftmax_vanilla" / "scores" / "eval.txt").read_text().splitlines()
    assert len(scores) == len((recipe / "data" / "eval" / "wav.scp").read_text().splitlines())
    assert "ssl_ocsoftmax_vanilla" in (recipe / "RESULTS.md").read_text()
    packed = recipe / "exp" / "ssl_ocsoftmax_vanilla" / "packed" / "ssl_ocsoftmax_vanilla.zip"
    utt, stage4 = scores[0].split()[0], {line.split()[0]: line.split()[-1] for line in scores}
    wav_scp = (recipe / "data" / "eval" / "wav.scp").read_text().splitlines()
    audio = dict(line.split(maxsplit=1) for line in wav_scp)
    detect = subprocess.run([sys.executable, "-m", "ssd.bin.detect", "--model", str(packed),
                             audio[utt].strip()],
                            capture_output=True, text=True, check=False)
    assert detect.returncode == 0, detect.stderr
    assert abs(float(detect.stdout.splitlines()[1].split()[1]) - float(stage4[utt])) < 1e-5, detect.stdout
    onnxruntime = pytest.importorskip("onnxruntime", reason="the onnx extra")
    onnx_file = tmp_path / "ssl.onnx"
    export = subprocess.run([sys.executable, "-m", "ssd.bin.export", "--model", str(packed), "--onnx",
                             str(onnx_file)], capture_output=True, text=True, check=False)
    assert export.returncode == 0, export.stderr
    waves = (0.1 * np.random.default_rng(0).standard_normal((3, 8000))).astype(np.float32)
    (onnx_scores,) = onnxruntime.InferenceSession(str(onnx_file)).run(["score"], {"waveform": waves})
    model = Detector.load(packed).model.eval()
    torch_scores = model.score(torch.from_numpy(waves).unsqueeze(1)).numpy()
    np.testing.assert_allclose(onnx_scores, torch_scores, rtol=0, atol=1e-5)

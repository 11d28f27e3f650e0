"""ssd.inference: whole-utterance scores do not depend on batch size or batch company."""

from __future__ import annotations

import kaldiio
import numpy as np
import pytest
import torch

from ssd.data.dataset import FeatureTable
from ssd.inference import plan_shard, score_table, table_plan
from ssd.tasks.multitask import MultiTaskModel

CFG = {"model": {"resnet": {"stem_channels": 4, "channels": [4, 8, 8, 8], "blocks": [1, 1, 1, 1],
                            "pool_channels": 8, "embedding_dim": 16}, "input_length": 32},
       "loss": {"name": "softmax"}}


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> FeatureTable:
    d = tmp_path_factory.mktemp("feats")
    rng = np.random.default_rng(0)
    lengths = [5, 31, 32, 33, 70, 100, 17, 64, 200, 45]
    feats = {f"utt{i:02d}": rng.standard_normal((n, 60)).astype(np.float32) for i, n in enumerate(lengths)}
    kaldiio.save_ark(str(d / "feats.ark"), feats, scp=str(d / "feats.scp"))
    (d / "utt2label").write_text("".join(f"{u} {'spoof' if i % 2 else 'bonafide'}\n"
                                         for i, u in enumerate(sorted(feats))))
    return FeatureTable(d / "feats.scp", d / "utt2label")


@pytest.fixture(scope="module")
def model() -> MultiTaskModel:
    torch.manual_seed(0)
    m = MultiTaskModel(CFG)
    # Non-trivial BatchNorm statistics, so that a train-mode leak would change the scores.
    m.train()
    with torch.no_grad():
        for _ in range(3):
            m.backbone(torch.randn(8, 60, 32) * 3 + 1)
    return m.eval()


def test_scores_are_batch_invariant(table: FeatureTable, model: MultiTaskModel) -> None:
    cpu = torch.device("cpu")
    alone = np.array([score_table(model, table, 32, 16, 64, cpu, indices=[i], progress=False)[0]
                      for i in range(len(table))])
    for batch_size in (1, 3, 7, 64):
        together = score_table(model, table, 32, 16, batch_size, cpu, progress=False)
        np.testing.assert_allclose(together, alone, rtol=0, atol=1e-6)
    reordered = score_table(model, table, 32, 16, 5, cpu, indices=[9, 0, 4, 2], progress=False)
    np.testing.assert_allclose(reordered, alone[[9, 0, 4, 2]], rtol=0, atol=1e-6)
    assert len(set(np.round(alone, 6))) == len(alone)  # the scores are not all the same value


def test_score_is_the_mean_over_windows(table: FeatureTable, model: MultiTaskModel) -> None:
    i = table.utts.index("utt04")  # 70 frames, windows at 0, 16, 32, 38
    feats = table.feats(i)
    windows = torch.from_numpy(np.stack([feats[s:s + 32].T for s in (0, 16, 32, 38)]).copy())
    with torch.no_grad():
        expected = model.score(windows).double().mean().item()
    got = score_table(model, table, 32, 16, 2, torch.device("cpu"), indices=[i], progress=False)[0]
    assert got == pytest.approx(expected, abs=1e-6)


def test_scoring_restores_training_mode(table: FeatureTable, model: MultiTaskModel) -> None:
    model.train()
    score_table(model, table, 32, 16, 4, torch.device("cpu"), indices=[0], progress=False)
    assert model.training
    model.eval()


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_shards_partition_the_set_and_keep_every_score_bit_for_bit(table: FeatureTable, model: MultiTaskModel,
                                                                    batch_size: int) -> None:
    cpu = torch.device("cpu")
    whole = score_table(model, table, 32, 16, batch_size, cpu, progress=False)
    for shards in (2, 3, 4, 7, 25):  # 25: more shards than batches, so some own nothing
        merged = np.full(len(table), np.nan)
        owners = np.zeros(len(table), dtype=int)
        for k in range(shards):
            part = score_table(model, table, 32, 16, batch_size, cpu, progress=False, shard=(k, shards))
            mine = table_plan(table, range(len(table)), 32, 16, batch_size, "windowed", (k, shards)).owned
            assert np.isnan(np.delete(part, mine)).all()
            merged[mine] = part[mine]
            owners[mine] += 1
        assert (owners == 1).all(), f"{shards} shards: every utterance in exactly one"
        assert merged.tobytes() == whole.tobytes(), f"{shards} shards, batch {batch_size}"


def test_shard_plan_shares_the_batches_an_utterance_spans() -> None:
    # 10 windows in batches of 4: [0-3] [4-7] [8-9]; utterances of 3, 3, 4 windows start at 0, 3, 6.
    # Shard 1 owns batch 0 (utterances 0 and 1), and scores batch 1 too, where utterance 1 ends; shard 2
    # owns batches 1-2 (utterance 2 starts there) and reads utterance 1 for its tail in batch 1.
    first, second = plan_shard([3, 3, 4], 4, 0, 2), plan_shard([3, 3, 4], 4, 1, 2)
    assert (first.owned, first.touched, first.skip, first.windows) == ([0, 1], [0, 1, 2], 0, 8)
    assert (second.owned, second.touched, second.skip, second.windows) == ([2], [1, 2], 1, 6)
    with pytest.raises(ValueError, match="shard 3 of 2"):
        plan_shard([3], 4, 2, 2)


class _MeanScorer(torch.nn.Module):
    """The cheapest model score_table accepts: a window's score is its mean."""

    def score(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(1, 2))


class _OneMatrix:
    def __init__(self, feats: np.ndarray) -> None:
        self.matrix, self.num_frames = feats, np.array([len(feats)])

    def __len__(self) -> int:
        return 1

    def feats(self, index: int) -> np.ndarray:
        return self.matrix


def test_a_long_utterance_is_scored_a_batch_of_windows_at_a_time():
    """Windows overlap (hop = half a window), so all of them together take twice the utterance; they
    are cut one batch at a time, and scoring an hour-like file holds less than its own matrix more."""
    import tracemalloc

    feats = np.random.default_rng(0).standard_normal((20_000, 60)).astype(np.float32)
    table = _OneMatrix(feats)
    tracemalloc.start()
    score = score_table(_MeanScorer(), table, 100, 50, 16, torch.device("cpu"), progress=False)[0]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    starts = [*range(0, 20_000 - 100, 50), 19_900]
    assert score == pytest.approx(np.mean([feats[s:s + 100].mean() for s in starts]), rel=1e-6)
    assert peak < 0.5 * feats.nbytes, f"peak {peak / 2**20:.1f} MiB, input {feats.nbytes / 2**20:.1f} MiB"

"""ssd.data.dataset: feature tables from real ark/scp dumps, labels, speakers, crops and padding."""

from __future__ import annotations

import os
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from ssd.data.dataset import FeatureTable, RandomCropDataset, collate_crops, read_speakers
from ssd.data.sampler import ShardedBatchSampler
from ssd.data.windows import repeat_pad

LENGTHS = {"u1": 5, "u2": 12, "u3": 40, "u4": 9, "u5": 25, "u6": 8}
SPEAKERS = {"u1": "s2", "u2": "s1", "u3": "s2", "u4": "s3", "u5": "s1", "u6": "s9"}


def _write(d: Path, feats: dict[str, np.ndarray], labels: dict[str, str], spk: dict[str, str],
           num_frames: bool = True) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    # Shuffled order in the scp: the table must still sort utterances in C order.
    order = sorted(feats, reverse=True)
    kaldiio.save_ark(str(d / "feats.ark"), {u: feats[u] for u in order}, scp=str(d / "feats.scp"))
    (d / "utt2label").write_text("".join(f"{u} {labels[u]}\n" for u in sorted(labels)))
    (d / "utt2spk").write_text("".join(f"{u} {spk[u]}\n" for u in sorted(spk)))
    if num_frames:
        (d / "utt2num_frames").write_text("".join(f"{u} {len(m)}\n" for u, m in sorted(feats.items())))
    return d


@pytest.fixture
def dump(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    feats = {u: rng.standard_normal((n, 60)).astype(np.float32) for u, n in LENGTHS.items()}
    labels = {u: "spoof" if i % 2 else "bonafide" for i, u in enumerate(sorted(LENGTHS))}
    return _write(tmp_path / "dump", feats, labels, SPEAKERS), feats


@pytest.mark.parametrize("cache", ["auto", "yes", "no"])
def test_table_reads_features_labels_and_speakers(dump: tuple[Path, dict], cache: str) -> None:
    d, feats = dump
    speakers = ["s1", "s2", "s3"]
    table = FeatureTable.from_dir(d, speakers, cache=cache, feat_dim=60)
    assert table.utts == sorted(LENGTHS)
    assert table.labels.tolist() == [0, 1, 0, 1, 0, 1]
    assert table.speakers.tolist() == [1, 0, 1, 2, 0, -1]  # s9 is unseen in training: -1
    assert table.num_frames.tolist() == [LENGTHS[u] for u in table.utts]
    assert table.cached == (cache != "no")
    for i, utt in enumerate(table.utts):
        np.testing.assert_array_equal(table.feats(i), feats[utt])


def test_table_without_utt2num_frames_and_cache_limit(tmp_path: Path, dump: tuple[Path, dict]) -> None:
    _, feats = dump
    labels = dict.fromkeys(feats, "bonafide")
    d = _write(tmp_path / "nonum", feats, labels, SPEAKERS, num_frames=False)
    table = FeatureTable.from_dir(d, cache="no")
    assert not table.cached and table.num_frames.tolist() == [LENGTHS[u] for u in table.utts]
    assert not FeatureTable.from_dir(dump[0], cache="auto", cache_max_gb=1e-9).cached


def test_training_speaker_list_is_sorted_and_unique(dump: tuple[Path, dict]) -> None:
    assert read_speakers(dump[0] / "utt2spk") == ["s1", "s2", "s3", "s9"]


@pytest.mark.parametrize("change, message", [
    ("label", "utterance u3 has label 'fake'"),
    ("nolabel", "utt2label: no entry for utterance u3"),
    ("nospk", "utt2spk: no entry for utterance u3"),
    ("dims", "utterance u3 has 20 dims, expected 60"),
])
def test_bad_inputs_name_file_and_utterance(tmp_path: Path, dump: tuple[Path, dict], change: str,
                                            message: str) -> None:
    _, feats = dump
    feats = dict(feats)
    labels = {u: "bonafide" for u in feats}
    spk = dict(SPEAKERS)
    if change == "label":
        labels["u3"] = "fake"
    elif change == "nolabel":
        del labels["u3"]
    elif change == "nospk":
        del spk["u3"]
    else:
        feats["u3"] = feats["u3"][:, :20]
    d = _write(tmp_path / change, feats, labels, spk)
    with pytest.raises(ValueError, match=message):
        FeatureTable.from_dir(d, feat_dim=60, cache="yes")


def test_missing_table_file(tmp_path: Path, dump: tuple[Path, dict]) -> None:
    (dump[0] / "utt2spk").unlink()
    with pytest.raises(FileNotFoundError, match="utt2spk is missing"):
        FeatureTable.from_dir(dump[0])


def test_crops_are_reproducible_windows_or_repeat_padded(dump: tuple[Path, dict]) -> None:
    d, feats = dump
    table = FeatureTable.from_dir(d, ["s1", "s2", "s3"])
    data = RandomCropDataset(table, crop_frames=10, seed=4)
    data.set_epoch(2)
    first = [data[i] for i in range(len(data))]
    data.set_epoch(3)
    data.set_epoch(2)
    for i, (x, label, speaker, index) in enumerate(first):
        again = data[i][0]
        np.testing.assert_array_equal(x, again)
        assert x.shape == (60, 10) and x.dtype == np.float32
        assert (label, speaker, index) == (int(table.labels[i]), int(table.speakers[i]), i)
        utt_feats = feats[table.utts[i]]
        if len(utt_feats) <= 10:
            np.testing.assert_array_equal(x.T, repeat_pad(utt_feats, 10))
        else:
            start = int(data.offsets[i])
            assert 0 <= start <= len(utt_feats) - 10
            np.testing.assert_array_equal(x.T, utt_feats[start:start + 10])


def test_crop_offsets_cover_the_whole_range_over_epochs(dump: tuple[Path, dict]) -> None:
    table = FeatureTable.from_dir(dump[0])
    data = RandomCropDataset(table, crop_frames=36, seed=0)  # u3 has 40 frames: offsets 0..4
    u3 = table.utts.index("u3")
    seen = set()
    for epoch in range(60):
        data.set_epoch(epoch)
        seen.add(int(data.offsets[u3]))
    assert seen == {0, 1, 2, 3, 4}


def test_batches_do_not_depend_on_worker_count(dump: tuple[Path, dict]) -> None:
    table = FeatureTable.from_dir(dump[0])
    data = RandomCropDataset(table, crop_frames=16, seed=1)
    data.set_epoch(7)
    results = []
    for workers in (0, 2):
        sampler = ShardedBatchSampler(len(table), 4, seed=1)
        sampler.set_epoch(7)
        loader = DataLoader(data, batch_sampler=sampler, collate_fn=collate_crops, num_workers=workers)
        results.append([(x.clone(), idx.tolist()) for x, _, _, idx in loader])
    assert [i for _, i in results[0]] == [i for _, i in results[1]]
    for (a, _), (b, _) in zip(results[0], results[1], strict=True):
        assert torch.equal(a, b)
    feats, labels, speakers, index = next(iter(loader))
    assert feats.shape == (4, 60, 16) and feats.dtype == torch.float32 and feats.is_contiguous()
    assert labels.tolist() == table.labels[index.numpy()].tolist()
    assert speakers.tolist() == table.speakers[index.numpy()].tolist()



def test_forked_workers_read_the_ark_with_their_own_file_positions(tmp_path: Path) -> None:
    """A forked DataLoader worker reopens the ark: a handle inherited from the parent shares its file
    position with the parent's and the other workers', so concurrent reads would get each other's bytes
    (the parent's position must not move when a child reads)."""
    import multiprocessing

    rng = np.random.default_rng(1)
    feats = {f"u{i:02d}": rng.standard_normal((50, 60)).astype(np.float32) for i in range(20)}
    d = _write(tmp_path / "many", feats, {u: "bonafide" for u in feats}, {u: "s1" for u in feats})
    table = FeatureTable(d / "feats.scp", d / "utt2label", cache="no")
    assert np.array_equal(table.feats(0), feats[table.utts[0]])
    (handle,) = table._reader._files.values()
    before = os.lseek(handle.fileno(), 0, os.SEEK_CUR)

    def child() -> None:
        ok = np.array_equal(table.feats(len(table) - 1), feats[table.utts[-1]])
        os._exit(0 if ok else 3)

    proc = multiprocessing.get_context("fork").Process(target=child)
    proc.start()
    proc.join()
    assert proc.exitcode == 0
    assert os.lseek(handle.fileno(), 0, os.SEEK_CUR) == before

"""Codec augmentation through the real encoders: seeded draws, one cache that never hands back a wrong
sample, codecs dropped by name when missing, and training with it reproducible after a kill."""

from __future__ import annotations

import json
import logging
import os
import shutil

import numpy as np
import pytest
import torch
from helpers import CONF, DEBUG_YAML, kill_and_resume, write_audio_dir
from torch.utils.data import DataLoader

from ssd.audio import codecs
from ssd.augment import codec
from ssd.augment.codec import CodecAugmenter, draw_variants, resolve, settings_of
from ssd.augment.rawboost import crop_augmenter
from ssd.bin.train import main as train_main
from ssd.data.dataset import RandomCropDataset, WaveTable, collate_crops
from ssd.data.sampler import ShardedBatchSampler
from ssd.utils.checkpoint import load_checkpoint

FS = 16000
CROP = 4000


def _require(*names: str) -> None:
    """Codec programs are Debian packages: missing fails in CI and skips elsewhere (as test_codecs)."""
    reasons = [r for r in map(codecs.missing, names) if r]
    if reasons:
        if os.environ.get("CI") == "true":
            pytest.fail("; ".join(reasons))
        pytest.skip("; ".join(reasons))


def _settings(codecs_: str, probability: float = 0.5, variants: int = 2, max_gb: float = 1.0):
    return settings_of({"codecs": codecs_, "probability": probability, "variants": variants,
                        "cache_dir": None, "cache_max_gb": max_gb})


@pytest.fixture
def table(tmp_path) -> WaveTable:
    return WaveTable.from_dir(write_audio_dir(tmp_path / "train", 12, 0, ["S1", "S2"], "U"), ["S1", "S2"])


@pytest.fixture(autouse=True)
def _fresh_warnings(monkeypatch):
    """Each test sees the once-per-process warnings afresh."""
    monkeypatch.setattr(codec, "_warned", set())


def _cache_files(cache) -> dict[str, tuple[bytes, int]]:
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(cache.rglob("*.npy"))}


def test_settings_expand_presets_and_refuse_bad_values():
    assert _settings("none") is None and _settings("") is None
    assert _settings("telephony,ulaw,mp3@64000").entries == (*codec.TELEPHONY, "mp3@64000")
    assert _settings("all").entries == codec.TELEPHONY + codec.MEDIA
    for bad, match in ((dict(probability=1.5), "probability"), (dict(variants=0), "variants"),
                       (dict(max_gb=0), "cache_max_gb")):
        with pytest.raises(ValueError, match=match):
            _settings("ulaw", **bad)
    with pytest.raises(ValueError, match="empty entry"):
        _settings("ulaw,,alaw")


def test_every_preset_entry_runs_here_and_bad_entries_are_refused_by_name():
    _require("ulaw", "gsm", "g722", "opus", "mp3", "m4a", "ogg")
    choices, dropped = resolve(_settings("all").entries, FS)
    labels = [codec.label(name, rate) for name, rates in choices for rate in rates]
    assert not dropped and sorted(labels) == sorted(codec.TELEPHONY + codec.MEDIA)
    for entry, match in (("mp3@5", "outside"), ("ogg@128000", "oggenc"), ("flac", "unknown codec"),
                         ("mp3@fast", "integer"), ("ulaw@64000", "fixed bit rate")):
        with pytest.raises(ValueError, match=match):
            resolve((entry,), FS)


def test_variant_draws_depend_on_seed_and_utterance_only():
    choices = (("ulaw", (None,)), ("mp3", (32000, 64000)), ("opus", (8000, 12000, 16000)))
    one = draw_variants(choices, 7, "U0003", 4)
    assert one == draw_variants(choices, 7, "U0003", 4)
    assert one[:2] == draw_variants(choices, 7, "U0003", 2)  # more variants keep the first ones
    many = [v for i in range(200) for v in draw_variants(choices, 7, f"U{i:04d}", 2)]
    assert {name for name, _ in many} == {"ulaw", "mp3", "opus"} and len(set(many)) == 6
    assert many != [v for i in range(200) for v in draw_variants(choices, 8, f"U{i:04d}", 2)]


def _batches(table, augmenter, workers: int, epochs=(1, 2), boost: int = 0) -> list[torch.Tensor]:
    data = RandomCropDataset(table, CROP, seed=3, augment=crop_augmenter(boost, FS) if boost else None,
                             utterance=augmenter)
    sampler = ShardedBatchSampler(len(table), 4, seed=3)
    out = []
    for epoch in epochs:
        data.set_epoch(epoch)
        sampler.set_epoch(epoch)
        loader = DataLoader(data, batch_sampler=sampler, collate_fn=collate_crops, num_workers=workers)
        out += [feats for feats, *_ in loader]
    return out


def test_same_seed_gives_the_same_augmented_batches_with_0_and_2_workers(tmp_path, table):
    """Two cold caches, one filled in-process and one by two workers, give the same batches; epochs
    differ, some crops are coded and some are not."""
    _require("ulaw", "g722", "mp3")
    settings = _settings("ulaw,g722@64000,mp3@32000")
    inline = _batches(table, CodecAugmenter(table, settings, 3, tmp_path / "a"), workers=0)
    workers = _batches(table, CodecAugmenter(table, settings, 3, tmp_path / "b"), workers=2)
    assert all(torch.equal(x, y) for x, y in zip(inline, workers, strict=True))
    assert sorted(p.name for p in (tmp_path / "a").rglob("*.npy")) == sorted(
        p.name for p in (tmp_path / "b").rglob("*.npy"))
    plain = _batches(table, None, workers=0)
    coded = [not torch.equal(x[i], y[i]) for x, y in zip(inline, plain, strict=True) for i in range(len(x))]
    assert any(coded) and not all(coded)
    assert not torch.equal(torch.cat(inline[:3]), torch.cat(inline[3:]))  # epoch 2 draws anew


def test_the_codec_draws_leave_rawboost_and_the_crops_alone(tmp_path, table):
    _require("ulaw")
    never = CodecAugmenter(table, _settings("ulaw", probability=0.0), 3, tmp_path / "cache")
    assert all(torch.equal(x, y) for x, y in zip(_batches(table, never, 0, boost=5),
                                                 _batches(table, None, 0, boost=5), strict=True))
    assert not list((tmp_path / "cache").rglob("*.npy"))  # nothing encoded that is never used


def test_a_cache_hit_returns_the_same_samples_without_running_a_codec(tmp_path, table, monkeypatch):
    """Prefilled by threads or encoded on first use, the variants are the same; a filled cache is read,
    never rewritten, and needs no encoder."""
    _require("ulaw", "mp3")
    settings = _settings("ulaw,mp3@32000", probability=1.0)
    cache = tmp_path / "cache"
    first = CodecAugmenter(table, settings, 3, cache)
    assert first.prefill(2) == len({p for paths in first.paths for p in paths})
    files = _cache_files(cache)
    lazy = CodecAugmenter(table, settings, 3, tmp_path / "lazy")
    cold = [lazy.variant(i, k) for i in range(len(table)) for k in range(2)]
    again = CodecAugmenter(table, settings, 3, cache)  # as the next run opens it
    assert again.prefill(2) == 0
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # a miss would now fail: no sox, no lame
    warm = [again.variant(i, k) for i in range(len(table)) for k in range(2)]
    assert all(np.array_equal(a, b) and b.dtype == np.float32 for a, b in zip(cold, warm, strict=True))
    assert _cache_files(cache) == files  # nothing rewritten, nothing added


def test_a_corrupt_cache_file_is_encoded_again_never_read_as_samples(tmp_path, table, caplog):
    _require("ulaw")
    augmenter = CodecAugmenter(table, _settings("ulaw", variants=1), 3, tmp_path / "cache")
    good = [augmenter.variant(i, 0) for i in range(4)]
    paths = [augmenter.paths[i][0] for i in range(4)]
    paths[0].write_bytes(paths[0].read_bytes()[:-100])  # truncated
    paths[1].write_bytes(b"\x93NUMPY garbage")  # not an .npy
    np.save(paths[2], good[2].astype(np.float64))  # another dtype
    bad = good[3].copy()
    bad[10] = np.nan
    np.save(paths[3], bad)  # non-finite
    with caplog.at_level(logging.WARNING, logger="ssd.augment.codec"):
        assert all(np.array_equal(augmenter.variant(i, 0), good[i]) for i in range(4))
    for path in paths:
        assert f"codec cache file {path}" in caplog.text
        assert np.array_equal(np.load(path, allow_pickle=False), good[paths.index(path)])


def test_the_cache_may_not_outgrow_its_limit_counting_foreign_files(tmp_path, table):
    _require("ulaw")
    cache = tmp_path / "cache"
    needed = CodecAugmenter(table, _settings("ulaw", variants=1), 3, cache).planned_bytes
    (cache / "foreign.bin").write_bytes(b"\0" * needed)
    limit = 1.5 * needed / 2**30
    with pytest.raises(ValueError, match="more than data.codec.cache_max_gb"):
        CodecAugmenter(table, _settings("ulaw", variants=1, max_gb=limit), 3, cache)
    (cache / "foreign.bin").unlink()
    CodecAugmenter(table, _settings("ulaw", variants=1, max_gb=limit), 3, cache)


def test_a_codec_without_its_programs_is_dropped_with_one_warning_naming_the_package(tmp_path, monkeypatch,
                                                                                     caplog):
    _require("ulaw", "mp3")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sox").symlink_to(shutil.which("sox"))
    monkeypatch.setenv("PATH", str(bin_dir))  # sox, but no lame
    with caplog.at_level(logging.WARNING, logger="ssd.augment.codec"):
        for _ in range(2):
            choices, dropped = resolve(("ulaw", "mp3@32000", "mp3@64000"), FS)
            assert choices == (("ulaw", (None,)),) and "install lame" in dropped["mp3"]
    assert [r.getMessage() for r in caplog.records] == [
        "codec augmentation without mp3: codec mp3 needs lame: install lame"]
    with pytest.raises(ValueError, match="none of mp3@32000 can run here: codec mp3 needs lame"):
        resolve(("mp3@32000",), FS)


def test_codec_training_resumes_bit_identically_after_a_kill(tmp_path, audio_with_lfcc, monkeypatch, capsys):
    """An LFCC model trained from the audio (two loader workers), codecs then RawBoost on the crops: a
    run killed in epoch 2 and resumed from a cache it filled itself ends with the weights of the run
    never stopped; the run files name the codecs; a machine that cannot run them may not resume; no
    wav.scp is refused."""
    _require("ulaw", "g722", "mp3")
    train, dev = audio_with_lfcc
    base = tmp_path / "codec.yaml"  # the debug sizes over the recipe's codec profile, three codecs
    base.write_text(DEBUG_YAML.replace("train_mini.yaml", "train_mini_codec.yaml")
                    + "data: {batch_size: 8, num_workers: 2, rawboost: rawboost_la, codec: "
                    f"{{codecs: 'ulaw,g722@64000,mp3@32000', cache_dir: {tmp_path / 'cache'}}}}}\n")
    argv = lambda exp: ["--config", str(CONF / "train_ocsoftmax_all.yaml"), "--base", str(base),  # noqa: E731
                        "--train-dir", str(train), "--dev-dir", str(dev), "--exp-dir", str(exp)]
    train_main(argv(tmp_path / "whole"))
    info = json.loads((tmp_path / "whole" / "model_info.json").read_text())["codec_augmentation"]
    assert info["codecs"] == ["ulaw", "g722@64000", "mp3@32000"] and info["dropped"] == {}
    assert list((tmp_path / "cache").rglob("*.npy"))
    shutil.rmtree(tmp_path / "cache")  # the killed run starts cold again
    kill_and_resume(argv(tmp_path / "split"), tmp_path / "split", 3, tmp_path)
    a, b = (load_checkpoint(tmp_path / run / "last.pt") for run in ("whole", "split"))
    assert a["epoch"] == b["epoch"] == 2 and a["codec_choices"] == info["codecs"]
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sox").symlink_to(shutil.which("sox"))
    monkeypatch.setenv("PATH", str(bin_dir))  # no lame: mp3 would be dropped, the draws would change
    with pytest.raises(SystemExit):
        train_main([*argv(tmp_path / "split"), "--epochs", "3"])
    assert "its codec variants were drawn from ulaw, g722@64000, mp3@32000" in capsys.readouterr().err
    (train / "wav.scp").rename(train / "wav.scp.away")
    with pytest.raises(SystemExit):
        train_main(argv(tmp_path / "no_audio"))
    error = capsys.readouterr().err
    assert "data.rawboost and data.codec on the lfcc front end trains from the audio" in error

"""The evaluation recipes (egs/asvspoof2021_la, asvspoof2021_df, in_the_wild, custom) end to end on their
mini stand-ins, with the packed model of the trained asvspoof2019_la recipe, as a user runs them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import link_recipe


def _run(recipe: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(recipe / "run.sh"), *args], cwd=recipe, capture_output=True, text=True,
                          timeout=900)


@pytest.fixture(scope="module")
def egs(trained_recipe: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch egs/ beside the trained recipe: the eval recipes find its mini corpus and model there."""
    root = tmp_path_factory.mktemp("egs")
    os.symlink(trained_recipe, root / "asvspoof2019_la")
    return root


@pytest.mark.parametrize("name,sets,table", [
    ("asvspoof2021_la", ("eval", "progress"), "per condition"),
    ("asvspoof2021_df", ("eval", "progress"), "per condition"),
    ("in_the_wild", ("eval",), "per speaker"),
    ("custom", ("eval",), None),
])
def test_recipe_on_its_standin(egs: Path, name: str, sets: tuple[str, ...], table: str | None) -> None:
    recipe = link_recipe(egs / name, name)
    result = _run(recipe)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "MINI STAND-IN" in result.stderr
    exp = recipe / "exp" / "ocsoftmax_all"
    assert not (recipe / "exp" / "ocsoftmax_all" / "best.pt").exists()  # nothing was trained
    results = (recipe / "RESULTS.md").read_text()
    for dset in sets:
        rows = [line.split() for line in (exp / "scores" / f"{dset}.txt").read_text().splitlines()]
        utt2label = recipe / "data" / dset / "utt2label"
        labels = dict(line.split() for line in utt2label.read_text().splitlines())
        assert [r[0] for r in rows] == sorted(labels) and all(r[2] == labels[r[0]] for r in rows)
        report = json.loads((exp / "scores" / f"{dset}.json").read_text())
        assert 0 <= report["pooled"]["eer"] <= 1 and f"## {dset}" in results
        if table:
            assert f"ocsoftmax_all, {dset}: {table}" in results
    if name == "asvspoof2021_la":  # the revised t-DCF, pooled and per codec condition, from the 2021 keys
        conditions = json.loads((exp / "conditions_eval.json").read_text())
        assert conditions["tdcf"] == "revised" and conditions["per_condition"]
        assert report["tdcf"] == "revised" and report["pooled"]["min_tdcf"] is not None
    if name == "in_the_wild":
        by = json.loads((exp / "conditions_eval.json").read_text())["breakdown"]
        assert by["values"] and all(0 <= v["eer"] <= 1 for v in by["values"].values())


def test_custom_folder_without_labels_gets_scores_only(egs: Path, tmp_path: Path) -> None:
    """A folder of audio and nothing else: every file scored, no metric, and RESULTS.md says so."""
    recipe = link_recipe(egs / "custom_unlabelled", "custom")
    folder = tmp_path / "my_recordings"
    folder.mkdir()
    standin = egs / "custom" / "downloads" / "standin"
    sources = sorted(standin.glob("bonafide/*.flac"))[:2] + sorted(standin.glob("spoof/*/*.flac"))[:2]
    if not sources:  # the labelled test did not run first (e.g. -k): build the stand-in
        assert _run(link_recipe(egs / "custom", "custom"), "--stop-stage", "0").returncode == 0
        sources = sorted(standin.glob("bonafide/*.flac"))[:2] + sorted(standin.glob("spoof/*/*.flac"))[:2]
    for i, src in enumerate(sources):
        shutil.copy(src, folder / f"rec{i}.flac")
    result = _run(recipe, "--corpus", str(folder))
    assert result.returncode == 0, result.stderr[-4000:]
    rows = [line.split() for line in (recipe / "exp/ocsoftmax_all/scores/eval.txt").read_text().splitlines()]
    assert [r[:3] for r in rows] == [[f"rec{i}", "-", "-"] for i in range(4)]
    assert "Sets without labels (scores only)" in (recipe / "RESULTS.md").read_text()


def test_without_a_model_says_how_to_make_one(tmp_path: Path) -> None:
    recipe = link_recipe(tmp_path / "asvspoof2021_la", "asvspoof2021_la")
    result = _run(recipe)
    assert result.returncode == 2
    assert "no --model given" in result.stderr and "(cd ../asvspoof2019_la && ./run.sh)" in result.stderr

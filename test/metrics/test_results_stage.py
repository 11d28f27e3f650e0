"""Stage 5 on a small synthetic experiment tree: files written, table contents, plots, missing scores."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from ssd.bin.results import main
from ssd.metrics.calibration import Calibration, fit_calibration
from ssd.metrics.cllr import cllr

SETS = {"dev": ("A01", "A02", "A03"), "eval": ("A07", "A08", "A09", "A10")}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_tree(root: Path, rng: np.random.Generator) -> dict:
    """data/{dev,eval} with ASV files for both (different attacks), and three variants' score files.

    Returns the generated scores so the test can compute the expected figures independently.
    """
    truth: dict = {}
    for set_name, attacks in SETS.items():
        data = root / "data" / set_name
        data.mkdir(parents=True)
        utts = [(f"{set_name}_b{i:03d}", "bonafide", "-") for i in range(120)]
        utts += [(f"{set_name}_{a}_{i:03d}", "spoof", a) for a in attacks for i in range(80)]
        utts.sort()
        (data / "utt2label").write_text("".join(f"{u} {k}\n" for u, k, _ in utts))
        (data / "utt2attack").write_text("".join(f"{u} {a}\n" for u, _, a in utts))
        (data / "corpus").write_text(f"path /corpora/mini_la/{set_name}\n")
        asv = [f"bonafide target {x:.4f}" for x in rng.normal(3, 1, 200)]
        asv += [f"bonafide nontarget {x:.4f}" for x in rng.normal(-3, 1, 200)]
        asv += [f"{a} spoof {x:.4f}" for a in attacks for x in rng.normal(1, 2, 100)]
        (data / "asv_scores.txt").write_text("\n".join(asv) + "\n")
        truth[set_name] = {"utts": utts}
    for tag, separation in (("vanilla", 1.5), ("all", 3.0), ("flipped", -2.0)):
        scores = root / "exp" / tag / "scores"
        scores.mkdir(parents=True)
        for set_name in SETS:
            if tag == "flipped" and set_name == "eval":
                continue  # this variant was never run on eval
            lines = []
            for utt, key, attack in truth[set_name]["utts"]:
                score = rng.normal(separation if key == "bonafide" else 0.0, 1.0)
                lines.append(f"{utt} {attack} {key} {score:.5f}")
            (scores / f"{set_name}.txt").write_text("\n".join(lines) + "\n")
    (root / "exp" / "vanilla" / "config.yaml").write_text("model: {}\n")
    (root / "exp" / "vanilla" / "model_info.json").write_text(
        json.dumps({"parameters": {"backbone": 1234567}, "total": 1234567})
    )
    return truth


def figures(ref, root: Path, tag: str, set_name: str) -> tuple[str, str]:
    """Expected EER (%) and min t-DCF text, computed by the reference from the raw files."""
    rows = [
        line.split() for line in (root / "exp" / tag / "scores" / f"{set_name}.txt").read_text().splitlines()
    ]
    bona = np.array([float(r[3]) for r in rows if r[2] == "bonafide"])
    spoof = np.array([float(r[3]) for r in rows if r[2] == "spoof"])
    asv = [line.split() for line in (root / "data" / set_name / "asv_scores.txt").read_text().splitlines()]
    pick = lambda key: np.array([float(r[2]) for r in asv if r[1] == key])  # noqa: E731
    pfa, pmiss, pmiss_spoof = ref.asv_rates(pick("target"), pick("nontarget"), pick("spoof"))
    return f"{100 * ref.eer(bona, spoof)[0]:.3f}", f"{ref.min_tdcf(bona, spoof, pfa, pmiss, pmiss_spoof):.4f}"


def table_rows(markdown: str, heading: str) -> dict[str, list[str]]:
    """Body rows of every table between ``heading`` and the next heading, keyed by their first cell."""
    lines = markdown.splitlines()
    rows = {}
    for k in range(lines.index(heading) + 1, len(lines)):
        line = lines[k]
        if line.startswith("#"):
            break
        is_header = k + 1 < len(lines) and lines[k + 1].startswith("|---")
        if line.startswith("| ") and not is_header:
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


@pytest.fixture
def tree(tmp_path, rng, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path, make_tree(tmp_path, rng)


def run(*exp_tags: str, extra: tuple[str, ...] = ()) -> int:
    exp_dirs = [f"exp/{tag}" for tag in exp_tags]
    return main(
        [
            "--exp-dirs",
            *exp_dirs,
            "--data-root",
            "data",
            "--sets",
            "dev",
            "eval",
            "--out",
            "RESULTS.md",
            *extra,
        ]
    )


def test_stage5_writes_every_file_with_the_right_numbers(tree, ref):
    root, _ = tree
    assert run("vanilla", "all", "flipped") == 0
    for tag in ("vanilla", "all"):
        for set_name in SETS:
            assert (root / "exp" / tag / "scores" / f"{set_name}.json").is_file()
            for plot in (f"{set_name}_score_hist.png", f"{set_name}_tdcf.png"):
                assert (root / "exp" / tag / "plots" / plot).read_bytes().startswith(PNG_MAGIC)
        assert (root / "exp" / tag / "RESULTS.md").is_file()
    for set_name in SETS:
        assert (root / f"det_{set_name}.png").read_bytes().startswith(PNG_MAGIC)
    assert not (root / "exp" / "flipped" / "scores" / "eval.json").exists()

    top = (root / "RESULTS.md").read_text()
    for set_name in SETS:
        rows = table_rows(top, f"## {set_name}")
        expected_tags = ["vanilla", "all"] + (["flipped"] if set_name == "dev" else [])
        assert list(rows) == expected_tags
        for tag in expected_tags:
            eer, tdcf = figures(ref, root, tag, set_name)
            assert [cell.split()[0] for cell in rows[tag][:2]] == [eer, tdcf], (set_name, tag)
            assert re.fullmatch(r"\d+\.\d{3} \[\d+\.\d{3}, \d+\.\d{3}\]", rows[tag][0])
        per_attack = table_rows(top, f"### {set_name}: EER (%) per attack")
        assert len(per_attack["all"]) == len(SETS[set_name])
    assert "| variant | A01 | A02 | A03 |" in top
    assert "| variant | A07 | A08 | A09 | A10 |" in top
    assert "A00" not in top and "| - |" not in top

    # environment, variants and the missing eval scores of "flipped"
    assert "- corpus (dev): `/corpora/mini_la/dev`" in top
    assert "- git commit: " in top and "- python version: " in top and "torch version" in top
    assert "| vanilla | `exp/vanilla/config.yaml` | 1,234,567 |" in top
    assert "- flipped, eval: `exp/flipped/scores/eval.txt` does not exist" in top
    assert "WARNING: pooled EER above 50 % for flipped" in top

    # the per-experiment file, and its JSON
    vanilla = (root / "exp" / "vanilla" / "RESULTS.md").read_text()
    assert "- config: `exp/vanilla/config.yaml`" in vanilla and "- parameters: 1,234,567" in vanilla
    eval_rows = table_rows(vanilla, "## eval")
    assert [cell.split()[0] for cell in eval_rows["eval"][:2]] == list(figures(ref, root, "vanilla", "eval"))
    assert list(eval_rows)[1:] == ["A07", "A08", "A09", "A10"]
    assert "![t-DCF against threshold, eval](plots/eval_tdcf.png)" in vanilla
    data = json.loads((root / "exp" / "vanilla" / "scores" / "dev.json").read_text())
    assert f"{100 * data['pooled']['eer']:.3f}" == figures(ref, root, "vanilla", "dev")[0]
    assert list(data["per_attack"]) == ["A01", "A02", "A03"]
    assert data["set"] == "dev" and data["asv_scores"] == "data/dev/asv_scores.txt"
    ci = data["confidence_intervals"]
    assert (ci["level"], ci["replicates"], ci["seed"]) == (0.95, 1000, 0)
    assert ci["eer"][0] < data["pooled"]["eer"] < ci["eer"][1]
    assert "1000 replicates, seed 0" in top


def test_calibration_is_fitted_on_dev_written_and_reported_before_and_after(tree):
    root, _ = tree
    assert run("vanilla", "all") == 0
    cal_file = root / "exp" / "vanilla" / "calibration.json"
    cal = Calibration.read(cal_file)
    assert cal.fitted_on == "exp/vanilla/scores/dev.txt" and (cal.n_bonafide, cal.n_spoof) == (120, 240)
    # refit independently from the raw dev file: the same map
    rows = [line.split() for line in (root / "exp/vanilla/scores/dev.txt").read_text().splitlines()]
    bona = np.array([float(r[3]) for r in rows if r[2] == "bonafide"])
    spoof = np.array([float(r[3]) for r in rows if r[2] == "spoof"])
    again = fit_calibration(bona, spoof)
    assert (cal.scale, cal.offset) == (pytest.approx(again.scale), pytest.approx(again.offset))
    data = json.loads((root / "exp" / "vanilla" / "scores" / "eval.json").read_text())
    block = data["calibration"]
    assert block["scale"] == pytest.approx(cal.scale) and block["fitted_on"] == cal.fitted_on
    eval_rows = [line.split() for line in (root / "exp/vanilla/scores/eval.txt").read_text().splitlines()]
    llr_bona = cal.apply([float(r[3]) for r in eval_rows if r[2] == "bonafide"])
    llr_spoof = cal.apply([float(r[3]) for r in eval_rows if r[2] == "spoof"])
    assert block["after"]["cllr"] == pytest.approx(cllr(llr_bona, llr_spoof), abs=1e-12)
    assert block["after"]["cllr"] < block["before"]["cllr"]
    assert block["after"]["act_dcf"] <= block["before"]["act_dcf"]
    vanilla = (root / "exp" / "vanilla" / "RESULTS.md").read_text()
    row = table_rows(vanilla, "## eval")["eval"]
    assert row[4] == f"{block['after']['act_dcf']:.4f}" and row[6] == f"{block['after']['cllr']:.4f}"
    assert row[2] == f"{data['pooled']['min_dcf']:.4f}"
    assert "- `calibration.json`: llr = " in vanilla and "fitted on `exp/vanilla/scores/dev.txt`" in vanilla


def test_no_intervals_and_no_calibration_options(tree):
    root, _ = tree
    assert run("vanilla", extra=("--ci", "0", "--calibrate-on", "none")) == 0
    data = json.loads((root / "exp" / "vanilla" / "scores" / "eval.json").read_text())
    assert data["confidence_intervals"] is None and data["calibration"] is None
    assert not (root / "exp" / "vanilla" / "calibration.json").exists()
    vanilla = (root / "exp" / "vanilla" / "RESULTS.md").read_text()
    assert "calibration not fitted (--calibrate-on none)" in vanilla and "- intervals: none" in vanilla
    assert re.fullmatch(r"\d+\.\d{3}", table_rows(vanilla, "## eval")["eval"][0])


def test_dev_never_uses_the_eval_asv_file_and_no_asv_means_no_tdcf(tree):
    root, _ = tree
    (root / "data" / "dev" / "asv_scores.txt").unlink()
    (root / "data" / "eval" / "corpus").unlink()
    assert run("vanilla") == 0
    top = (root / "RESULTS.md").read_text()
    assert "- corpus (eval): `unknown`" in top
    assert table_rows(top, "## dev")["vanilla"][1] == "n/a"
    assert table_rows(top, "## eval")["vanilla"][1] != "n/a"
    assert "### dev: min t-DCF per attack" not in top
    assert not (root / "exp" / "vanilla" / "plots" / "dev_tdcf.png").exists()
    vanilla = (root / "exp" / "vanilla" / "RESULTS.md").read_text()
    assert "min t-DCF not computed: data/dev/asv_scores.txt does not exist" in vanilla


def test_a_bad_score_file_fails_the_stage_naming_it(tree, caplog):
    root, _ = tree
    path = root / "exp" / "all" / "scores" / "dev.txt"
    path.write_text(path.read_text().replace("spoof", "spooof", 1))
    assert run("all", "vanilla") == 1
    assert "exp/all/scores/dev.txt:" in caplog.text and "key 'spooof' is not one of" in caplog.text


def test_a_missing_experiment_directory_is_an_error(tree, caplog):
    assert run("vanilla", "nope") == 1
    assert "exp/nope: not an experiment directory" in caplog.text


def test_reference_rows_and_the_reading_of_the_table(tree):
    """Trivial baselines become rows; the reading names the best system and what its interval supports."""
    root, _ = tree
    (root / "references.json").write_text(json.dumps({"trivial energy": {"dev": 0.45, "eval": 0.41}}))
    assert run("vanilla", "all", extra=("--references", "references.json")) == 0
    text = (root / "RESULTS.md").read_text()
    eval_rows = table_rows(text, "## eval")
    assert eval_rows["trivial energy (reference)"][:2] == ["41.000", "-"]
    reading = text[text.index("## Reading the table"):]
    eers = {tag: json.loads((root / "exp" / tag / "scores" / "eval.json").read_text())
            for tag in ("all", "vanilla")}
    best = min(eers, key=lambda t: eers[t]["pooled"]["eer"])
    assert f"- **eval**: the lowest EER is `{best}` (" in reading
    # separation 3.0 against 1.5 on 320 spoofs: far beyond the resampling noise of either
    assert best == "all" and "Worse beyond noise: `vanilla`" in reading
    assert "Reference `trivial energy` (41.0 %): beaten beyond noise by 2 of 2 systems." in reading
    (root / "bad.json").write_text(json.dumps({"x": {"eval": 7}}))
    assert run("vanilla", extra=("--references", "bad.json")) == 1


def test_reading_without_intervals_says_nothing_can_be_judged():
    from ssd.metrics.reading import Entry, reading

    lines = reading("eval", [Entry("a", 0.10), Entry("b", 0.12), Entry("lfcc_gmm", 0.2, 0.18, 0.22, True)])
    assert lines[0] == "- **eval**: the lowest EER is `a` (10.0 %)."
    assert "no difference can be judged" in lines[1]
    assert lines[-1] == "  Reference `lfcc_gmm` (20.0 % [18.0, 22.0]): beaten beyond noise by 2 of 2 systems."
    tied = reading("dev", [Entry("a", 0.10, 0.08, 0.13), Entry("b", 0.12, 0.10, 0.15)])
    assert tied[1] == "  Within noise of it (intervals overlap): `b` (12.0 % [10.0, 15.0])."

"""Per-condition figures over ASVspoof 2021 keys against a brute-force reading of the 2021 package.

The reference below is written from the organisers' 2021 evaluation package (``eval-package/main.py``,
``eval_wrapper.py``, ``config.py``) and shares no code with ``ssd``: it reads the key and score files
with plain string splits, groups trials by condition and attack in dicts, places the ASV threshold of
each condition by walking its own target/nontarget trials, forms C0, C1, C2 as the package does and
walks the CM trials one by one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ssd.bin.score import main
from ssd.data import standins

P_SPOOF = 0.05
P_TAR, P_NON = (1 - P_SPOOF) * 0.99, (1 - P_SPOOF) * 0.01
C_MISS, C_FA, C_FA_SPOOF = 1.0, 10.0, 10.0
LA_CODECS = ["none", "alaw", "pstn", "g722", "ulaw", "gsm", "opus"]  # the package's C1..C7
DF_COMPRESSIONS = [
    "nocodec",
    "low_mp3",
    "high_mp3",
    "low_m4a",
    "high_m4a",
    "low_ogg",
    "high_ogg",
    "mp3m4a",
    "oggm4a",
]  # C1..C9


# ---------------------------------------------------------------- brute force, from the 2021 package
def walk(positives: list[float], negatives: list[float]) -> list[tuple[float, float, float]]:
    """The organisers' DET points (miss of positives, false alarm of negatives, threshold), trial by trial.

    Sorting (score, 0 for a positive, 1 for a negative) puts positives first among tied scores, as their
    stable sort of the positives followed by the negatives does; the threshold of a point is the last
    score it rejects (the lowest score - 0.001 for "accept all").
    """
    ranked = sorted([(s, 0) for s in positives] + [(s, 1) for s in negatives])
    miss, accepted = 0, len(negatives)
    out = [(0.0, 1.0, ranked[0][0] - 0.001)]
    for score, negative in ranked:
        if negative:
            accepted -= 1
        else:
            miss += 1
        out.append((miss / len(positives), accepted / len(negatives), score))
    return out


def eer_point(positives, negatives) -> tuple[float, float]:
    best = min(walk(positives, negatives), key=lambda p: abs(p[0] - p[1]))  # min keeps the first
    return (best[0] + best[1]) / 2, best[2]


def brute_min_tdcf(bona, spoof, target, nontarget, asv_spoof, variant="revised"):
    """min t-DCF as the package computes it; None where the package would give NaN or our rule refuses."""
    if not (bona and spoof and target and nontarget and asv_spoof):
        return None
    _, t = eer_point(target, nontarget)
    pfa_asv = sum(s >= t for s in nontarget) / len(nontarget)
    pmiss_asv = sum(s < t for s in target) / len(target)
    pfa_spoof_asv = sum(s >= t for s in asv_spoof) / len(asv_spoof)
    if variant == "revised":  # get_tDCF_C012 and get_mintDCF_eer of the 2021 package
        c0 = P_TAR * C_MISS * pmiss_asv + P_NON * C_FA * pfa_asv
        c1 = P_TAR * C_MISS - c0
        c2 = P_SPOOF * C_FA_SPOOF * pfa_spoof_asv
        norm = c0 + min(c1, c2)
    else:  # the 2019 legacy form
        c0 = 0.0
        c1 = P_TAR * (C_MISS - C_MISS * pmiss_asv) - P_NON * C_FA * pfa_asv
        c2 = C_FA_SPOOF * P_SPOOF * pfa_spoof_asv
        norm = min(c1, c2)
    if c1 < 0 or c2 < 0 or norm <= 0:
        return None
    return min((c0 + c1 * miss + c2 * fa) / norm for miss, fa, _ in walk(bona, spoof))


def brute_grid(
    cm_keys: Path,
    cm_scores: Path,
    asv_keys: Path | None,
    asv_scores: Path | None,
    subset: str | None = "eval",
    variant: str = "revised",
    df: bool = False,
) -> dict:
    """{(condition value or None, row or None): (EER, min t-DCF)} over the package's grid; None = pooled."""
    score = dict(line.split() for line in cm_scores.read_text().splitlines() if line.strip())
    cm = []  # (condition, row, is_bona, score)
    for line in cm_keys.read_text().splitlines():
        f = line.split()
        if subset and f[7] != subset:
            continue
        condition, row = f[2], (f[8] if df else f[4])
        cm.append((condition, None if f[5] == "bonafide" else row, f[5] == "bonafide", float(score[f[1]])))
    asv = []  # (condition, attack, key, score)
    if asv_keys is not None:
        asv_score = {(f[0], f[1]): float(f[2]) for f in map(str.split, asv_scores.read_text().splitlines())}
        for f in map(str.split, asv_keys.read_text().splitlines()):
            if not subset or f[7] == subset:
                asv.append((f[2], f[4], f[5], asv_score[f[0], f[1]]))
    out = {}
    conditions = sorted({c for c, *_ in cm}) + [None]
    rows = sorted({r for _, r, b, _ in cm if not b}) + [None]
    for c in conditions:
        for r in rows:
            bona = [s for cc, _, b, s in cm if b and c in (None, cc)]
            spoof = [s for cc, rr, b, s in cm if not b and c in (None, cc) and r in (None, rr)]
            if not bona or not spoof:
                continue
            target = [s for cc, _, k, s in asv if k == "target" and c in (None, cc)]
            nontarget = [s for cc, _, k, s in asv if k == "nontarget" and c in (None, cc)]
            asv_spoof = [s for cc, a, k, s in asv if k == "spoof" and c in (None, cc) and r in (None, a)]
            out[c, r] = (
                eer_point(bona, spoof)[0],
                brute_min_tdcf(bona, spoof, target, nontarget, asv_spoof, variant),
            )
    return out


def ours(data: dict, codes: list[str], rows_key: str = "per_attack") -> dict:
    """The same grid out of ssd-score's JSON."""
    out = {(None, None): (data["pooled"]["eer"], data["pooled"]["min_tdcf"])}
    for r, fig in data[rows_key].items():
        out[None, r] = (fig["eer"], fig["min_tdcf"])
    for name, entry in data["per_condition"].items():
        value = entry["codec"] if "codec" in entry else entry["compression"]
        assert name == f"C{codes.index(value) + 1}"
        out[value, None] = (entry["eer"], entry["min_tdcf"])
        for r, fig in entry[rows_key].items():
            out[value, r] = (fig["eer"], fig["min_tdcf"])
    return out


def assert_same_grid(got: dict, expected: dict) -> None:
    assert sorted(got, key=str) == sorted(expected, key=str)
    for cell, (eer, tdcf) in expected.items():
        assert got[cell][0] == pytest.approx(eer, rel=0, abs=1e-12), cell
        if tdcf is None:
            assert got[cell][1] is None, cell
        else:
            assert got[cell][1] == pytest.approx(tdcf, rel=0, abs=1e-12), cell


# ---------------------------------------------------------------- random keys in the 2021 layouts
def write_la_set(
    folder: Path,
    rng: np.random.Generator,
    n: int = 240,
    codecs=("none", "alaw", "gsm", "opus"),
    attacks=("A07", "A10", "A19"),
    digits: int = 1,
) -> dict[str, Path]:
    """CM keys, 'utt score' CM scores, ASV keys and channel-tagged ASV scores; rounded scores make ties."""
    cm_keys, cm, asv_keys, asv = [], [], [], []
    for i in range(n):
        utt, speaker = f"LA_E_{1000000 + i}", f"LA_{rng.integers(10):04d}"
        codec = str(rng.choice(codecs))
        transmission = "-" if codec == "none" else str(rng.choice(["loc_tx", "ita_tx"]))
        bona = bool(rng.random() < 0.4)
        attack = "bonafide" if bona else str(rng.choice(attacks))
        subset = "progress" if rng.random() < 0.2 else "eval"
        cm_keys.append(
            f"{speaker} {utt} {codec} {transmission} {attack} {'bonafide' if bona else 'spoof'} "
            f"notrim {subset}"
        )
        shift = 0.4 * codecs.index(codec)
        cm.append(f"{utt} {round(rng.normal(1.0 - shift if bona else -1.0, 1.2), digits)}")
        channel = f"{codec}-{transmission}"
        claims = (
            [("target", speaker), ("nontarget", f"LA_{90 + i % 7:04d}")] if bona else [("spoof", speaker)]
        )
        for key, model in claims:
            mean = {"target": 3.0, "nontarget": -2.0, "spoof": 0.5 + shift}[key]
            asv_keys.append(
                f"{model}-{channel} {utt}-{channel} {codec} {transmission} {attack} {key} notrim {subset}"
            )
            asv.append(f"{model}-{channel} {utt}-{channel} {round(rng.normal(mean, 1.5), digits)}")
    files = {"cm_keys": cm_keys, "cm": cm, "asv_keys": asv_keys, "asv": asv}
    paths = {}
    for name, lines in files.items():
        paths[name] = folder / f"{name}.txt"
        paths[name].write_text("\n".join(lines) + "\n")
    return paths


def score(paths: dict[str, Path], out: Path, *extra: str) -> dict:
    argv = [
        "--cm-scores",
        str(paths["cm"]),
        "--protocol",
        str(paths["cm_keys"]),
        "--protocol-format",
        "la2021",
        "--asv-keys",
        str(paths["asv_keys"]),
        "--asv-scores",
        str(paths["asv"]),
        "--per-condition",
        "--json",
        str(out),
        *extra,
    ]
    assert main(argv) == 0
    return json.loads(out.read_text())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_revised_tdcf_per_condition_matches_the_2021_package(tmp_path, capsys, seed):
    paths = write_la_set(tmp_path, np.random.default_rng(seed))
    data = score(paths, tmp_path / "out.json")
    assert data["tdcf"] == "revised" and data["subset"] == "eval"  # the 2021 defaults
    expected = brute_grid(paths["cm_keys"], paths["cm"], paths["asv_keys"], paths["asv"])
    assert_same_grid(ours(data, LA_CODECS), expected)
    assert sum(value is not None for _, value in expected.values()) > 10
    text = capsys.readouterr().out
    assert "min t-DCF by attack and condition:" in text and "EER (%) by attack and condition:" in text
    assert "subset eval" in text and "scored trial(s) of other subsets set aside" in text


def test_every_subset_and_the_legacy_form_per_condition(tmp_path):
    paths = write_la_set(tmp_path, np.random.default_rng(5), digits=2)
    data = score(paths, tmp_path / "all.json", "--subset", "all", "--tdcf", "legacy")
    assert data["tdcf"] == "legacy" and data["subset"] == "all"
    expected = brute_grid(
        paths["cm_keys"], paths["cm"], paths["asv_keys"], paths["asv"], subset=None, variant="legacy"
    )
    assert_same_grid(ours(data, LA_CODECS), expected)
    progress = score(paths, tmp_path / "progress.json", "--subset", "progress")
    expected = brute_grid(paths["cm_keys"], paths["cm"], paths["asv_keys"], paths["asv"], subset="progress")
    assert_same_grid(ours(progress, LA_CODECS), expected)


def test_condition_asv_point_is_its_own_and_json_lists_it(tmp_path):
    paths = write_la_set(tmp_path, np.random.default_rng(7))
    data = score(paths, tmp_path / "out.json")
    c2 = data["per_condition"]["C2"]
    assert c2["codec"] == "alaw" and set(c2) >= {
        "eer",
        "min_tdcf",
        "n_bonafide",
        "n_spoof",
        "asv_operating_point",
        "per_attack",
    }
    thresholds = {entry["asv_operating_point"]["threshold"] for entry in data["per_condition"].values()}
    assert len(thresholds) > 1  # placed per condition, not the pooled one
    assert list(data["per_condition"]) == ["C1", "C2", "C6", "C7"]  # the organisers' order


def test_condition_without_asv_spoofs_has_no_tdcf_and_says_why(tmp_path, capsys):
    paths = write_la_set(tmp_path, np.random.default_rng(3))
    lines = paths["asv_keys"].read_text().splitlines()
    scores = paths["asv"].read_text().splitlines()
    kept = [(k, s) for k, s in zip(lines, scores, strict=True) if not (" gsm " in k and " spoof " in k)]
    paths["asv_keys"].write_text("\n".join(k for k, _ in kept) + "\n")
    paths["asv"].write_text("\n".join(s for _, s in kept) + "\n")
    data = score(paths, tmp_path / "out.json")
    assert data["per_condition"]["C6"]["min_tdcf"] is None and data["per_condition"]["C6"]["eer"] > 0
    assert data["per_condition"]["C6"]["asv_operating_point"] is None
    assert "C6: min t-DCF not computed: the ASV trials of this condition are" in capsys.readouterr().out


def test_df_keys_give_compression_and_vocoder_tables_without_tdcf(tmp_path, capsys):
    rng = np.random.default_rng(11)
    vocoders = ["traditional_vocoder", "neural_vocoder_autoregressive", "unknown"]
    keys, cm = [], []
    for i in range(200):
        utt, bona = f"DF_E_{2000000 + i}", bool(rng.random() < 0.4)
        compression = str(rng.choice(["nocodec", "low_mp3", "oggm4a"]))
        vocoder = "bonafide" if bona else str(rng.choice(vocoders))
        attack = "-" if bona else f"A{rng.integers(7, 10):02d}"
        keys.append(
            f"LA_0001 {utt} {compression} asvspoof {attack} {'bonafide' if bona else 'spoof'} notrim "
            f"eval {vocoder} - - - -"
        )
        cm.append(f"{utt} {round(rng.normal(1.0 if bona else -0.5, 1.0), 1)}")
    (tmp_path / "keys.txt").write_text("\n".join(keys) + "\n")
    (tmp_path / "cm.txt").write_text("\n".join(cm) + "\n")
    out = tmp_path / "df.json"
    assert (
        main(
            [
                "--cm-scores",
                str(tmp_path / "cm.txt"),
                "--protocol",
                str(tmp_path / "keys.txt"),
                "--protocol-format",
                "df2021",
                "--per-condition",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    data = json.loads(out.read_text())
    expected = brute_grid(tmp_path / "keys.txt", tmp_path / "cm.txt", None, None, df=True)
    assert_same_grid(ours(data, DF_COMPRESSIONS, "per_vocoder"), expected)
    assert list(data["per_vocoder"]) == vocoders  # the package's order of the families
    assert list(data["per_condition"]) == ["C1", "C2", "C9"]
    text = capsys.readouterr().out
    assert "EER (%) by vocoder and condition:" in text and "min t-DCF by" not in text
    assert "per-condition min t-DCF not computed: the DF track has no ASV keys" in text


# ---------------------------------------------------------------- the stand-in 2021 LA keys
@pytest.fixture
def la_standin_keys(tmp_path, monkeypatch) -> Path:
    """The keys of an LA 2021 stand-in with all seven conditions, made by ssd.data.standins.

    Only the keys matter here, so the codec chain is not run (no audio is written) and every codec
    counts as installed; the plan, the keys and the ASV files are the module's own.
    """
    mini = tmp_path / "mini"
    flac = mini / "ASVspoof2019_LA_eval" / "flac"
    flac.mkdir(parents=True)
    rng = np.random.default_rng(4)
    protocol, asv_trials, asv_scores = [], [], []
    for i in range(70):  # 5 bona fide and 5 spoofed trials per condition
        utt, speaker = f"LA_E_{3000000 + i}", f"LA_{i % 6:04d}"
        bona = i < 35
        attack = "-" if bona else f"A{7 + i % 3:02d}"
        (flac / f"{utt}.flac").write_bytes(b"")
        protocol.append(f"{speaker} {utt} - {attack} {'bonafide' if bona else 'spoof'}")
        claims = (
            [(speaker, "target"), (f"LA_{10 + i % 4:04d}", "nontarget")] if bona else [(speaker, "spoof")]
        )
        for claimed, key in claims:
            source = "bonafide" if bona else attack
            asv_trials.append(f"{claimed} {utt} {source} {key}")
            mean = {"target": 2.5, "nontarget": -2.0, "spoof": 0.8}[key]
            asv_scores.append(f"{source} {key} {rng.normal(mean, 1.5):.4f}")
    for rel, lines in (
        ("ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.eval.trl.txt", protocol),
        ("ASVspoof2019_LA_asv_protocols/ASVspoof2019.LA.asv.eval.gi.trl.txt", asv_trials),
        ("ASVspoof2019_LA_asv_scores/ASVspoof2019.LA.asv.eval.gi.trl.scores.txt", asv_scores),
    ):
        (mini / rel).parent.mkdir(parents=True, exist_ok=True)
        (mini / rel).write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(standins.codecs, "missing", lambda name: None)
    monkeypatch.setattr(standins, "_render", lambda planned, path: None)
    return standins.make("la2021", mini, tmp_path / "standin", seed=2)


def test_per_condition_on_the_la2021_standin_keys(la_standin_keys, tmp_path, capsys):
    keys = la_standin_keys / "keys" / "LA"
    rng = np.random.default_rng(9)
    lines = []
    for f in map(str.split, (keys / "CM" / "trial_metadata.txt").read_text().splitlines()):
        shift = 0.3 * LA_CODECS.index(f[2])  # harder conditions: closer classes
        lines.append(f"{f[1]} {round(rng.normal(1.5 - shift if f[5] == 'bonafide' else -1.0, 1.0), 2)}")
    (tmp_path / "cm.txt").write_text("\n".join(lines) + "\n")
    paths = {
        "cm": tmp_path / "cm.txt",
        "cm_keys": keys / "CM" / "trial_metadata.txt",
        "asv_keys": keys / "ASV" / "trial_metadata.txt",
        "asv": keys / "ASV" / "ASVTorch_Kaldi" / "score.txt",
    }
    data = score(paths, tmp_path / "out.json")
    assert list(data["per_condition"]) == [f"C{i}" for i in range(1, 8)]
    expected = brute_grid(paths["cm_keys"], paths["cm"], paths["asv_keys"], paths["asv"])
    assert_same_grid(ours(data, LA_CODECS), expected)
    assert all(entry["min_tdcf"] is not None for entry in data["per_condition"].values())
    # The names agree with the stand-in's own record of the condition of every file (eval subset).
    rows = [line.split("\t") for line in (la_standin_keys / "standin.tsv").read_text().splitlines()[1:]]
    counts: dict[str, int] = {}
    for row in rows:
        if row[6] == "eval":
            counts[row[4]] = counts.get(row[4], 0) + 1
    assert counts == {name: e["n_bonafide"] + e["n_spoof"] for name, e in data["per_condition"].items()}
    assert "C7     opus" in capsys.readouterr().out


# ---------------------------------------------------------------- options and errors
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--per-condition"], "--per-condition and --subset need 2021 keys"),
        (
            ["--protocol-format", "df2021", "--asv-keys", "k.txt", "--asv-scores", "s.txt"],
            "--asv-keys needs --protocol-format la2021",
        ),
        (["--protocol-format", "la2021", "--asv-keys", "k.txt"], "--asv-keys needs --asv-scores"),
    ],
)
def test_option_combinations_that_would_be_ignored_are_refused(tmp_path, capsys, extra, message):
    (tmp_path / "keys.txt").write_text("LA_0001 LA_E_1 none - bonafide bonafide notrim eval\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["--cm-scores", "cm.txt", "--protocol", str(tmp_path / "keys.txt"), *extra])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_unscored_trial_of_the_subset_and_unknown_utterance_are_errors(tmp_path, capsys):
    paths = write_la_set(tmp_path, np.random.default_rng(1), n=60)
    lines = paths["cm"].read_text().splitlines()
    eval_utts = [f.split()[1] for f in paths["cm_keys"].read_text().splitlines() if f.endswith(" eval")]
    paths["cm"].write_text("\n".join(line for line in lines if line.split()[0] != eval_utts[0]) + "\n")
    argv = [
        "--cm-scores",
        str(paths["cm"]),
        "--protocol",
        str(paths["cm_keys"]),
        "--protocol-format",
        "la2021",
    ]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert eval_utts[0] in err and "have no score" in err and "--subset chooses another" in err
    paths["cm"].write_text("\n".join(lines + ["LA_E_9999999 0.5"]) + "\n")
    assert main(argv) == 1
    assert "1 utterance id(s) are not in the la2021 keys" in capsys.readouterr().err


def test_la2021_keys_with_a_2019_style_asv_file_give_pooled_tdcf_only(tmp_path, capsys):
    paths = write_la_set(tmp_path, np.random.default_rng(6))
    argv = [
        "--cm-scores",
        str(paths["cm"]),
        "--protocol",
        str(paths["cm_keys"]),
        "--protocol-format",
        "la2021",
    ]
    assert main([*argv, "--asv-scores", str(paths["asv"])]) == 1  # the 2021 score file without its keys
    assert "needs --asv-keys" in capsys.readouterr().err
    old = tmp_path / "asv2019.txt"  # the same eval-subset ASV trials as 'source key score' lines
    keys = paths["asv_keys"].read_text().splitlines()
    scores = [line.split()[2] for line in paths["asv"].read_text().splitlines()]
    old.write_text(
        "\n".join(
            f"{k.split()[4]} {k.split()[5]} {v}"
            for k, v in zip(keys, scores, strict=True)
            if k.endswith(" eval")
        )
        + "\n"
    )
    out = tmp_path / "out.json"
    assert main([*argv, "--asv-scores", str(old), "--per-condition", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    expected = brute_grid(paths["cm_keys"], paths["cm"], paths["asv_keys"], paths["asv"])
    assert data["pooled"]["min_tdcf"] == pytest.approx(expected[None, None][1], rel=0, abs=1e-12)
    assert all(entry["min_tdcf"] is None for entry in data["per_condition"].values())
    assert (
        "per-condition min t-DCF not computed: the ASV trials' conditions come from"
        in capsys.readouterr().out
    )

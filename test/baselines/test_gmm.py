"""The LFCC-GMM baseline: EM maths against independent references, and the system on real ark/scp dumps."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from ssd.baselines.gmm import DiagGMM, fit_gmm
from ssd.baselines.lfcc_gmm import (
    LfccGmm,
    ModelFileError,
    class_frames,
    open_table,
    score_table,
    train,
    write_scores,
)
from ssd.bin import score_gmm, train_gmm
from ssd.data.ark_writer import ArkScpWriter
from ssd.metrics.eer import compute_eer
from ssd.metrics.scorefiles import read_cm_scores


def brute_force_log_likelihood(gmm: DiagGMM, frames: np.ndarray) -> np.ndarray:
    """log sum_k w_k N(x | mu_k, diag(var_k)) by scipy, one component at a time."""
    per_component = np.stack([
        np.log(w) + multivariate_normal(mean=m, cov=np.diag(v)).logpdf(frames)
        for w, m, v in zip(gmm.weights, gmm.means, gmm.variances, strict=True)
    ], axis=1)
    return logsumexp(per_component, axis=1)


def mixture(rng: np.random.Generator, means: np.ndarray, stds: np.ndarray, counts: list[int]) -> np.ndarray:
    return np.concatenate([rng.normal(m, s, (n, means.shape[1])) for m, s, n in zip(means, stds, counts,
                                                                                   strict=True)])


def test_em_never_decreases_the_log_likelihood(rng: np.random.Generator) -> None:
    frames = mixture(rng, rng.normal(0, 3, (4, 3)), np.array([0.5, 1.0, 2.0, 0.3]), [300, 200, 400, 100])
    frames = np.hstack([frames, np.full((len(frames), 1), 7.0)])  # a constant dim: the variance floor acts
    result = fit_gmm(frames, 8, iterations=15, seed=3, tol=0.0, var_floor=1e-4)
    ll = np.array(result.log_likelihoods)
    assert result.m_steps == 15 and len(ll) == 16 and not result.converged
    assert np.all(np.diff(ll) >= -1e-12 * np.abs(ll[1:]))
    assert ll[-1] > ll[0] + 1.0
    assert np.all(result.gmm.variances[:, 3] == 1e-4)


def test_recovers_the_means_weights_and_variances_of_a_separated_mixture(rng: np.random.Generator) -> None:
    true_means = np.array([[-20.0, 0.0], [0.0, 15.0], [25.0, -5.0]])
    stds = np.array([1.0, 2.0, 0.5])
    frames = mixture(rng, true_means, stds, [2500, 1500, 1000])
    result = fit_gmm(frames, 3, iterations=50, seed=0)
    gmm = result.gmm
    # vl_gmm's rule: stop, without a further M-step, once the relative change is below 1e-5
    ll = result.log_likelihoods
    assert result.converged and result.m_steps == len(ll) - 1 < 50
    assert abs((ll[-1] - ll[-2]) / ll[-1]) < 1e-5 <= abs((ll[-2] - ll[-3]) / ll[-2])
    order = np.argsort(gmm.means[:, 0])
    np.testing.assert_allclose(gmm.means[order], true_means, atol=0.1)
    np.testing.assert_allclose(gmm.weights[order], [0.5, 0.3, 0.2], atol=0.01)
    np.testing.assert_allclose(gmm.variances[order], np.repeat(stds[:, None] ** 2, 2, axis=1), rtol=0.1)


def test_frame_log_likelihood_matches_scipy(rng: np.random.Generator) -> None:
    gmm = DiagGMM(np.array([0.1, 0.4, 0.0, 0.5]), rng.normal(0, 5, (4, 6)), rng.uniform(1e-3, 9.0, (4, 6)))
    frames = np.vstack([rng.normal(0, 5, (500, 6)), rng.normal(0, 60, (20, 6))])  # some very unlikely
    live = gmm.weights > 0  # a zero-weight component contributes nothing: scipy leaves it out
    nonzero = DiagGMM(gmm.weights[live], gmm.means[live], gmm.variances[live])
    ours = gmm.frame_log_likelihood(frames, chunk_frames=64)
    np.testing.assert_allclose(ours, brute_force_log_likelihood(nonzero, frames), rtol=1e-9, atol=1e-9)
    single = frames.astype(np.float32)  # float32 features (as dumped) are computed on in float64
    reference = brute_force_log_likelihood(nonzero, single.astype(np.float64)).mean()
    assert gmm.mean_log_likelihood(single) == pytest.approx(reference, rel=1e-9)


def test_training_curve_is_the_exact_likelihood_of_each_model(rng: np.random.Generator) -> None:
    frames = mixture(rng, rng.normal(0, 4, (3, 5)), np.array([1.0, 0.5, 2.0]), [200, 300, 250])
    final = fit_gmm(frames, 4, iterations=3, seed=1, tol=0.0, chunk_frames=100)
    assert final.log_likelihoods[-1] == pytest.approx(brute_force_log_likelihood(final.gmm, frames).mean(),
                                                      rel=1e-9)
    shorter = fit_gmm(frames, 4, iterations=2, seed=1, tol=0.0, chunk_frames=333)
    assert final.log_likelihoods[:3] == pytest.approx(shorter.log_likelihoods, rel=1e-12)


def test_an_em_iteration_is_the_textbook_m_step(rng: np.random.Generator) -> None:
    frames = mixture(rng, rng.normal(0, 1.5, (3, 4)), np.array([1.0, 0.7, 1.3]), [300, 200, 250])
    start = fit_gmm(frames, 5, iterations=0, seed=4).gmm
    after = fit_gmm(frames, 5, iterations=1, seed=4, tol=0.0).gmm
    joint = np.stack([np.log(w) + multivariate_normal(mean=m, cov=np.diag(v)).logpdf(frames)
                      for w, m, v in zip(start.weights, start.means, start.variances, strict=True)], axis=1)
    resp = np.exp(joint - logsumexp(joint, axis=1, keepdims=True))
    mass = resp.sum(axis=0)
    means = resp.T @ frames / mass[:, None]
    variances = np.stack([resp[:, k] @ (frames - means[k]) ** 2 for k in range(5)]) / mass[:, None]
    np.testing.assert_allclose(after.weights, mass / len(frames), rtol=1e-9)
    np.testing.assert_allclose(after.means, means, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(after.variances, np.maximum(variances, 1e-4), rtol=1e-9)


def test_training_is_deterministic_for_a_seed(rng: np.random.Generator) -> None:
    frames = rng.normal(0, 1, (2000, 4)).astype(np.float32)
    a, b = (fit_gmm(frames, 16, iterations=4, seed=7).gmm for _ in range(2))
    c = fit_gmm(frames, 16, iterations=4, seed=8).gmm
    for part in ("weights", "means", "variances"):
        assert getattr(a, part).tobytes() == getattr(b, part).tobytes()
    assert not np.array_equal(a.means, c.means)


@pytest.mark.parametrize("frames, components, message", [
    (np.zeros((3, 2)), 4, "fewer than the 4 components"),
    (np.zeros((10, 2)), 2, "only 1 distinct vectors"),
    (np.vstack([np.ones((5, 2)), [[0.0, np.nan]]]), 2, "frame 5 has NaN"),
    (np.ones((10,)), 2, "expected a non-empty (frames, dims) matrix"),
])
def test_bad_training_frames_are_refused_by_name(frames: np.ndarray, components: int, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fit_gmm(frames, components, name="test GMM")


# --- the system on real Kaldi dumps ---------------------------------------------------------------------

def write_gaussian_dump(out: Path, rng: np.random.Generator, per_class: int, prefix: str,
               poison: str | None = None) -> Path:
    """A dump dir written by ssd's own ark writer: bona fide N(0, I), spoof shifted and narrower."""
    out.mkdir(parents=True, exist_ok=True)
    tables: dict[str, dict[str, str]] = {"utt2label": {}, "utt2attack": {}, "utt2num_frames": {}}
    with ArkScpWriter(f"ark,scp:{out / 'feats.ark'},{out / 'feats.scp'}") as writer:
        for i in range(2 * per_class):
            utt, spoof = f"{prefix}{i:03d}", i % 2 == 1
            mat = rng.standard_normal((int(rng.integers(20, 60)), 60))
            if spoof:
                mat[:, :10] = 0.6 * mat[:, :10] + 0.8
            if utt == poison:
                mat[3, 7] = np.nan
            writer.write(utt, mat.astype(np.float32))
            tables["utt2label"][utt] = "spoof" if spoof else "bonafide"
            tables["utt2attack"][utt] = f"A0{1 + (i // 2) % 4}" if spoof else "-"
            tables["utt2num_frames"][utt] = str(len(mat))
    for name, table in tables.items():
        (out / name).write_text("".join(f"{k} {v}\n" for k, v in sorted(table.items())))
    return out


@pytest.fixture(scope="module")
def dumps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    rng = np.random.default_rng(2019)
    root = tmp_path_factory.mktemp("gmm_dump")
    return {"train": write_gaussian_dump(root / "train", rng, 20, "T"),
            "eval": write_gaussian_dump(root / "eval", rng, 20, "E")}


@pytest.fixture(scope="module")
def model(dumps: dict[str, Path]) -> LfccGmm:
    return train(dumps["train"], components=4, iterations=5, seed=0)


def test_the_system_separates_bona_fide_from_spoof(model: LfccGmm, dumps: dict[str, Path]) -> None:
    table = open_table(dumps["eval"])
    scores = score_table(model, table, chunk_frames=100)
    bona = table.labels == 0
    eer, _ = compute_eer(scores[bona], scores[~bona])
    assert eer == 0.0
    assert scores[bona].min() > 0 > scores[~bona].max()  # the log-likelihood ratio's natural threshold
    assert scores[5] == pytest.approx(model.score(table.feats(5)), rel=1e-12)  # batching changes nothing
    assert model.info["frames"]["bonafide"] == int(table_frames(dumps["train"], "bonafide"))
    assert model.num_parameters == 2 * 4 * (1 + 2 * 60)


def table_frames(dump: Path, label: str) -> int:
    lengths = dict(line.split() for line in (dump / "utt2num_frames").read_text().splitlines())
    labels = dict(line.split() for line in (dump / "utt2label").read_text().splitlines())
    return sum(int(n) for utt, n in lengths.items() if labels[utt] == label)


def test_frame_subsampling_is_seeded_and_exact(dumps: dict[str, Path]) -> None:
    table = open_table(dumps["train"])
    everything = class_frames(table, "spoof")
    a = class_frames(table, "spoof", 300, np.random.default_rng(1))
    b = class_frames(table, "spoof", 300, np.random.default_rng(1))
    assert a.shape == (300, 60) and a.tobytes() == b.tobytes()
    rows = {row.tobytes() for row in everything}
    assert all(row.tobytes() in rows for row in a)


def test_save_and_load_are_bit_identical(model: LfccGmm, dumps: dict[str, Path], tmp_path: Path) -> None:
    model.save(tmp_path / "gmm.npz")
    loaded = LfccGmm.load(tmp_path / "gmm.npz")
    for name in ("bonafide", "spoof"):
        for part in ("weights", "means", "variances"):
            ours, theirs = getattr(getattr(model, name), part), getattr(getattr(loaded, name), part)
            assert theirs.dtype == np.float64 and ours.tobytes() == theirs.tobytes()
    assert loaded.info == model.info
    table = open_table(dumps["eval"])
    assert score_table(loaded, table).tobytes() == score_table(model, table).tobytes()


class _Touch:
    """Unpickling this creates ``path``: proof that a loader ran code from a file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def hostile_files(model: LfccGmm, tmp_path: Path) -> dict[str, Path]:
    marker = tmp_path / "code_ran"
    arrays = {"format": np.array("ssd-lfcc-gmm/1"), "info": np.array("{}")}
    for name, gmm in (("bonafide", model.bonafide), ("spoof", model.spoof)):
        arrays.update({f"{name}_{p}": getattr(gmm, p) for p in ("weights", "means", "variances")})
    files = {}
    files["object array in the npz"] = tmp_path / "object.npz"
    np.savez(files["object array in the npz"], **{**arrays, "spoof_means": np.array([_Touch(marker)])})
    files["a plain pickle"] = tmp_path / "model.pkl"
    files["a plain pickle"].write_bytes(pickle.dumps({"bonafide": _Touch(marker)}))
    files["a single npy array"] = tmp_path / "single.npy"
    np.save(files["a single npy array"], model.bonafide.means)
    files["negative variances"] = tmp_path / "negative.npz"
    np.savez(files["negative variances"], **{**arrays, "spoof_variances": -model.spoof.variances})
    files["an unknown key"] = tmp_path / "extra.npz"
    np.savez(files["an unknown key"], **arrays, extra=np.zeros(3))
    return files


def test_loading_refuses_pickles_and_malformed_files(model: LfccGmm, tmp_path: Path) -> None:
    for what, path in hostile_files(model, tmp_path).items():
        with pytest.raises(ModelFileError, match=str(path)):
            LfccGmm.load(path)
        assert not (tmp_path / "code_ran").exists(), what


def test_entry_points_train_score_and_write_stage4_files(dumps: dict[str, Path], tmp_path: Path) -> None:
    exp = tmp_path / "exp" / "lfcc_gmm"
    train_gmm.main(["--train-dir", str(dumps["train"]), "--exp-dir", str(exp), "--components", "2",
                    "--iterations", "3", "--seed", "0", "--max-frames", "500"])
    written = {p.name for p in exp.iterdir()}
    assert {"gmm.npz", "config.yaml", "model_info.json", "history.tsv", "run.sh"} <= written
    assert "--max-frames 500" in (exp / "run.sh").read_text()
    assert len((exp / "history.tsv").read_text().splitlines()) == 1 + 4
    out = exp / "scores" / "eval.txt"
    score_gmm.main(["--exp-dir", str(exp), "--data-dir", str(dumps["eval"]), "--out", str(out)])
    cm = read_cm_scores(out)
    assert cm.utts == sorted((dumps["eval"] / "utt2label").read_text().split()[::2])
    assert cm.labels is not None and set(cm.labels.attack_names) == {"A01", "A02", "A03", "A04"}
    bona = cm.labels.is_bonafide
    assert compute_eer(cm.scores[bona], cm.scores[~bona])[0] == 0.0


def test_scoring_refuses_non_finite_scores_and_writes_nothing(model: LfccGmm, dumps: dict[str, Path],
                                                              tmp_path: Path) -> None:
    table = open_table(dumps["eval"])
    scores = score_table(model, table)
    scores[[7, 12]] = [np.nan, -np.inf]
    out = tmp_path / "scores" / "eval.txt"
    with pytest.raises(ValueError, match="non-finite score for 2 utterance.*e.g. E007"):
        write_scores(out, dumps["eval"], table, scores)
    assert not out.exists()


def test_scoring_needs_features_for_every_labelled_utterance(model: LfccGmm, dumps: dict[str, Path],
                                                             tmp_path: Path,
                                                             capsys: pytest.CaptureFixture) -> None:
    data = tmp_path / "eval"
    data.mkdir()
    for name, value in (("utt2label", "spoof"), ("utt2attack", "A01")):
        (data / name).write_text((dumps["eval"] / name).read_text() + f"X999 {value}\n")
    model.save(tmp_path / "gmm.npz")
    with pytest.raises(SystemExit):
        score_gmm.main(["--exp-dir", str(tmp_path), "--data-dir", str(data), "--feats",
                        str(dumps["eval"] / "feats.scp"), "--out", str(tmp_path / "eval.txt")])
    err = capsys.readouterr().err
    assert "no features for 1 utterance(s)" in err and "e.g. X999" in err
    assert not (tmp_path / "eval.txt").exists()


def test_bad_features_are_refused_naming_the_utterance(tmp_path: Path) -> None:
    dump = write_gaussian_dump(tmp_path / "train", np.random.default_rng(0), 4, "P", poison="P003")
    with pytest.raises(ValueError, match="utterance P003 has NaN or infinite features"):
        train(dump, components=2, iterations=1)

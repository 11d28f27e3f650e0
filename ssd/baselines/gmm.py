"""Diagonal-covariance Gaussian mixture models trained by EM: float64 NumPy, chunked over frames.

This is the back end of the ASVspoof 2019 LFCC-GMM baseline (:mod:`ssd.baselines.lfcc_gmm`), whose
MATLAB code trains its GMMs with VLFeat's ``vl_gmm`` (VLFeat 0.9.20/0.9.21). What is matched:

- initialisation (``vl_gmm``'s default ``rand``): k-means++ seeds as means, every variance the data's
  unbiased variance, uniform weights;
- a lower bound on every variance, 1e-4 by default (the value ``vl_gmm_new`` sets);
- the loop: E-step (log-likelihood); stop when ``iterations`` M-steps are done or the relative change
  of the log-likelihood is below 1e-5; M-step. ``vl_gmm(..., 'MaxNumIterations', 10)`` makes 10 M-steps.

What differs, on purpose:

- the k-means++ seeds are drawn from a seeded random subset of the frames (256 per component by
  default): seeding on all 8M training frames of the real corpus costs several EM iterations, and a
  seed only has to be spread out, not optimal;
- a component that loses its frames (mass below 1e-6/K frames) keeps its parameters and its near-zero
  weight, where VLFeat re-splits the widest component: this keeps the likelihood monotone (with the
  variance floor the M-step is still the exact constrained maximum), and with k-means++ seeds it is rare;
- VLFeat leaves posteriors below a small threshold out of the M-step sums for speed; here every
  posterior counts.

Memory stays bounded whatever the number of frames: they are processed ``chunk_frames`` at a time, which
takes about ``chunk_frames x (K + 4D) x 8 x 2`` bytes on top of the frames themselves (which may be
float32: each chunk is converted to float64). The log-density of a chunk is one matrix product of
``[y, y*y]`` (``y`` the frames minus a fixed centre, which keeps the expansion of the quadratic form
accurate) with a (2D, K) matrix, and the M-step sums are one more.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

log = logging.getLogger(__name__)

VAR_FLOOR = 1e-4  # VLFeat's default lower bound on each diagonal variance
TOL = 1e-5  # VLFeat stops when |change of the log-likelihood / log-likelihood| is below this
CHUNK_FRAMES = 4096  # frames per matrix product: ~50 MB of work arrays at 512 components
INIT_FRAMES_PER_COMPONENT = 256  # size of the random subset the k-means++ seeds are drawn from
MIN_MASS = 1e-6  # (x 1/K) frames of responsibility below which a component is not re-estimated
LOG_2PI = math.log(2.0 * math.pi)


def check_frames(frames: np.ndarray, dim: int | None = None, what: str = "frames") -> np.ndarray:
    """A non-empty (frames, dim) array of floats (float32 or float64; kept as given, never copied)."""
    x = np.asarray(frames)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{what}: expected a non-empty (frames, dims) matrix, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{what}: expected floating-point values, got {x.dtype}")
    if dim is not None and x.shape[1] != dim:
        raise ValueError(f"{what}: {x.shape[1]} dims, the model has {dim}")
    return x


@dataclass(frozen=True)
class DiagGMM:
    """A mixture of K diagonal Gaussians in D dims: ``weights`` (K,), ``means`` and ``variances`` (K, D)."""

    weights: np.ndarray
    means: np.ndarray
    variances: np.ndarray

    def __post_init__(self) -> None:
        for name in ("weights", "means", "variances"):
            object.__setattr__(self, name, np.ascontiguousarray(getattr(self, name), dtype=np.float64))
        w, m, v = self.weights, self.means, self.variances
        if w.ndim != 1 or w.size == 0 or m.ndim != 2 or m.shape != v.shape or m.shape[0] != w.size:
            raise ValueError(f"GMM: weights {w.shape}, means {m.shape} and variances {v.shape} do not "
                             "form K weights and (K, D) means and variances")
        if not (np.isfinite(w).all() and np.isfinite(m).all() and np.isfinite(v).all()):
            raise ValueError("GMM: weights, means and variances must be finite")
        if (v <= 0).any() or (w < 0).any() or abs(w.sum() - 1.0) > 1e-6:
            raise ValueError(f"GMM: variances must be > 0 and weights >= 0 summing to 1 (sum {w.sum():.9g}, "
                             f"smallest variance {v.min():.3g})")

    @property
    def components(self) -> int:
        return self.weights.size

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    @property
    def num_parameters(self) -> int:
        return self.components * (1 + 2 * self.dim)

    @cached_property
    def _terms(self) -> _Terms:
        return _Terms.of(self, self.weights @ self.means)

    def frame_log_likelihood(self, frames: np.ndarray, chunk_frames: int = CHUNK_FRAMES) -> np.ndarray:
        """``log p(x_t)`` of every frame (rows of ``frames``), float64."""
        x = check_frames(frames, self.dim)
        out = np.empty(x.shape[0])
        for start in range(0, x.shape[0], chunk_frames):
            joint = self._terms.log_joint(self._terms.features(x[start:start + chunk_frames]))
            out[start:start + chunk_frames] = _logsumexp_rows(joint)[0]
        return out

    def mean_log_likelihood(self, frames: np.ndarray) -> float:
        """The average frame log-likelihood: the baseline's utterance-level score of one model."""
        return float(self.frame_log_likelihood(frames).mean())


@dataclass(frozen=True)
class _Terms:
    """``log w_k N(x | k) = [y, y*y] @ proj + const`` with ``y = x - center``: one product per chunk."""

    center: np.ndarray
    proj: np.ndarray
    const: np.ndarray

    @classmethod
    def of(cls, gmm: DiagGMM, center: np.ndarray) -> _Terms:
        precision = 1.0 / gmm.variances
        offset = gmm.means - center
        proj = np.concatenate([(offset * precision).T, (-0.5 * precision).T], axis=0)
        with np.errstate(divide="ignore"):  # a weight of exactly 0 is a component never chosen
            log_weights = np.log(gmm.weights)
        const = log_weights - 0.5 * (gmm.dim * LOG_2PI + np.log(gmm.variances).sum(axis=1)
                                     + (offset * offset * precision).sum(axis=1))
        return cls(center, np.ascontiguousarray(proj), const)

    def features(self, chunk: np.ndarray) -> np.ndarray:
        """``[y, y*y]`` (n, 2D) float64: the statistics both the E-step and the M-step use."""
        y = np.asarray(chunk, dtype=np.float64) - self.center
        return np.concatenate([y, y * y], axis=1)

    def log_joint(self, z: np.ndarray) -> np.ndarray:
        """``log w_k + log N(x | k)``, (n, K)."""
        out = z @ self.proj
        out += self.const
        return out


def _logsumexp_rows(joint: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise log-sum-exp and the row sums of ``exp(joint - row max)``, which overwrite ``joint``
    (dividing it by them gives the posteriors)."""
    top = joint.max(axis=1, keepdims=True)
    joint -= top
    np.exp(joint, out=joint)
    sums = joint.sum(axis=1, keepdims=True)
    return top[:, 0] + np.log(sums[:, 0]), sums


def kmeans_plus_plus(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k seeds among ``points`` (float64 rows): the first uniformly, each next one with probability
    proportional to its squared distance to the nearest seed so far (Arthur and Vassilvitskii, 2007)."""
    n = points.shape[0]
    if k > n:
        raise ValueError(f"cannot seed {k} components from {n} frames")
    seeds = np.empty((k, points.shape[1]))
    seeds[0] = points[rng.integers(n)]
    diff = points - seeds[0]
    nearest = np.einsum("ij,ij->i", diff, diff)
    for i in range(1, k):
        cumulative = np.cumsum(nearest)
        if cumulative[-1] <= 0.0:
            raise ValueError(f"the {n} frames hold only {i} distinct vectors: cannot seed {k} components")
        pick = min(int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right")), n - 1)
        seeds[i] = points[pick]
        diff = points - seeds[i]
        np.minimum(nearest, np.einsum("ij,ij->i", diff, diff), out=nearest)
    return seeds


@dataclass
class FitResult:
    """A trained GMM and its training curve.

    ``log_likelihoods[i]``: mean frame log-likelihood of the training frames after ``i`` M-steps (so
    one more entry than ``m_steps``); ``converged``: stopped early by the 1e-5 relative tolerance.
    """

    gmm: DiagGMM
    log_likelihoods: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    m_steps: int = 0
    converged: bool = False
    frames: int = 0

    @property
    def empty_components(self) -> int:
        """Components that ended with (almost) no frames."""
        return int(np.count_nonzero(self.gmm.weights * self.frames < MIN_MASS / self.gmm.components))


def _global_moments(x: np.ndarray, chunk_frames: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased variance per dimension in two chunked passes; refuses non-finite frames."""
    total = np.zeros(x.shape[1])
    for start in range(0, x.shape[0], chunk_frames):
        chunk = np.asarray(x[start:start + chunk_frames], dtype=np.float64)
        finite = np.isfinite(chunk).all(axis=1)
        if not finite.all():
            raise ValueError(f"{what}: frame {start + int(np.argmin(finite))} has NaN or infinite values")
        total += chunk.sum(axis=0)
    mean = total / x.shape[0]
    squares = np.zeros(x.shape[1])
    for start in range(0, x.shape[0], chunk_frames):
        centred = np.asarray(x[start:start + chunk_frames], dtype=np.float64) - mean
        squares += np.einsum("ij,ij->j", centred, centred)
    return mean, squares / max(x.shape[0] - 1, 1)


def _em_pass(x: np.ndarray, terms: _Terms, chunk_frames: int, accumulate: bool
             ) -> tuple[float, np.ndarray, np.ndarray]:
    """Mean frame log-likelihood, and (when ``accumulate``) the responsibility mass (K,) and the
    responsibility-weighted sums of ``[y, y*y]`` (K, 2D) that the M-step needs."""
    k = terms.const.size
    mass, sums = np.zeros(k), np.zeros((k, terms.proj.shape[0]))
    total = 0.0
    for start in range(0, x.shape[0], chunk_frames):
        z = terms.features(x[start:start + chunk_frames])
        joint = terms.log_joint(z)
        frame_ll, row_sums = _logsumexp_rows(joint)
        total += float(frame_ll.sum())
        if accumulate:
            joint /= row_sums
            mass += joint.sum(axis=0)
            sums += joint.T @ z
    return total / x.shape[0], mass, sums


def _m_step(gmm: DiagGMM, mass: np.ndarray, sums: np.ndarray, center: np.ndarray,
            var_floor: float) -> DiagGMM:
    """Maximum-likelihood weights, means and floored variances from one pass's statistics."""
    d = gmm.dim
    alive = mass >= MIN_MASS / gmm.components
    means, variances = gmm.means.copy(), gmm.variances.copy()
    first = sums[alive, :d] / mass[alive, None]
    means[alive] = center + first
    variances[alive] = np.maximum(sums[alive, d:] / mass[alive, None] - first * first, var_floor)
    return DiagGMM(mass / mass.sum(), means, variances)


def fit_gmm(frames: np.ndarray, components: int, iterations: int = 10, seed: int | Sequence[int] = 0,
            var_floor: float = VAR_FLOOR, tol: float = TOL, chunk_frames: int = CHUNK_FRAMES,
            init_frames: int | None = None, name: str = "GMM") -> FitResult:
    """Train a ``components``-component diagonal GMM on ``frames`` (N, D) by EM (see the module doc).

    ``iterations``: M-steps at most; ``tol``: relative log-likelihood change that stops early (0: never);
    ``init_frames``: size of the random subset the k-means++ seeds come from (default 256 per component).
    The result depends only on the frames and these arguments: ``seed`` fixes every random choice.
    """
    x = check_frames(frames, what=name)
    if components < 1 or iterations < 0 or chunk_frames < 1 or not var_floor > 0 or not tol >= 0:
        raise ValueError(f"{name}: need components >= 1, iterations >= 0, chunk_frames >= 1, var_floor > 0 "
                         f"and tol >= 0 (got {components}, {iterations}, {chunk_frames}, {var_floor}, {tol})")
    if x.shape[0] < components:
        raise ValueError(f"{name}: {x.shape[0]} frames are fewer than the {components} components")
    rng = np.random.default_rng(seed)
    center, variance = _global_moments(x, chunk_frames, name)
    pool_size = min(x.shape[0], init_frames or INIT_FRAMES_PER_COMPONENT * components)
    pool = np.sort(rng.choice(x.shape[0], pool_size, replace=False)) if pool_size < x.shape[0] else ...
    means = kmeans_plus_plus(np.asarray(x[pool], dtype=np.float64), components, rng)
    gmm = DiagGMM(np.full(components, 1.0 / components), means,
                  np.tile(np.maximum(variance, var_floor), (components, 1)))
    result = FitResult(gmm, frames=x.shape[0])
    log.info("%s: EM on %d frames x %d dims, %d components, at most %d iterations", name, x.shape[0],
             x.shape[1], components, iterations)
    for step in range(iterations + 1):
        started = time.perf_counter()
        last = step == iterations
        ll, mass, sums = _em_pass(x, _Terms.of(result.gmm, center), chunk_frames, accumulate=not last)
        previous = result.log_likelihoods[-1] if result.log_likelihoods else None
        result.log_likelihoods.append(ll)
        if not last and previous is not None and tol > 0 and abs((ll - previous) / ll) < tol:
            result.converged = True
        if not (last or result.converged):
            result.gmm = _m_step(result.gmm, mass, sums, center, var_floor)
            result.m_steps += 1
        result.seconds.append(time.perf_counter() - started)
        log.info("%s: iteration %d: mean log-likelihood %.6f per frame%s (%.1f s)", name, step, ll,
                 "" if previous is None else f" ({ll - previous:+.3g})", result.seconds[-1])
        if result.converged:
            log.info("%s: converged (relative change below %g) after %d M-steps", name, tol, result.m_steps)
            break
    if result.empty_components:
        log.warning("%s: %d of %d components ended with no frames", name, result.empty_components, components)
    return result

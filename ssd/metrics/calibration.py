"""Linear logistic-regression calibration: raw CM scores to log-likelihood ratios (LLRs).

``llr = scale * score + offset`` is fitted on one set (dev) by minimising the prior-weighted
cross-entropy, as the field's calibration tools (BOSARIS, FoCal) do: bona fide and spoof trials get
total weights ``prior`` and ``1 - prior``, with ``prior`` the effective bona fide prior of the
ASVspoof 5 cost model (0.655: pi_spoof 0.05, C_miss 1, C_fa 10), and the posterior log-odds are
``llr + logit(prior)``. The fit is a few Newton steps on a convex two-parameter problem. A tiny ridge
on the scale (1e-6) keeps it finite when the fitting set is perfectly separated, where the
unregularised optimum is an infinite scale.

Calibrated scores make actDCF approach minDCF and lower Cllr; the threshold ``-ln(beta)`` of the cost
model then means what it says, and ``ssd-detect`` can turn a score into a posterior under a stated prior.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ssd.metrics.dcf import ASVSPOOF5_DCF
from ssd.utils.fileio import atomic_write

FORMAT = "ssd-calibration"
VERSION = 1
# Where stage 5 writes an experiment's calibration (exp/<tag>/), for packing.
CALIBRATION_FILE = "calibration.json"
_RIDGE = 1e-6
_MAX_STEPS = 100


@dataclass(frozen=True)
class Calibration:
    """A fitted affine map from raw scores (higher = bona fide) to LLRs, and what it was fitted on."""

    scale: float
    offset: float
    prior: float
    fitted_on: str
    n_bonafide: int
    n_spoof: int

    def apply(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated LLRs of raw scores."""
        return self.scale * np.asarray(scores, dtype=np.float64) + self.offset

    def posterior_bonafide(self, scores: np.ndarray, prior_spoof: float) -> np.ndarray:
        """P(bona fide | score) under the stated spoof prior."""
        if not 0 < prior_spoof < 1:
            raise ValueError(f"the spoof prior must be between 0 and 1, got {prior_spoof}")
        log_odds = self.apply(scores) + math.log((1 - prior_spoof) / prior_spoof)
        return 1.0 / (1.0 + np.exp(-log_odds))

    def to_json(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "llr": "scale * score + offset", **asdict(self)}

    def write(self, path: Path) -> None:
        """Write as JSON (atomically), for stage 5's exp/<tag>/calibration.json and packing."""
        with atomic_write(path) as handle:
            json.dump(self.to_json(), handle, indent=2)
            handle.write("\n")

    @classmethod
    def read(cls, path: Path) -> Calibration:
        """Read a calibration file; errors name the file and what is wrong."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"{path}: cannot read calibration ({err})") from err
        return cls.from_json(data, str(path))

    @classmethod
    def from_json(cls, data: object, where: str) -> Calibration:
        """The calibration of a :meth:`to_json` mapping (a file's, or a packed model's manifest entry)."""
        if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != VERSION:
            raise ValueError(f"{where}: not an {FORMAT} version {VERSION} calibration")
        try:
            out = cls(
                float(data["scale"]), float(data["offset"]), float(data["prior"]), str(data["fitted_on"]),
                int(data["n_bonafide"]), int(data["n_spoof"]),
            )  # fmt: skip
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{where}: bad calibration field ({err!r})") from err
        if not (math.isfinite(out.scale) and math.isfinite(out.offset)):
            raise ValueError(f"{where}: calibration scale and offset must be finite")
        return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -x))


def fit_calibration(
    bonafide: np.ndarray,
    spoof: np.ndarray,
    prior: float = ASVSPOOF5_DCF.effective_prior,
    fitted_on: str = "",
) -> Calibration:
    """Fit ``scale`` and ``offset`` by prior-weighted logistic regression (Newton's method)."""
    bona = np.asarray(bonafide, dtype=np.float64)
    spf = np.asarray(spoof, dtype=np.float64)
    if bona.size == 0 or spf.size == 0:
        raise ValueError(f"calibration needs bona fide and spoof scores, got {bona.size} and {spf.size}")
    if not 0 < prior < 1:
        raise ValueError(f"the calibration prior must be between 0 and 1, got {prior}")
    x = np.concatenate([bona, spf])
    y = np.concatenate([np.ones(bona.size), -np.ones(spf.size)])  # +1 bona fide, -1 spoof
    w = np.concatenate([np.full(bona.size, prior / bona.size), np.full(spf.size, (1 - prior) / spf.size)])
    logit = math.log(prior / (1 - prior))
    # Solved on standardised scores (same objective, same optimum): scores that differ by 1e-5 would
    # otherwise give a Hessian that is singular in float64.
    mean, std = float(np.mean(x)), float(np.std(x)) or 1.0
    xs = (x - mean) / std
    ridge = _RIDGE / std**2  # the penalty on scale = a / std, written on a

    def loss(p: np.ndarray) -> float:
        z = y * (p[0] * xs + p[1] + logit)
        return float(np.sum(w * np.logaddexp(0.0, -z)) + ridge * p[0] ** 2)

    params = np.array([1.0, 0.0])
    current = loss(params)
    for _ in range(_MAX_STEPS):
        z = y * (params[0] * xs + params[1] + logit)
        r = -w * y * _sigmoid(-z)  # d loss / d (a xs + b)
        h = w * _sigmoid(z) * _sigmoid(-z)
        grad = np.array([r @ xs + 2 * ridge * params[0], r.sum()])
        hess = np.array([[h @ (xs * xs) + 2 * ridge, h @ xs], [h @ xs, h.sum()]])
        step = np.linalg.lstsq(hess, grad, rcond=None)[0]
        t = 1.0
        while t > 1e-10 and loss(params - t * step) > current:
            t /= 2  # backtracking keeps every step downhill
        params = params - t * step
        previous, current = current, loss(params)
        if previous - current < 1e-13:
            break
    params = np.array([params[0] / std, params[1] - params[0] * mean / std])
    return Calibration(float(params[0]), float(params[1]), prior, fitted_on, int(bona.size), int(spf.size))

"""The fixed-length view of an utterance that the network sees, in training and in evaluation.

The network is trained on ``L``-frame inputs (the paper's 750). Two rules turn any utterance into
such inputs:

* **repeat padding** (training and evaluation): an utterance shorter than ``L`` frames is repeated
  from its first frame until it is ``L`` frames long, as the paper's code does;
* **evaluation windows**: an utterance longer than ``L`` frames is covered by ``L``-frame windows
  starting at frames ``0, hop, 2*hop, ...`` while they end before the last frame, plus one window
  aligned to the end, so every frame is scored and the set of windows depends only on the length.
  The utterance's score is the unweighted mean of its windows' scores.

Because windows are a function of the utterance alone and the network is run in eval mode, a score
never depends on the other utterances in a batch (the paper's code cropped randomly at test time).

These are the ``windowed`` policy, the default of every model ssd trains. The ``first_window`` policy
is the AASIST authors': one window, the first ``L`` samples (tiled when the file is shorter), which is
how their released weights were evaluated; an imported AASIST keeps it so its published scores hold.
A packed model records its policy (``eval.policy``) and every scorer applies it.
"""

from __future__ import annotations

import numpy as np


def repeat_pad(feats: np.ndarray, length: int) -> np.ndarray:
    """Repeat a (T, D) matrix along time from its start until it has ``length`` frames."""
    frames = feats.shape[0]
    if frames == 0:
        raise ValueError("cannot pad an utterance with no frames")
    if frames >= length:
        return feats[:length]
    reps = -(-length // frames)
    return np.concatenate([feats] * reps, axis=0)[:length]


def window_starts(num_frames: int, length: int, hop: int) -> list[int]:
    """First frames of the evaluation windows of a ``num_frames``-long utterance."""
    if length <= 0 or not 0 < hop <= length:
        raise ValueError(f"need 0 < hop <= length, got length={length} hop={hop}")
    if num_frames <= length:
        return [0]
    starts = list(range(0, num_frames - length, hop))
    starts.append(num_frames - length)
    return starts


class WindowView:
    """The evaluation windows of one utterance, not yet copied: a source matrix and the windows' first
    frames. Scoring takes a batch's windows at a time, so an hour-long file costs its own matrix plus
    one batch, not every overlapping window at once."""

    def __init__(self, source: np.ndarray, starts: list[int], length: int) -> None:
        self.source, self.starts, self.length = source, starts, length

    def __len__(self) -> int:
        return len(self.starts)

    def skip(self, n: int) -> WindowView:
        """The view without its first ``n`` windows."""
        return WindowView(self.source, self.starts[n:], self.length)

    def take(self, lo: int, hi: int) -> np.ndarray:
        """Windows ``lo`` to ``hi`` as a (hi - lo, D, length) float32 array."""
        windows = np.stack([self.source[s:s + self.length] for s in self.starts[lo:hi]])
        return np.ascontiguousarray(windows.transpose(0, 2, 1), dtype=np.float32)


class _Windowed:
    @staticmethod
    def cut(feats: np.ndarray, length: int, hop: int) -> WindowView:
        if feats.shape[0] < length:
            return WindowView(repeat_pad(feats, length), [0], length)
        return WindowView(feats, window_starts(feats.shape[0], length, hop), length)

    @staticmethod
    def count(num_frames: int, length: int, hop: int) -> int:
        return len(window_starts(num_frames, length, hop))


class _FirstWindow:
    @staticmethod
    def cut(feats: np.ndarray, length: int, hop: int) -> WindowView:
        return WindowView(repeat_pad(feats, length), [0], length)

    @staticmethod
    def count(num_frames: int, length: int, hop: int) -> int:
        return 1


# A policy cuts an utterance into its windows and says how many a length gives without the matrix
# (sharded scoring plans its batches from the lengths alone).
EVAL_POLICIES = {"windowed": _Windowed, "first_window": _FirstWindow}


def check_policy(policy: str) -> str:
    if policy not in EVAL_POLICIES:
        known = ", ".join(sorted(EVAL_POLICIES))
        raise ValueError(f"unknown evaluation policy {policy!r}; registered: {known}")
    return policy


def window_view(feats: np.ndarray, length: int, hop: int, policy: str = "windowed") -> WindowView:
    """The evaluation windows of ``policy`` over a (T, D) utterance, as a :class:`WindowView`."""
    if feats.ndim != 2 or feats.shape[0] == 0:
        raise ValueError(f"expected a non-empty (frames, dims) matrix, got shape {feats.shape}")
    return EVAL_POLICIES[check_policy(policy)].cut(feats, length, hop)


def eval_windows(feats: np.ndarray, length: int, hop: int, policy: str = "windowed") -> np.ndarray:
    """Cut a (T, D) utterance into the evaluation windows of ``policy``, as a (W, D, length) float32 array."""
    view = window_view(feats, length, hop, policy)
    return view.take(0, len(view))


def window_count(num_frames: int, length: int, hop: int, policy: str = "windowed") -> int:
    """How many windows :func:`eval_windows` cuts from a ``num_frames``-long utterance."""
    if num_frames <= 0:
        raise ValueError(f"expected a positive number of frames, got {num_frames}")
    return EVAL_POLICIES[check_policy(policy)].count(num_frames, length, hop)

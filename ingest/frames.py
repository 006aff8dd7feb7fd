"""Per-sensor reduction of samples onto the common analysis clock (10 Hz frames).

Each sensor's samples — whatever their rate, jitter or gaps — are summed into fixed frames of
``1 / FRAME_HZ`` seconds on the epoch grid, so sensors at 20 Hz and 200 Hz meet on one clock.
A frame with no sample is a gap (count 0, NaN features), never interpolated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from posturewatch.ingest.records import row_norms

FRAME_HZ = 10
FRAME_S = 1.0 / FRAME_HZ


@dataclass(slots=True)
class SensorFrames:
    """Frame sums of one sensor for frames ``k0 .. k0 + len - 1`` (frame k starts at k / FRAME_HZ).

    ``up`` is the mean fused up direction (sensor axes, unit, NaN in gaps), ``acc`` the mean
    specific force, ``mag_sum``/``mag_sq`` the sums of |acc| and |acc|² and ``n`` the sample count,
    so that motion over any window of frames is computable from cumulative sums.
    """

    k0: int
    n: np.ndarray
    up: np.ndarray
    acc: np.ndarray
    mag_sum: np.ndarray
    mag_sq: np.ndarray

    def __len__(self) -> int:
        return len(self.n)

    @classmethod
    def empty(cls, k0: int, count: int) -> SensorFrames:
        nan3 = np.full((count, 3), np.nan)
        return cls(k0, np.zeros(count, np.int64), nan3, nan3.copy(), np.zeros(count), np.zeros(count))

    @property
    def k1(self) -> int:
        """The frame just after the last one."""
        return self.k0 + len(self.n)

    def slice(self, a: int, b: int) -> SensorFrames:
        """Frames ``a .. b - 1`` counted from ``k0`` (Python slice rules: negatives count from the end)."""
        a, b, _ = slice(a, b).indices(len(self))
        b = max(a, b)
        return SensorFrames(self.k0 + a, self.n[a:b], self.up[a:b], self.acc[a:b], self.mag_sum[a:b],
                            self.mag_sq[a:b])

    def concat(self, *others: SensorFrames) -> SensorFrames:
        """These frames followed by ``others``; each must start where the previous one ends."""
        parts = (self, *others)
        for before, after in zip(parts, parts[1:], strict=False):
            if after.k0 != before.k1:
                raise ValueError(f"frames {after.k0}.. do not follow frames ..{before.k1 - 1}")
        return SensorFrames(self.k0, *(np.concatenate([getattr(p, name) for p in parts])
                                       for name in ("n", "up", "acc", "mag_sum", "mag_sq")))

    @classmethod
    def covering(cls, parts: Sequence[SensorFrames], k0: int, k1: int) -> SensorFrames:
        """Frames ``[k0, k1)`` from ordered, non-overlapping ``parts`` within it; gaps are empty frames."""
        pieces, k = [], k0
        for p in parts:
            if p.k0 < k or p.k1 > k1:
                raise ValueError(f"frames {p.k0}..{p.k1 - 1} overlap others or lie outside {k0}..{k1 - 1}")
            if p.k0 > k:
                pieces.append(cls.empty(k, p.k0 - k))
            pieces.append(p)
            k = p.k1
        if k < k1 or not pieces:
            pieces.append(cls.empty(k, max(k1 - k, 0)))
        return pieces[0].concat(*pieces[1:])


def frame_index(t: np.ndarray) -> np.ndarray:
    """Frame number of each timestamp (floor on the epoch grid)."""
    return np.floor(np.asarray(t) * FRAME_HZ + 1e-9).astype(np.int64)


def reduce_to_frames(t: np.ndarray, up: np.ndarray | None, acc: np.ndarray, k0: int, k1: int) -> SensorFrames:
    """Sum samples with frame index in ``[k0, k1)`` into frames; samples outside are ignored.
    Without ``up`` (a caller that needs only the specific force) the frames' up stays NaN."""
    count = k1 - k0
    out = SensorFrames.empty(k0, count)
    if count <= 0 or len(t) == 0:
        return out
    idx = frame_index(t) - k0
    if len(idx) > 1 and (np.diff(idx) < 0).any():
        return _scattered_to_frames(idx, acc if up is None else up, acc, out, with_up=up is not None)
    # time-ordered samples (every caller's case): each frame is one run, summed in one sweep
    lo, hi = np.searchsorted(idx, (0, count))
    if hi <= lo:
        return out
    idx, acc = idx[lo:hi], acc[lo:hi]
    starts = np.flatnonzero(np.diff(idx, prepend=-1))
    frames = idx[starts]
    n = np.diff(np.append(starts, len(idx)))
    out.n[frames] = n
    mag = row_norms(acc)
    out.mag_sum[frames] = np.add.reduceat(mag, starts, dtype=np.float64)
    out.mag_sq[frames] = np.add.reduceat(mag * mag, starts, dtype=np.float64)
    out.acc[frames] = np.add.reduceat(acc, starts, axis=0, dtype=np.float64) / n[:, None]
    if up is None:
        return out
    s_up = np.add.reduceat(up[lo:hi], starts, axis=0, dtype=np.float64)
    norm = row_norms(s_up, keepdims=True)
    out.up[frames] = s_up / np.where(norm > 0, norm, 1.0)
    return out


def _scattered_to_frames(idx: np.ndarray, up: np.ndarray, acc: np.ndarray, out: SensorFrames,
                         with_up: bool = True) -> SensorFrames:
    """``reduce_to_frames`` for samples in any order (frame ``idx`` counted from ``out.k0``)."""
    count = len(out)
    keep = (idx >= 0) & (idx < count)
    idx = idx[keep]
    n = np.bincount(idx, minlength=count)
    out.n = n
    has = n > 0
    mag = np.linalg.norm(acc[keep], axis=1)
    out.mag_sum = np.bincount(idx, mag, minlength=count)
    out.mag_sq = np.bincount(idx, mag * mag, minlength=count)
    for j in range(3):
        s_up = np.bincount(idx, up[keep, j], minlength=count)
        s_acc = np.bincount(idx, acc[keep, j], minlength=count)
        if with_up:
            out.up[has, j] = s_up[has]
        out.acc[has, j] = s_acc[has] / n[has]
    if not with_up:
        return out
    norm = np.linalg.norm(out.up[has], axis=1, keepdims=True)
    out.up[has] /= np.where(norm > 0, norm, 1.0)
    return out


def rolling_motion(frames: SensorFrames, window_frames: int) -> np.ndarray:
    """Standard deviation of |acc| over a trailing window of frames (m/s²), NaN without data.

    Orientation-free: it measures how much the body accelerates, which separates walking from
    still postures regardless of how the sensor is worn.
    """
    n = _trailing_sums(np.concatenate(([0], np.cumsum(frames.n))), window_frames)
    s = _trailing_sums(np.concatenate(([0.0], np.cumsum(frames.mag_sum))), window_frames)
    q = _trailing_sums(np.concatenate(([0.0], np.cumsum(frames.mag_sq))), window_frames)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = q / n - (s / n) ** 2
    out = np.sqrt(np.maximum(var, 0.0))
    out[n < 3] = np.nan
    return out


def _trailing_sums(c: np.ndarray, w: int) -> np.ndarray:
    """``c[i] - c[max(i - w, 0)]`` for ``i = 1 .. len(c) - 1`` of a running sum ``c`` (``c[0] == 0``),
    by slices (fancy indexing costs more than the sums)."""
    n = len(c) - 1
    if w < 1:
        hi = np.arange(1, n + 1)
        return c[hi] - c[np.maximum(hi - w, 0)]
    head = min(w, n + 1)
    return np.concatenate((c[1:head] - c[0], c[head:] - c[: n + 1 - head]))


def runs(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run-length encoding of per-frame values: (starts, lengths, values)."""
    if len(labels) == 0:
        e = np.zeros(0, np.int64)
        return e, e, labels[:0]
    change = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    starts = np.concatenate(([0], change))
    lengths = np.diff(np.concatenate((starts, [len(labels)])))
    return starts, lengths, labels[starts]

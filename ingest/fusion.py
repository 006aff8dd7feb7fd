"""Orientation fusion: gyroscope + accelerometer (+ magnetometer) → orientation / gravity direction.

Wraps the `vqf` library (Laidig & Seel 2023). The public batch function `estimate_orientation`
follows docs/architecture.md §3; `GravityTracker` is the streaming form the pipeline uses per sensor: it keeps
the filter state between blocks and returns, per sample, the world's up direction expressed in
sensor axes — all that heading-free segment angles need. Accelerometer-only sensors fall back to a
low-pass of the specific force, which equals gravity whenever the sensor is not accelerating on
average.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import signal
from vqf import VQF, offlineVQF

from posturewatch.ingest.records import row_norms

__all__ = ["estimate_orientation", "up_in_sensor_frame", "GravityTracker"]

ACC_ONLY_CUTOFF_HZ = 0.6
"""Low-pass corner for accelerometer-only inclination: below gait (~1.8 Hz), above posture changes."""

FUSION_HZ = 50.0
"""Streaming fusion runs near this rate: faster sensors are fused in groups of samples (2 at 100 Hz,
4 at 200 Hz), each group's rotation increments composed into one and its specific force averaged.
The outputs are 10 Hz frames and 1 Hz angles, and VQF's time constants are in seconds, so the
up direction hardly changes (well under a degree), while the filter — the costliest step of an
analysis — runs half as often."""

RESET_GAP_PERIODS = 2.5
"""Lost samples (a gap over this many sample periods) restart the filter from the next sample:
VQF would otherwise integrate across the gap as if no rotation happened in it — 60° missed in a
quick bend — and take seconds to recover. The gyro bias estimate is carried over."""


def _check_rate(rate_hz: float) -> None:
    if not (math.isfinite(rate_hz) and rate_hz > 0):
        raise ValueError(f"rate_hz must be a finite positive number, got {rate_hz}")


def _as_samples(name: str, arr: np.ndarray | None, n: int | None = None) -> np.ndarray | None:
    if arr is None:
        return None
    out = np.ascontiguousarray(arr, dtype=np.float64)
    if out.ndim != 2 or out.shape[1] != 3:
        raise ValueError(f"{name} must have shape (N, 3), got {out.shape}")
    if n is not None and len(out) != n:
        raise ValueError(f"{name} has {len(out)} samples, expected {n}")
    return out


def estimate_orientation(
    gyr: np.ndarray, acc: np.ndarray, rate_hz: float, mag: np.ndarray | None = None
) -> np.ndarray:
    """Orientation of a sensor for every sample, as (N, 4) unit quaternions ``[w, x, y, z]``.

    ``gyr`` (N, 3) rad/s and ``acc`` (N, 3) m/s² at a constant ``rate_hz``; with ``mag`` (N, 3) µT
    the 9D solution is returned (earth frame ENU), otherwise the 6D one (z up, arbitrary heading).
    Each quaternion rotates sensor coordinates into the earth frame. Float64 out; N = 0 gives
    an empty (0, 4) array.

    This is the offline (non-causal) vqf: it looks ahead, which makes it the most accurate choice
    for recorded data. Live code uses ``GravityTracker``, which is causal and streams. Samples
    must be finite and evenly spaced (drop or split at gaps first).

    Raises ``ValueError`` for wrong shapes, mismatched lengths or a non-finite/non-positive rate.

    >>> q = estimate_orientation(gyr, acc, rate_hz=100.0)      # doctest: +SKIP
    >>> up = up_in_sensor_frame(q)                             # doctest: +SKIP
    """
    acc = _as_samples("acc", acc)
    gyr = _as_samples("gyr", gyr, len(acc))
    mag = _as_samples("mag", mag, len(acc))
    _check_rate(rate_hz)
    if len(acc) == 0:
        return np.zeros((0, 4))
    out = offlineVQF(gyr, acc, mag, 1.0 / rate_hz)
    return out["quat9D"] if mag is not None else out["quat6D"]


def up_in_sensor_frame(quat: np.ndarray) -> np.ndarray:
    """The earth's z axis expressed in sensor coordinates for (N, 4) ``[w, x, y, z]`` quaternions.

    It is the third row of the sensor→earth rotation matrix.
    """
    w, x, y, z = quat[:, 0], quat[:, 1], quat[:, 2], quat[:, 3]
    return np.column_stack((2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)))


class GravityTracker:
    """Streaming up-direction estimate for one sensor, block by block.

    Uses VQF 6D when gyroscope data is present, a zero-phase-free (causal) low-pass of the
    accelerometer otherwise. The filter restarts after lost samples (``RESET_GAP_PERIODS``).
    """

    def __init__(self, rate_hz: float) -> None:
        _check_rate(rate_hz)
        self.rate_hz = rate_hz
        self._vqf: VQF | None = None
        self._sos = signal.butter(2, ACC_ONLY_CUTOFF_HZ, fs=rate_hz, output="sos")
        self._zi: np.ndarray | None = None
        self._last_t: float | None = None
        self._gap_s = RESET_GAP_PERIODS / rate_hz
        self._bias: tuple[np.ndarray, float] | None = None
        self.resets = 0
        self.group = max(1, int(rate_hz / FUSION_HZ + 0.05))  # samples fused as one
        self._carry: tuple[np.ndarray, np.ndarray] | None = None  # an unfinished group's samples
        self._last_up: np.ndarray | None = None

    def _segments(self, t: np.ndarray) -> list[tuple[int, int]]:
        """Index ranges without a reset-worthy gap, including one before this block."""
        cuts = np.flatnonzero(np.diff(t) > self._gap_s) + 1
        bounds = [0, *cuts.tolist(), len(t)]
        if self._last_t is not None and len(t) and t[0] - self._last_t > self._gap_s:
            self._reset()
        return list(zip(bounds[:-1], bounds[1:], strict=True))

    def _reset(self) -> None:
        if self._vqf is not None:
            bias, sigma = self._vqf.getBiasEstimate()
            self._bias = (np.array(bias, dtype=np.float64), float(sigma))
        self._vqf = None
        self._zi = None
        self._carry = self._last_up = None
        self.resets += 1

    def update(self, t: np.ndarray, acc: np.ndarray, gyr: np.ndarray | None) -> np.ndarray:
        """Return (N, 3) unit up vectors in sensor axes for the block's samples."""
        up = np.empty((len(t), 3))
        for k, (a, b) in enumerate(self._segments(t)):
            if k:
                self._reset()
            if b > a:
                up[a:b] = self._update_run(acc[a:b], None if gyr is None else gyr[a:b])
        if self._zi is not None and not np.isfinite(self._zi).all():
            self._zi = None  # a non-finite sample must not poison every later estimate
        if len(t):
            self._last_t = float(t[-1])
        return up

    def _update_run(self, acc: np.ndarray, gyr: np.ndarray | None) -> np.ndarray:
        acc = np.ascontiguousarray(acc, dtype=np.float64)
        if gyr is not None:
            if self._vqf is None:
                self._vqf = VQF(self.group / self.rate_hz)
                if self._bias is not None:
                    self._vqf.setBiasEstimate(*self._bias)
            gyr = np.ascontiguousarray(gyr, dtype=np.float64)
            if self.group == 1:
                return up_in_sensor_frame(self._vqf.updateBatch(gyr, acc)["quat6D"])
            return self._update_groups(acc, gyr)
        if self._zi is None:
            self._zi = signal.sosfilt_zi(self._sos)[:, :, None] * acc[0][None, None, :]
        low, self._zi = signal.sosfilt(self._sos, acc, axis=0, zi=self._zi)
        norm = row_norms(low, keepdims=True)
        return low / np.where(norm > 0, norm, 1.0)

    def _update_groups(self, acc: np.ndarray, gyr: np.ndarray) -> np.ndarray:
        """VQF over groups of ``group`` samples. A group's last sample gets the filter's estimate
        after the group; the others the estimate before it turned on by their own rotation rates
        (causal, so the output does not depend on how the samples are split into blocks);
        samples that do not fill a group yet wait for the next block, answered the same way."""
        k, done, dt = self.group, 0, 1.0 / self.rate_hz
        if self._carry is not None:
            done = len(self._carry[0])
            acc, gyr = np.concatenate((self._carry[0], acc)), np.concatenate((self._carry[1], gyr))
        m = len(acc) // k
        self._carry = (acc[m * k:].copy(), gyr[m * k:].copy()) if len(acc) > m * k else None
        out = np.empty((len(acc), 3))
        if m:
            ups = up_in_sensor_frame(self._vqf.updateBatch(
                _composed_rates(gyr[: m * k].reshape(m, k, 3), dt),
                _group_mean(acc[: m * k].reshape(m, k, 3)))["quat6D"])
            grouped = out[: m * k].reshape(m, k, 3)
            grouped[:, k - 1] = ups
            before = np.empty((m, 3))
            before[1:] = ups[:-1]
            before[0] = self._last_up if self._last_up is not None else np.nan
            grouped[:, : k - 1] = _turned(before, gyr[: m * k].reshape(m, k, 3)[:, : k - 1], dt)
            if self._last_up is None:
                grouped[0, : k - 1] = _unit(acc[: k - 1])
            self._last_up = ups[-1].copy()
        if len(acc) > m * k:
            if self._last_up is None:
                out[m * k:] = _unit(acc[m * k:])
            else:
                out[m * k:] = _turned(self._last_up[None], gyr[None, m * k:], dt)[0]
        return out[done:]


def _turned(up: np.ndarray, gyr: np.ndarray, dt: float) -> np.ndarray:
    """(m, 3) up directions carried through the (m, j, 3) rates after them, sample by sample
    (to first order: d up / dt = up × ω in sensor axes), renormalised: (m, j, 3)."""
    if gyr.shape[1] == 1:  # one sample (100 Hz in pairs): the same sums on plain rows, faster
        angle = gyr[:, 0] * dt
        return _unit(up + _cross(up, angle))[:, None, :]
    angle = np.cumsum(gyr * dt, axis=1)
    return _unit(up[:, None, :] + _cross(np.broadcast_to(up[:, None, :], angle.shape), angle))


def _group_mean(v: np.ndarray) -> np.ndarray:
    """(m, k, 3) → (m, 3) means over the groups: ``v.mean(axis=1)`` bit for bit (the same sums in
    the same order, then divided by k), without numpy's slow reduction over a short middle axis."""
    total = v[:, 0] + 0.0  # numpy's sum starts from 0.0 too (so −0.0 comes out as 0.0)
    for j in range(1, v.shape[1]):
        total += v[:, j]
    total /= v.shape[1]
    return total


def _composed_rates(gyr: np.ndarray, dt: float) -> np.ndarray:
    """(m, k, 3) rates of k consecutive samples → (m, 3) rates giving each group's rotation over
    its k steps: the increments composed to second order (BCH: c ← c + a + ½ c × a), which the
    plain mean would miss when the rotation axis turns within a group."""
    c = gyr[:, 0] * dt
    for j in range(1, gyr.shape[1]):
        a = gyr[:, j] * dt
        c = c + a + 0.5 * _cross(c, a)
    return np.ascontiguousarray(c / (gyr.shape[1] * dt))


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross products along the last axis (``np.cross`` is several times slower on many rows)."""
    out = np.empty(np.broadcast_shapes(a.shape, b.shape))
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    out[..., 0] = a1 * b2 - a2 * b1
    out[..., 1] = a2 * b0 - a0 * b2
    out[..., 2] = a0 * b1 - a1 * b0
    return out


def _unit(v: np.ndarray) -> np.ndarray:
    norm = row_norms(v, keepdims=True)
    return v / np.where(norm > 0, norm, 1.0)

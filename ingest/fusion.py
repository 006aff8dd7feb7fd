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

__all__ = ["estimate_orientation", "up_in_sensor_frame", "GravityTracker"]

ACC_ONLY_CUTOFF_HZ = 0.6
"""Low-pass corner for accelerometer-only inclination: below gait (~1.8 Hz), above posture changes."""

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
                self._vqf = VQF(1.0 / self.rate_hz)
                if self._bias is not None:
                    self._vqf.setBiasEstimate(*self._bias)
            quat = self._vqf.updateBatch(np.ascontiguousarray(gyr, dtype=np.float64), acc)["quat6D"]
            return up_in_sensor_frame(quat)
        if self._zi is None:
            self._zi = signal.sosfilt_zi(self._sos)[:, :, None] * acc[0][None, None, :]
        low, self._zi = signal.sosfilt(self._sos, acc, axis=0, zi=self._zi)
        norm = np.linalg.norm(low, axis=1, keepdims=True)
        return low / np.where(norm > 0, norm, 1.0)

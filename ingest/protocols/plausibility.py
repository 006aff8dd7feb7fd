"""Physical limits a decoded sample must respect before it is handed on.

Float payloads (Movesense, Movella DOT) can carry NaN, infinities or garbage exponents when a
packet is corrupt or misparsed; integer payloads cannot exceed their range but a misaligned parse
can still produce a quaternion that is not unit length. These checks catch both. The limits are
far beyond any wearable IMU's range (±16 g, ±2000 °/s is typical), so they never clip real data.
"""

from __future__ import annotations

import numpy as np

from posturewatch.ingest.records import GRAVITY

ACC_LIMIT_MS2 = 40 * GRAVITY
GYR_LIMIT_RADS = np.deg2rad(5000.0)
MAG_LIMIT_UT = 5000.0
QUAT_NORM_TOLERANCE = 0.05


def _within(arr: np.ndarray | None, limit: float) -> bool:
    if arr is None:
        return True
    return bool(np.all(np.isfinite(arr)) and np.all(np.abs(arr) <= limit))


def plausible(
    acc: np.ndarray | None = None,
    gyr: np.ndarray | None = None,
    mag: np.ndarray | None = None,
    quat: np.ndarray | None = None,
) -> bool:
    """True when every value is finite and inside the physical limits (NaN acc allowed only
    when it is all NaN, which marks an orientation-only device mode)."""
    if acc is not None and not np.all(np.isnan(acc)) and not _within(acc, ACC_LIMIT_MS2):
        return False
    if not (_within(gyr, GYR_LIMIT_RADS) and _within(mag, MAG_LIMIT_UT)):
        return False
    if quat is not None:
        if not np.all(np.isfinite(quat)):
            return False
        norms = np.linalg.norm(quat, axis=-1)
        if np.any(np.abs(norms - 1.0) > QUAT_NORM_TOLERANCE):
            return False
    return True

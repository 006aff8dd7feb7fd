"""Short losses of a sensor's packets bridged for posture: its last angles held for up to
``BRIDGE_S``.

A burst of lost packets (tens of milliseconds to two seconds over BLE) leaves frames without a
thigh reading; posture would then fall back on the trunk alone for those frames and a
sitting bout could read as standing for a second or two. A segment does not change posture
unseen in so little time (a transition itself takes 1.5–3 s), so its last tilt, sagittal
inclination and roll stand in. Longer dropouts stay missing. Only posture features are bridged;
the angles reported for those frames stay missing.
"""

from __future__ import annotations

import numpy as np

from posturewatch.ingest.frames import FRAME_HZ

BRIDGE_S = 2.0


class GapBridge:
    """Per location, the last finite value of each feature and how many frames ago it was seen."""

    def __init__(self, bridge_s: float = BRIDGE_S) -> None:
        self.limit = int(round(bridge_s * FRAME_HZ))
        self._last: dict[str, tuple[float, int]] = {}

    def fill(self, key: str, values: np.ndarray) -> np.ndarray:
        """``values`` with NaN runs of at most the limit (also across calls) filled forward."""
        x = np.asarray(values, float)
        last, age = self._last.get(key, (np.nan, 10**9))
        n = len(x)
        if n == 0:
            return x
        ok = np.isfinite(x)
        if ok.all():  # nothing lost (nearly always): nothing to fill
            self._last[key] = (float(x[-1]), 0)
            return x.copy()
        idx = np.where(ok, np.arange(n), -1)
        np.maximum.accumulate(idx, out=idx)
        gap = np.where(idx >= 0, np.arange(n) - idx, age + 1 + np.arange(n))
        src = np.where(idx >= 0, x[idx.clip(0)], last)
        out = np.where(ok | (gap > self.limit), x, src)
        if ok.any():
            j = int(np.flatnonzero(ok)[-1])
            self._last[key] = (float(x[j]), n - 1 - j)
        else:
            self._last[key] = (last, age + n)
        return out

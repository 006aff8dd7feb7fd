"""Steps in walking bouts, from the final 10 Hz frames: one time per heel strike.

With a thigh sensor each stride swings the thigh forward (its sagittal inclination at a minimum:
the sensor leg's heel strike) and back (a maximum: the other leg's heel strike half a stride
later), so minima and maxima of the thigh inclination are the two legs' steps. Without a thigh the
pelvis bounces once per step: its specific force peaks at each heel strike.

Peaks are found with ``scipy.signal.find_peaks`` on whole blocks, with a few seconds of the frames
before as context and the frames not yet final after as look-ahead, so a peak at a block's edge is
judged the same way whatever the blocking. Only peaks inside walking (give or take
``WALK_MARGIN_S``) count: a fidgeting leg or a sit-down is no step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import find_peaks

from posturewatch.analytics.records import Posture
from posturewatch.ingest.frames import FRAME_HZ

CONTEXT_S = 3.0
WALK_MARGIN_S = 0.5


@dataclass(frozen=True)
class StepSettings:
    """Peak rules: least swing / bounce of a step and least time between two steps of one kind."""

    thigh_swing_deg: float = 15.0  # thigh forward-to-back swing of a real stride is 25–40°
    pelvis_bounce: float = 2.0  # m/s²: heel-strike peak of the pelvis specific force
    min_stride_s: float = 0.6  # one leg's steps (thigh) are a stride apart
    min_step_s: float = 0.3  # pelvis peaks are a step apart


class StepCounter:
    """Streaming heel-strike detection; ``push`` returns the step times among the new frames."""

    def __init__(self, settings: StepSettings | None = None) -> None:
        self.s = settings or StepSettings()
        self._t = np.zeros(0)
        self._thigh = np.zeros(0)
        self._pelvis = np.zeros(0)
        self._walk = np.zeros(0, bool)

    def push(self, t: np.ndarray, posture: np.ndarray, thigh: np.ndarray | None,
             pelvis_force: np.ndarray | None, ahead_thigh: np.ndarray | None = None,
             ahead_pelvis: np.ndarray | None = None) -> np.ndarray:
        """Step times among the final frames ``t`` (sorted).

        ``thigh`` is the thigh inclination (deg), ``pelvis_force`` the pelvis |specific force|
        (m/s²), per frame (None or NaN where missing); ``ahead_*`` the same for the frames after
        ``t`` that are not final yet (look-ahead only, never counted).
        """
        n = len(t)
        if n == 0:
            return np.zeros(0)
        nan = np.full(n, np.nan)
        thigh = nan if thigh is None else np.asarray(thigh, float)
        pelvis = nan if pelvis_force is None else np.asarray(pelvis_force, float)
        walk = np.asarray(posture) == Posture.WALKING
        past = len(self._t)
        all_t = np.concatenate((self._t, t))
        all_walk = np.concatenate((self._walk, walk))
        own_thigh = np.concatenate((self._thigh, thigh))
        own_pelvis = np.concatenate((self._pelvis, pelvis))
        sig_thigh = np.concatenate((own_thigh, _or_empty(ahead_thigh)))
        sig_pelvis = np.concatenate((own_pelvis, _or_empty(ahead_pelvis)))
        keep = int(CONTEXT_S * FRAME_HZ)
        self._t, self._walk = all_t[-keep:], all_walk[-keep:]
        self._thigh, self._pelvis = own_thigh[-keep:], own_pelvis[-keep:]

        near_walk = _dilate(all_walk, int(WALK_MARGIN_S * FRAME_HZ))
        has_thigh = np.isfinite(own_thigh)
        thigh_peaks = self._thigh_steps(sig_thigh)
        pelvis_peaks = self._pelvis_steps(sig_pelvis)
        thigh_peaks = thigh_peaks[(thigh_peaks >= past) & (thigh_peaks < past + n)]
        pelvis_peaks = pelvis_peaks[(pelvis_peaks >= past) & (pelvis_peaks < past + n)]
        # the pelvis only counts where the thigh has no data
        peaks = np.sort(np.concatenate((thigh_peaks[has_thigh[thigh_peaks]],
                                        pelvis_peaks[~has_thigh[pelvis_peaks]])))
        peaks = peaks[near_walk[peaks]]
        return all_t[peaks]

    def _thigh_steps(self, theta: np.ndarray) -> np.ndarray:
        if not np.isfinite(theta).any():
            return np.zeros(0, np.int64)
        x = _filled(theta)
        dist = max(1, int(self.s.min_stride_s * FRAME_HZ))
        wlen = 2 * FRAME_HZ + 1  # prominence judged within ±1 s: the same whatever the blocking
        fwd, _ = find_peaks(-x, prominence=self.s.thigh_swing_deg, distance=dist, wlen=wlen)
        back, _ = find_peaks(x, prominence=self.s.thigh_swing_deg, distance=dist, wlen=wlen)
        return np.concatenate((fwd, back)).astype(np.int64)

    def _pelvis_steps(self, force: np.ndarray) -> np.ndarray:
        if not np.isfinite(force).any():
            return np.zeros(0, np.int64)
        x = _filled(force)
        dist = max(1, int(self.s.min_step_s * FRAME_HZ))
        peaks, _ = find_peaks(x, prominence=self.s.pelvis_bounce, distance=dist, wlen=2 * FRAME_HZ + 1)
        return peaks.astype(np.int64)


def _or_empty(x: np.ndarray | None) -> np.ndarray:
    return np.zeros(0) if x is None else np.asarray(x, float)


def _filled(x: np.ndarray) -> np.ndarray:
    """NaNs bridged linearly from their neighbours (a gap makes no peak of its own, and the
    result near a frame does not depend on how far the block reaches)."""
    good = np.isfinite(x)
    idx = np.arange(len(x))
    return np.where(good, x, np.interp(idx, idx[good], x[good]))


def _dilate(mask: np.ndarray, frames: int) -> np.ndarray:
    """``mask`` widened by ``frames`` on both sides."""
    if frames <= 0 or not mask.any():
        return mask
    c = np.concatenate(([0], np.cumsum(mask)))
    n = len(mask)
    idx = np.arange(n)
    lo, hi = np.maximum(idx - frames, 0), np.minimum(idx + frames + 1, n)
    return (c[hi] - c[lo]) > 0

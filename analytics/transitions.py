"""Sit-to-stand and stand-to-sit transitions, from the final posture and the segment angles.

A transition is where the final posture changes between sitting and standing or walking; lying
down and getting up pass through sitting, so a change between lying and standing or walking is
one too (the seated moment may be too short to be a bout of its own). Its start and end are the
movement around that change: the leading segment's sagittal angle (the thigh, else the pelvis)
leaves the level it held before and reaches the level it holds after, at most ``MAX_HALF_S``
either side; with a thigh, around where it passes half way, up to ``SEARCH_S`` after the change. With a
thigh, a change where the thigh did not turn by ``MIN_CHANGE_DEG`` is no transition (an undefined
thigh angle for a moment can blip the posture).
How often a person gets up from a chair, and how long it takes, is a clinical marker of function.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posturewatch.analytics.records import Posture, posture_in
from posturewatch.ingest.frames import FRAME_HZ

SIT_TO_STAND = "sit_to_stand"
STAND_TO_SIT = "stand_to_sit"
LEVEL_TOL_DEG = {"thigh": 3.0, "pelvis": 1.5}  # still "at" the level before / after
MIN_CHANGE_DEG = {"thigh": 40.0}  # a seated thigh is ~90° from a standing one
MAX_HALF_S = 3.0
SEARCH_S = 10.0  # how far after a posture change its movement is looked for
THIGH_MID_DEG = 45.0  # half way between a standing and a seated thigh
_ON_FEET = (int(Posture.STANDING), int(Posture.WALKING))
# lying down and getting up pass through sitting, however briefly
_OFF_FEET = (int(Posture.SITTING), int(Posture.LYING))


@dataclass(frozen=True, slots=True)
class Transition:
    """One postural transition: ``kind`` (``sit_to_stand``/``stand_to_sit``), start and end (s)."""

    kind: str
    start: float
    end: float

    @property
    def duration_s(self) -> float:
        return self.end - self.start


class TransitionFinder:
    """Streaming: ``push`` returns the transitions whose change lies in the new final frames."""

    def __init__(self) -> None:
        self._last: int | None = None  # final posture of the last frame seen
        keep = int(MAX_HALF_S * FRAME_HZ) + 1
        self._keep = keep
        self._t = np.zeros(0)
        self._angle = np.zeros(0)
        self._source = ""

    def push(self, t: np.ndarray, posture: np.ndarray, thigh: np.ndarray | None, pelvis: np.ndarray | None,
             ahead_t: np.ndarray | None = None, ahead_thigh: np.ndarray | None = None,
             ahead_pelvis: np.ndarray | None = None) -> list[Transition]:
        """Transitions at posture changes among the final frames ``t``; ``thigh``/``pelvis`` are the
        thigh inclination and pelvic tilt (deg, NaN or None where missing), ``ahead_*`` the frames
        after ``t`` not final yet (only to see a movement's end)."""
        n = len(t)
        if n == 0:
            return []
        codes = np.asarray(posture, np.int64)
        prev = np.concatenate(([self._last if self._last is not None else codes[0]], codes[:-1]))
        up = posture_in(codes, _ON_FEET) & posture_in(prev, _OFF_FEET)
        down = posture_in(codes, _OFF_FEET) & posture_in(prev, _ON_FEET)
        self._last = int(codes[-1])
        source, angle, ahead = self._signal(n, thigh, pelvis, ahead_thigh, ahead_pelvis)
        if source != self._source:
            self._t, self._angle, self._source = np.zeros(0), np.zeros(0), source
        past = len(self._t)
        sig_t = np.concatenate((self._t, t, _or_empty(ahead_t)[: len(ahead)]))
        sig = np.concatenate((self._angle, angle, ahead[: len(sig_t) - past - n]))
        self._t, self._angle = sig_t[: past + n][-self._keep:], sig[: past + n][-self._keep:]
        found = []
        for i in np.flatnonzero(up | down):
            kind = SIT_TO_STAND if up[i] else STAND_TO_SIT
            centre = past + int(i)
            if source == "thigh":  # the bout cleaning may have moved the change off the movement
                centre = _thigh_crossing(sig, centre, rising=not up[i])
            span = _movement(sig_t, sig, centre, source)
            if span is not None:
                found.append(Transition(kind, *span))
        return found

    @staticmethod
    def _signal(n: int, thigh, pelvis, ahead_thigh, ahead_pelvis) -> tuple[str, np.ndarray, np.ndarray]:
        if thigh is not None and np.isfinite(thigh).any():
            return "thigh", np.asarray(thigh, float), _or_empty(ahead_thigh)
        if pelvis is not None:
            return "pelvis", np.asarray(pelvis, float), _or_empty(ahead_pelvis)
        return "", np.full(n, np.nan), np.zeros(0)


def _thigh_crossing(angle: np.ndarray, i: int, rising: bool) -> int:
    """The frame nearest ``i`` (within ``SEARCH_S``) where the thigh passes ``THIGH_MID_DEG`` the
    way the transition goes (rising: standing → seated); ``i`` itself if there is none."""
    lo, hi = max(0, i - int(MAX_HALF_S * FRAME_HZ)), min(len(angle), i + int(SEARCH_S * FRAME_HZ))
    seg = angle[lo:hi]
    with np.errstate(invalid="ignore"):
        above = seg >= THIGH_MID_DEG
    cross = np.flatnonzero(above[1:] != above[:-1]) + 1
    cross = cross[above[cross] == rising]
    if not len(cross):
        return i
    return lo + int(cross[np.argmin(np.abs(cross + lo - i))])


def _movement(t: np.ndarray, angle: np.ndarray, i: int, source: str) -> tuple[float, float] | None:
    """Start and end of the movement around frame ``i``: the last frame still at the level before
    (the median of the window's first second, within ``LEVEL_TOL_DEG``) to the first frame at the
    level after. None when the leading angle did not change like a sit-to-stand does."""
    half = int(MAX_HALF_S * FRAME_HZ)
    lo, hi = max(0, i - half), min(len(t), i + half + 1)
    seg_t, seg = t[lo:hi], angle[lo:hi]
    good = np.isfinite(seg)
    if good.sum() < 2 * FRAME_HZ:
        return None
    seg = np.interp(seg_t, seg_t[good], seg[good])  # undefined frames bridged, never extrapolated
    j = i - lo
    second = FRAME_HZ
    before, after = float(np.median(seg[:second])), float(np.median(seg[-second:]))
    if abs(after - before) < MIN_CHANGE_DEG.get(source, 0.0):
        return None
    tol = LEVEL_TOL_DEG.get(source, 2.0)
    still_before = np.flatnonzero(np.abs(seg[: j + 1] - before) <= tol)
    at_after = np.flatnonzero(np.abs(seg[j:] - after) <= tol)
    a = int(still_before[-1]) if len(still_before) else 0
    b = j + int(at_after[0]) if len(at_after) else len(seg) - 1
    return float(seg_t[a]), float(seg_t[b])


def _or_empty(x: np.ndarray | None) -> np.ndarray:
    return np.zeros(0) if x is None else np.asarray(x, float)

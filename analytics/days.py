"""Local calendar days of a stream: time in each posture per day, in one place.

``DayTracker`` takes the final 10 Hz frames (times and posture codes) as they come, splits them
at local midnight in the wearer's time zone (23 h and 25 h days included) and hands back each day
that ended as a ``DayTally``. The live status ("sitting today"), the stored daily summary and the
demo's view all read these tallies, so sitting time is computed once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from posturewatch.analytics.daily import DayActivity, DayCarry, DaySettings, SittingBouts
from posturewatch.analytics.records import Posture
from posturewatch.ingest.frames import FRAME_S

_N_CODES = max(int(p) for p in Posture) + 1
# seconds that are not monitored wear time: no data, or sensors off the body
_UNMONITORED = (int(Posture.UNKNOWN), int(Posture.NOT_WORN))


def local_day(ts: float, zone: ZoneInfo) -> str:
    """ISO date of the local calendar day ``ts`` falls on."""
    return datetime.fromtimestamp(ts, zone).date().isoformat()


def day_start(day: str, zone: ZoneInfo) -> float:
    """Unix seconds of a local day's midnight."""
    return datetime.combine(datetime.fromisoformat(day).date(), time(0), zone).timestamp()


def next_midnight(ts: float, zone: ZoneInfo) -> float:
    d = datetime.fromtimestamp(ts, zone).date() + timedelta(days=1)
    return datetime.combine(d, time(0), zone).timestamp()


@dataclass
class DayTally:
    """Seconds per posture code of one local day (frames × their duration)."""

    day: str
    start: float
    seconds: np.ndarray = field(default_factory=lambda: np.zeros(_N_CODES))
    activity: DayActivity = field(default_factory=DayActivity)

    def add(self, codes: np.ndarray, frame_s: float = FRAME_S) -> None:
        self.seconds += np.bincount(codes.astype(np.int64), minlength=_N_CODES)[:_N_CODES] * frame_s

    def of(self, posture: Posture) -> float:
        return float(self.seconds[int(posture)])

    @property
    def sitting_s(self) -> float:
        return self.of(Posture.SITTING)

    @property
    def monitored_s(self) -> float:
        return float(self.seconds.sum() - sum(self.seconds[c] for c in _UNMONITORED))

    def values(self) -> dict[str, float]:
        """Numeric summary fields: seconds per posture, and sitting/monitored minutes."""
        out = {f"{p.label}_s": float(self.seconds[int(p)]) for p in Posture if self.seconds[int(p)] > 0}
        out["sitting_min"] = self.sitting_s / 60.0
        out["monitored_min"] = self.monitored_s / 60.0
        out.update(self.activity.values())
        return out


class DayTracker:
    """Splits frames into local days; ``add`` returns the days that ended. Given the pipeline
    output as ``frames`` it also sums each day's activity (``analytics.daily``)."""

    def __init__(self, zone: ZoneInfo, settings: DaySettings | None = None) -> None:
        self.zone = zone
        self.settings = settings or DaySettings()
        self.current: DayTally | None = None
        self._boundary = np.inf
        self._carry = DayCarry(SittingBouts(self.settings.episodes.sitting_break_s))

    def add(self, t: np.ndarray, codes: np.ndarray, frames=None) -> list[DayTally]:
        """``frames``: the ``PipelineOutput`` that ``t`` and ``codes`` come from (optional)."""
        ended: list[DayTally] = []
        i = 0
        while i < len(t):
            if self.current is None or t[i] >= self._boundary:
                if self.current is not None:
                    ended.append(self.current)
                day = local_day(float(t[i]), self.zone)
                self.current = DayTally(day, day_start(day, self.zone), activity=DayActivity(self.settings))
                self._boundary = next_midnight(float(t[i]), self.zone)
            j = int(np.searchsorted(t, self._boundary, side="left"))
            self.current.add(codes[i:j])
            if frames is not None:
                self.current.activity.add(frames, i, j, self.current.start, self._boundary, self._carry)
            i = j
        return ended

    def finish(self) -> list[DayTally]:
        """The day in progress, at the end of a stream (it is not reported again)."""
        done = [self.current] if self.current is not None else []
        for day in done:
            day.activity.finish(self._carry)
        self.current, self._boundary = None, np.inf
        return done

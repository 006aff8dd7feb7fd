"""Time in bed: the night's main lying period, told apart from daytime lying and naps.

Lying frames form bouts; bouts with gaps shorter than ``gap_s`` (a turn sitting up, a sip of
water) are one cluster. A cluster that began in the night window (``evening_hour`` until
``morning_hour`` local time) and holds ``min_night_s`` of lying is a night in bed — naps and
daytime lie-downs are shorter. A cluster that starts within ``max_awake_s`` of a night's last one
and holds ``min_return_s`` of lying continues that night: the gap between them is an awakening
out of bed (≥ ``gap_s`` by construction). The in-bed time runs from the first lying frame of the
night to the last one.

Streaming: ``add`` takes final frames in time order; ``in_bed(t)`` answers for any frame time
from what is known now. A night is recognised only ``min_night_s`` after lying down (it is then
backdated to the moment of lying down), and a gap is known to be an awakening only ``gap_s``
after it began; frames asked about earlier get the answer known then (see the pipeline's
``hold_s``, which holds frames back until those answers are final).

Live, waiting ``min_night_s`` would leave the first 90 min of every night out of bed. So a cluster
that began late in the evening or in the small hours (``provisional_from_hour`` until
``provisional_until_hour``) counts as *provisionally* in bed once it holds ``provisional_s`` of
lying: frames asked about from then on are in bed. It is confirmed when the cluster becomes a night
(the night is then backdated to the moment of lying down, as before) and withdrawn when the cluster
ends first (the wearer got up from the sofa): from then on nothing of it is in bed. Frames held back
until the answer is final (a replay) never see a provisional answer — ``provisional_s`` 0 turns it
off, which the pipeline's offline settings do, so backdated times are the same with it or without.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

from posturewatch.analytics.records import Posture
from posturewatch.ingest.frames import FRAME_S, runs


@dataclass(frozen=True)
class SleepSettings:
    """When lying is a night in bed (seconds, local hours)."""

    gap_s: float = 300.0  # shorter non-lying gaps do not split a lying cluster
    min_night_s: float = 5400.0  # lying in a night cluster (naps and lie-downs last ≤ ~1 h)
    max_awake_s: float = 1800.0  # a cluster this soon after a night's end continues the night …
    min_return_s: float = 1200.0  # … once it holds this much lying (not a lie-down after getting up)
    evening_hour: float = 18.0
    morning_hour: float = 12.0
    # live only: lying this long in a cluster begun in the hours below is in bed until the night
    # is confirmed or the cluster ends without becoming one (0: off, as offline)
    provisional_s: float = 1200.0
    provisional_from_hour: float = 21.0
    provisional_until_hour: float = 4.0


@dataclass
class Night:
    """One night in bed: in-bed and out-of-bed times and the awakenings out of bed between."""

    start: float
    end: float
    awakenings: list[tuple[float, float]] = field(default_factory=list)
    closed: bool = False  # nothing can join it any more

    @property
    def in_bed_s(self) -> float:
        return self.end - self.start - sum(b - a for a, b in self.awakenings)


class InBedTracker:
    """Streaming night detection over final frames (times and posture codes)."""

    def __init__(self, settings: SleepSettings | None = None, zone: str | ZoneInfo = "UTC") -> None:
        self.settings = settings or SleepSettings()
        self.zone = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
        self.nights: list[Night] = []  # recent nights, the newest possibly still growing
        self.finished: list[Night] = []  # nights that can no longer grow, not yet collected
        self._cluster: list[float] | None = None  # [start, end, lying seconds]
        self._cluster_night = False  # the open cluster belongs to the newest night
        self._now = -np.inf

    def add(self, t: np.ndarray, posture: np.ndarray) -> None:
        """Take final frames (in time order, after any earlier ones)."""
        if len(t) == 0:
            return
        starts, lengths, values = runs(posture == int(Posture.LYING))
        for a, ln, lying in zip(starts.tolist(), lengths.tolist(), values.tolist(), strict=True):
            if lying:
                self._lying(float(t[a]), float(t[a + ln - 1]) + FRAME_S)
        self._now = float(t[-1]) + FRAME_S
        self._expire()

    def in_bed(self, t: np.ndarray) -> np.ndarray:
        """Whether each frame time lies in bed (awakenings out of bed excluded), as known now.
        Frames just after the open night's last lying frame count as in bed until the gap
        reaches ``gap_s``."""
        t = np.asarray(t, float)
        out = np.zeros(len(t), bool)
        for night in self.nights:
            end = night.end
            if night is self._open_night() and self._now - end < self.settings.gap_s:
                end = self._now + self.settings.gap_s  # provisional: the gap may still close
                end = min(end, night.end + self.settings.gap_s)
            out |= (t >= night.start) & (t < end)
            for a, b in night.awakenings:
                out &= ~((t >= a) & (t < b))
        since = self.provisional_since
        if since is not None:  # provisional: in bed until the gap after the last lying frame closes
            out |= (t >= since) & (t < self._cluster[1] + self.settings.gap_s)
        return out

    @property
    def provisional_since(self) -> float | None:
        """Start of the open cluster while it is provisionally in bed (not yet a night), else None."""
        s, c = self.settings, self._cluster
        if s.provisional_s <= 0 or c is None or self._cluster_night or c[2] < s.provisional_s:
            return None
        if self.nights and not self.nights[-1].closed and c[0] - self.nights[-1].end < s.max_awake_s:
            return None  # may still become the return to an earlier night: that rule decides
        hour = self._hour(c[0])
        lo, hi = s.provisional_from_hour, s.provisional_until_hour
        inside = lo <= hour < hi if lo <= hi else (hour >= lo or hour < hi)  # may wrap midnight
        return c[0] if inside else None

    def collect(self) -> list[Night]:
        """Nights finished since the last call."""
        done, self.finished = self.finished, []
        return done

    def prune(self, before: float) -> None:
        """Forget finished nights that ended before ``before`` (their frames are out)."""
        self.nights = [n for n in self.nights if not n.closed or n.end >= before]

    # -- internals ------------------------------------------------------------------------------
    def _open_night(self) -> Night | None:
        return self.nights[-1] if self._cluster_night and self.nights else None

    def _hour(self, ts: float) -> float:
        local = datetime.fromtimestamp(ts, self.zone)
        return local.hour + local.minute / 60.0

    def _in_window(self, ts: float) -> bool:
        hour = self._hour(ts)
        s = self.settings
        return hour >= s.evening_hour or hour < s.morning_hour

    def _lying(self, a: float, b: float) -> None:
        s = self.settings
        c = self._cluster
        if c is not None and a - c[1] < s.gap_s:
            c[1], c[2] = b, c[2] + (b - a)
        else:
            self._close_cluster()
            c = self._cluster = [a, b, b - a]
        last = self.nights[-1] if self.nights else None
        if self._cluster_night:
            last.end = c[1]
        elif last is not None and not last.closed and c[0] - last.end < s.max_awake_s:
            if c[2] < s.min_return_s:
                return
            last.awakenings.append((last.end, c[0]))  # back to bed after getting up
            last.end, self._cluster_night = c[1], True
        elif c[2] >= s.min_night_s and self._in_window(c[0]):
            self.nights.append(Night(c[0], c[1]))
            self._cluster_night = True

    def _close_cluster(self) -> None:
        self._cluster, self._cluster_night = None, False

    def _expire(self) -> None:
        """Close the open cluster after a long gap; finish a night nothing can join any more."""
        s = self.settings
        if self._cluster is not None and self._now - self._cluster[1] >= s.gap_s:
            self._close_cluster()
        if self.nights and not self._cluster_night:
            last = self.nights[-1]
            returning = self._cluster is not None and self._cluster[0] - last.end < s.max_awake_s
            if not last.closed and not returning and self._now - last.end >= s.max_awake_s:
                last.closed = True
                self.finished.append(last)

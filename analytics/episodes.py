"""Streaming episode detectors: prolonged sitting, posterior tilt, forward head, lumbar bend
(definitions in docs/architecture.md §3).

Detectors see frames block by block — the same code for a replay and for the live daemon — and
keep their state between blocks. They walk over *runs* of equal condition (run-length encoded
with numpy), never over single frames, and report episodes with backdated start and end times.

Because an end is only known some time after the condition stopped, each detector also says,
per block, when the condition of an open episode stopped (``stops``): pauses it bridged again and
the stop still going at the block's end. A consumer that must not act on an episode that may
already be over (the alert policy) uses them; they do not depend on how the data was blocked.

No episode arises while lying or not worn, or from an undefined angle (NaN): lying and not worn
are evidence that a condition is false (an open episode ends), an undefined or missing angle
while upright is no evidence either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posturewatch.analytics.posture import runs
from posturewatch.analytics.records import Episode, EpisodeEvent, Posture, posture_in

UPRIGHT_STILL = (Posture.SITTING, Posture.STANDING)
NO_BEND = (Posture.LYING, Posture.NOT_WORN)  # trunk far from vertical here is not a bend


@dataclass(frozen=True)
class EpisodeSettings:
    """Episode limits (the defaults in docs/architecture.md §3); every one is configurable per user."""

    sitting_limit_s: float = 30 * 60.0
    sitting_break_s: float = 60.0
    tilt_enter: float = -15.0
    tilt_hold: float = -12.0
    head_enter: float = 20.0
    head_hold: float = 17.0
    neck_enter: float = 20.0
    neck_hold: float = 17.0
    bend_limit: float = 45.0
    bend_gap_s: float = 0.5
    bend_data_gap_s: float = 3.0
    sustain_s: float = 60.0
    release_s: float = 10.0
    max_gap_s: float = 120.0  # lost data shorter than this neither holds nor ends an episode


@dataclass(slots=True)
class Frames:
    """What a detector sees of one block: frame start times, posture codes, angles (degrees)."""

    t: np.ndarray
    posture: np.ndarray
    angles: dict[str, np.ndarray]
    dt: float


class _Stats:
    """Running peak / sum / count of the episode's defining angle."""

    __slots__ = ("peak", "total", "count", "sign")

    def __init__(self, sign: float) -> None:
        self.sign = sign  # +1: peak is the maximum, −1: the minimum
        self.reset()

    def reset(self) -> None:
        self.peak, self.total, self.count = -np.inf, 0.0, 0

    def add(self, values: np.ndarray) -> None:
        v = values[np.isfinite(values)]
        if len(v):
            self.peak = max(self.peak, float(np.max(self.sign * v)))
            self.total += float(v.sum())
            self.count += len(v)

    def merge(self, other: _Stats) -> None:
        self.peak = max(self.peak, other.peak)
        self.total += other.total
        self.count += other.count

    def result(self) -> tuple[float, float]:
        if not self.count:
            return float("nan"), float("nan")
        return self.sign * self.peak, self.total / self.count


class HysteresisDetector:
    """idle → candidate (enter holds) → open (sustained) → ended (hold false for the release time)."""

    postures: tuple[Posture, ...] = UPRIGHT_STILL  # where the condition can hold at all

    def __init__(
        self, kind: str, sustain_s: float, release_s: float, peak_sign: float, max_gap_s: float
    ) -> None:
        self.kind, self.sustain_s, self.release_s = kind, sustain_s, release_s
        self.max_gap_s = max_gap_s
        self.gap_since: float | None = None
        self.state = "idle"
        self.start = 0.0
        self.false_since: float | None = None
        self.stats, self.pending = _Stats(peak_sign), _Stats(peak_sign)
        self.open_episode: Episode | None = None
        self._stops: list[tuple[str, float, float]] = []

    def conditions(self, frames: Frames) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        raise NotImplementedError

    def push(self, frames: Frames) -> list[EpisodeEvent]:
        enter, hold, value = self.conditions(frames)
        # A posture the condition excludes (lying, walking, not worn) makes it false whatever the
        # angle; only a missing or undefined angle in an allowed posture is a gap.
        allowed = posture_in(frames.posture, self.postures)
        unknown = (~np.isfinite(value) & allowed) | (frames.posture == Posture.UNKNOWN)
        level = np.where(unknown, -1, np.where(enter, 2, np.where(hold, 1, 0))).astype(np.int8)
        events: list[EpisodeEvent] = []
        self._stops = []
        starts, lengths, values = runs(level)
        t, dt = frames.t, frames.dt
        for i0, ln, lv in zip(starts.tolist(), lengths.tolist(), values.tolist(), strict=True):
            t0, t1 = t[i0], t[i0] + ln * dt
            chunk = value[i0 : i0 + ln]
            if lv == -1:  # lost data: no evidence either way, unless it lasts too long
                if self.state != "idle":
                    self.gap_since = t0 if self.gap_since is None else self.gap_since
                    if t1 - self.gap_since >= self.max_gap_s:
                        if self.false_since is None:
                            self.false_since = self.gap_since
                        events += self._release(self.gap_since + self.max_gap_s)
                continue
            if self.gap_since is not None and self.false_since is None:
                self._stopped(self.gap_since, t0)  # data came back: the episode went on
            self.gap_since = None
            if self.state == "idle":
                if lv != 2:
                    continue
                self.state, self.start, self.false_since = "candidate", t0, None
                self.stats.reset()
                self.pending.reset()
            if lv == 0:
                if self.false_since is None:
                    self.false_since = t0
                    self.pending.reset()
                self.pending.add(chunk)
                if t1 - self.false_since >= self.release_s:
                    events += self._release(self.false_since + self.release_s)
                continue
            if self.false_since is not None:  # a bridged interruption: it belongs to the episode
                self._stopped(self.false_since, t0)
                self.stats.merge(self.pending)
                self.false_since = None
            self.stats.add(chunk)
            if self.state == "candidate" and t1 - self.start >= self.sustain_s:
                self.state = "open"
                confirmed = self.start + self.sustain_s
                peak, mean = self.stats.result()
                self.open_episode = Episode(self.kind, self.start, confirmed, None, peak, mean)
                events.append(EpisodeEvent("start", self.open_episode, confirmed))
        return events

    def _stopped(self, since: float, until: float) -> None:
        if self.state == "open" and self.open_episode is not None:
            self._stops.append((self.open_episode.id, float(since), float(until)))

    def stops(self) -> list[tuple[str, float, float]]:
        """(episode id, stopped, resumed) of the last push; resumed is inf while still stopped."""
        since = self.false_since if self.false_since is not None else self.gap_since
        if self.state != "open" or self.open_episode is None or since is None:
            return list(self._stops)
        return [*self._stops, (self.open_episode.id, float(since), float("inf"))]

    def _release(self, ts: float) -> list[EpisodeEvent]:
        events = []
        if self.state == "open" and self.open_episode is not None:
            peak, mean = self.stats.result()
            ep = Episode(self.kind, self.start, self.open_episode.confirmed, self.false_since, peak, mean)
            events.append(EpisodeEvent("end", ep, ts))
        self.state, self.false_since, self.open_episode, self.gap_since = "idle", None, None, None
        return events

    def tentative_end(self) -> dict[str, float]:
        """{open episode id: the time its end would be backdated to} once its condition stopped."""
        since = self.false_since if self.false_since is not None else self.gap_since
        if self.state != "open" or self.open_episode is None or since is None:
            return {}
        return {self.open_episode.id: since}

    def close(self, ts: float) -> list[EpisodeEvent]:
        """End an open episode at ``ts`` (end of data)."""
        if self.state != "open":
            self.state = "idle"
            return []
        if self.false_since is None:
            self.false_since = ts
        return self._release(ts)


class PosteriorTiltDetector(HysteresisDetector):
    def __init__(self, s: EpisodeSettings) -> None:
        super().__init__("posterior_tilt", s.sustain_s, s.release_s, -1.0, s.max_gap_s)
        self.s = s

    def conditions(self, frames: Frames) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        tilt = frames.angles["pelvic_tilt"]
        ok = posture_in(frames.posture, self.postures)
        with np.errstate(invalid="ignore"):
            return ok & (tilt <= self.s.tilt_enter), ok & (tilt <= self.s.tilt_hold), tilt


class ForwardHeadDetector(HysteresisDetector):
    def __init__(self, s: EpisodeSettings) -> None:
        super().__init__("forward_head", s.sustain_s, s.release_s, 1.0, s.max_gap_s)
        self.s = s

    def conditions(self, frames: Frames) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s = self.s
        trunk = frames.angles["trunk_inclination"]
        neck = frames.angles["neck_flexion"]
        ok = posture_in(frames.posture, self.postures)
        with np.errstate(invalid="ignore"):
            enter = ok & (trunk >= s.head_enter) & (trunk < s.bend_limit)
            hold = ok & (trunk >= s.head_hold) & (trunk < s.bend_limit)
            has_head = np.isfinite(neck)
            enter &= ~has_head | (neck >= s.neck_enter)
            hold &= ~has_head | (neck >= s.neck_hold)
        return enter, hold, trunk


class ProlongedSittingDetector:
    """Sitting bouts with short breaks bridged; an episode once a bout reaches the limit."""

    kind = "prolonged_sitting"

    def __init__(self, s: EpisodeSettings) -> None:
        self.s = s
        self.start: float | None = None  # bout start
        self.break_since: float | None = None
        self.open_episode: Episode | None = None
        self._stops: list[tuple[str, float, float]] = []

    def push(self, frames: Frames) -> list[EpisodeEvent]:
        events: list[EpisodeEvent] = []
        self._stops = []
        # 1 sitting, 0 up (standing/walking) or lying, −1 unknown: a lost sensor neither
        # continues nor breaks a bout (gaps are gaps), it only delays the decision.
        p = frames.posture
        state = np.where(p == Posture.SITTING, 1, np.where(p == Posture.UNKNOWN, -1, 0)).astype(np.int8)
        starts, lengths, values = runs(state)
        for i0, ln, sit in zip(starts.tolist(), lengths.tolist(), values.tolist(), strict=True):
            t0, t1 = frames.t[i0], frames.t[i0] + ln * frames.dt
            if sit == -1:
                continue
            if sit == 1:
                if self.start is None:
                    self.start = t0
                if self.break_since is not None and self.open_episode is not None:
                    self._stops.append((self.open_episode.id, float(self.break_since), float(t0)))
                self.break_since = None
                confirm_at = max(self.start + self.s.sitting_limit_s, t0)
                if self.open_episode is None and t1 >= confirm_at:
                    self.open_episode = self._episode(confirm_at, None)
                    events.append(EpisodeEvent("start", self.open_episode, confirm_at))
            elif self.start is not None:
                if self.break_since is None:
                    self.break_since = t0
                if t1 - self.break_since >= self.s.sitting_break_s:
                    events += self._end(self.break_since + self.s.sitting_break_s)
        return events

    def _episode(self, confirmed: float, end: float | None) -> Episode:
        minutes = ((end if end is not None else confirmed) - self.start) / 60.0
        return Episode(self.kind, self.start, confirmed, end, minutes, minutes)

    def _end(self, ts: float) -> list[EpisodeEvent]:
        events = []
        if self.open_episode is not None:
            ended = self._episode(self.open_episode.confirmed, self.break_since)
            events.append(EpisodeEvent("end", ended, ts))
        self.start = self.break_since = self.open_episode = None
        return events

    def tentative_end(self) -> dict[str, float]:
        if self.open_episode is None or self.break_since is None:
            return {}
        return {self.open_episode.id: self.break_since}

    def stops(self) -> list[tuple[str, float, float]]:
        """(episode id, break began, sitting again) of the last push; inf while the break lasts."""
        if self.open_episode is None or self.break_since is None:
            return list(self._stops)
        return [*self._stops, (self.open_episode.id, float(self.break_since), float("inf"))]

    def close(self, ts: float) -> list[EpisodeEvent]:
        if self.start is not None and self.break_since is None:
            self.break_since = ts
        return self._end(ts)


class LumbarBendDetector:
    """Forward bends whose deepest point is reached more with the lower back than the hips."""

    kind = "lumbar_bend"

    def __init__(self, s: EpisodeSettings) -> None:
        self.s = s
        self.start: float | None = None
        self.last_in: float = 0.0
        self.deepest = (-np.inf, np.nan, np.nan)  # (trunk, lumbar, hip) at the deepest point
        self.lumbar = _Stats(1.0)
        self.excluded_until = -np.inf  # end of the last lying / not-worn run
        self.from_lying = False  # the bend began as lying ended: getting up, not bending

    def push(self, frames: Frames) -> list[EpisodeEvent]:
        events: list[EpisodeEvent] = []
        trunk = frames.angles["trunk_inclination"]
        lumbar = frames.angles["lumbar_flexion"]
        hip = frames.angles["hip_flexion"]
        # Lying (prone: trunk ≈ 90° forward) or not worn (level 2) is never a bend, and a forward
        # lean that runs straight into lying (going down prone) or out of it (getting up) is
        # part of lying down, not a bend. Unknown posture and an undefined or missing trunk
        # angle are gaps.
        excluded = posture_in(frames.posture, NO_BEND)
        gap = (np.isnan(trunk) | (frames.posture == Posture.UNKNOWN)) & ~excluded
        with np.errstate(invalid="ignore"):
            bent = trunk >= self.s.bend_limit
        level = np.where(excluded, 2, np.where(gap, -1, bent)).astype(np.int8)
        starts, lengths, values = runs(level)
        for i0, ln, b in zip(starts.tolist(), lengths.tolist(), values.tolist(), strict=True):
            t0, t1 = frames.t[i0], frames.t[i0] + ln * frames.dt
            if b == 2:
                self.excluded_until = t1
                if self.start is not None and t0 - self.last_in < self.s.bend_gap_s:
                    self.from_lying = True  # bent until lying began
                if self.start is not None:
                    events += self._finish(max(t0, self.last_in) + self.s.bend_gap_s)
                continue
            if b == 1:
                if self.start is None:
                    self.start = t0
                    self.from_lying = t0 - self.excluded_until < self.s.bend_gap_s
                sl = slice(i0, i0 + ln)
                # The deepest point with both angles known: a packet lost there must not hide it.
                judged = np.where(np.isfinite(lumbar[sl]) & np.isfinite(hip[sl]), trunk[sl], -np.inf)
                k = int(np.argmax(judged))
                if judged[k] > self.deepest[0]:
                    self.deepest = (float(trunk[sl][k]), float(lumbar[sl][k]), float(hip[sl][k]))
                self.lumbar.add(lumbar[sl])
                self.last_in = t1
            elif self.start is None:
                continue
            elif b == -1:  # lost packets mid-bend: wait for data unless the gap is long
                if t1 - self.last_in >= self.s.bend_data_gap_s:
                    events += self._finish(self.last_in + self.s.bend_data_gap_s)
            elif t1 - self.last_in >= self.s.bend_gap_s:
                events += self._finish(max(t0, self.last_in) + self.s.bend_gap_s)
        return events

    def _finish(self, ts: float) -> list[EpisodeEvent]:
        events = []
        _, lumbar_at, hip_at = self.deepest
        judged = np.isfinite(lumbar_at) and np.isfinite(hip_at) and not self.from_lying
        if judged and lumbar_at >= hip_at:
            _, mean = self.lumbar.result()
            ep = Episode(self.kind, self.start, self.last_in, self.last_in, lumbar_at, mean)
            events += [EpisodeEvent("start", ep, ts), EpisodeEvent("end", ep, ts)]
        self.start = None
        self.from_lying = False
        self.deepest = (-np.inf, np.nan, np.nan)
        self.lumbar.reset()
        return events

    def tentative_end(self) -> dict[str, float]:
        return {}  # a bend is reported once it is over, never while open

    def stops(self) -> list[tuple[str, float, float]]:
        return []  # a bend is reported once it is over, never while open

    def close(self, ts: float) -> list[EpisodeEvent]:
        return self._finish(ts) if self.start is not None else []


class EpisodeDetectors:
    """All four detectors behind one push(), events in time order."""

    def __init__(self, s: EpisodeSettings | None = None) -> None:
        s = s or EpisodeSettings()
        self.detectors = [
            ProlongedSittingDetector(s),
            PosteriorTiltDetector(s),
            ForwardHeadDetector(s),
            LumbarBendDetector(s),
        ]

    def push(self, frames: Frames) -> list[EpisodeEvent]:
        events = [e for d in self.detectors for e in d.push(frames)]
        return sorted(events, key=lambda e: (e.ts, e.type != "start"))

    def tentative_ends(self) -> dict[str, float]:
        """Open episodes whose condition has stopped but whose end is not confirmed yet.

        Maps episode id → the start of the stop, which is the end the detector will report if
        the stop lasts; a consumer (the alert policy) must not act on those episodes from then on.
        """
        return {k: v for d in self.detectors for k, v in d.tentative_end().items()}

    def stops(self) -> list[tuple[str, float, float]]:
        """Where the last push saw an open episode's condition stop: (id, since, until).

        ``until`` is when the condition came back (the pause was bridged) or inf while it is
        still stopped; if the stop lasts, the episode's end will be backdated to ``since``.
        """
        return [stop for d in self.detectors for stop in d.stops()]

    def close(self, ts: float) -> list[EpisodeEvent]:
        events = [e for d in self.detectors for e in d.close(ts)]
        return sorted(events, key=lambda e: (e.ts, e.type != "start"))

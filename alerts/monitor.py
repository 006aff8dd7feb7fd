"""One wearer's analysis: the pipeline followed by the alert policy, one typed record per step.

The replay, the demo and the daemon all drive this same object, so a recorded day and a live
day go through identical code from samples to alerts. Each ``push``/``close`` returns a
``MonitorStep``: the frames that became final, their episode events, the alerts the policy
issued at the events' own times (ticks every ``TICK_S`` of data time in between), the responses
the wearer gave to earlier alerts, and the local days that ended. Whoever consumes the step
(the output hub, the replay's result files, a view) only reads the record, never the policy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from posturewatch.alerts.policy import AlertPolicy
from posturewatch.alerts.records import Alert, AlertDaySummary, BudgetExhausted, BudgetState
from posturewatch.alerts.settings import AlertSettings
from posturewatch.analytics.daily import DaySettings
from posturewatch.analytics.days import DayTally, DayTracker
from posturewatch.analytics.pipeline import Pipeline, PipelineOutput, PipelineSettings
from posturewatch.analytics.records import EpisodeEvent, Posture
from posturewatch.ingest.align import ClockModel
from posturewatch.ingest.frames import FRAME_S
from posturewatch.ingest.mounting import Calibration
from posturewatch.ingest.records import SensorBlock

TICK_S = 5.0


@dataclass(frozen=True, slots=True)
class AlertResponse:
    """The wearer ended an alerted episode ``response_s`` after the alert."""

    alert_id: str
    episode_id: str
    response_s: float


@dataclass(frozen=True, slots=True)
class FinishedDay:
    """A local calendar day that ended (or the last one, at the end of a stream)."""

    day: str
    start: float  # Unix seconds of its local midnight
    tally: DayTally
    alerts: AlertDaySummary

    def values(self) -> dict[str, float]:
        """The numeric day summary as stored (InfluxDB ``daily_summary``, the embedded store)."""
        values: dict[str, float] = {"alerts": float(self.alerts.alerts),
                                    "reminder_budget": float(self.alerts.budget)}
        for kind, n in self.alerts.by_kind.items():
            values[f"alerts_{kind}"] = float(n)
        for reason, n in self.alerts.suppressed.items():
            values[f"suppressed_{reason}"] = float(n)
        for window, rate in self.alerts.response_rate.items():
            values[f"response_rate_{int(window)}s"] = rate
        for window, n in self.alerts.broke_within.items():
            values[f"responses_{int(window)}s"] = float(n)
        values.update(self.tally.values())
        return values


@dataclass
class MonitorStep:
    """Everything one push produced; ``complete_before`` is the data time up to which the
    frames are final (whole seconds before it can be summarised)."""

    frames: PipelineOutput
    alerts: list[Alert] = field(default_factory=list)
    responses: list[AlertResponse] = field(default_factory=list)
    days: list[FinishedDay] = field(default_factory=list)
    today: DayTally | None = None
    complete_before: float | None = None
    notices: list[BudgetExhausted] = field(default_factory=list)  # "no more reminders today"
    budget: BudgetState | None = None  # the reminder budget at the step's end

    @classmethod
    def of(cls, t: np.ndarray, angles: dict[str, np.ndarray], posture: np.ndarray,
           events: Iterable[EpisodeEvent] = (), alerts: Iterable[Alert] = (),
           responses: Iterable[AlertResponse] = (), days: Iterable[FinishedDay] = (),
           complete_before: float | None = None) -> MonitorStep:
        """A step from its parts (tools and tests that drive a policy themselves)."""
        frames = PipelineOutput(np.asarray(t, dtype=np.float64), dict(angles),
                                np.asarray(posture, dtype=np.int8), list(events))
        complete = complete_before
        if complete is None and len(frames):
            complete = float(frames.t[-1]) + FRAME_S
        return cls(frames, list(alerts), list(responses), list(days), None, complete)

    @property
    def events(self) -> list[EpisodeEvent]:
        return self.frames.events

    def __bool__(self) -> bool:
        return bool(len(self.frames) or self.frames.events or self.alerts or self.responses or self.days
                    or self.notices)


class Monitor:
    """Pipeline + alert policy; ``push`` returns a ``MonitorStep``."""

    def __init__(
        self,
        settings: PipelineSettings | None = None,
        alerts: AlertSettings | None = None,
        calibrations: Mapping[str, Calibration] | None = None,
        clocks: Mapping[str, ClockModel] | None = None,
        *,
        policy: AlertPolicy | None = None,
    ) -> None:
        self.pipeline = Pipeline(settings, calibrations, clocks)
        self.policy = policy or AlertPolicy(alerts)
        self.days = DayTracker(self.policy.settings.zone, DaySettings(
            self.policy.settings.valid_day_wear_h, self.pipeline.settings.episodes))
        self._next_tick: float | None = None

    def push(self, blocks: Iterable[SensorBlock], until: float | None = None) -> MonitorStep:
        return self._step(self.pipeline.push(blocks, until), final=False)

    def push_steps(self, steps: Sequence[tuple[Sequence[SensorBlock], float]]) -> list[MonitorStep]:
        """The steps ``(blocks, until)`` of a recording, one ``MonitorStep`` each, the same as
        ``push`` for each in turn, with the samples of all of them taken in at once where possible."""
        if self.pipeline.take_steps(steps):
            return [self._step(self.pipeline.step_out(until), final=False) for _, until in steps]
        return [self.push(blocks, until) for blocks, until in steps]

    def close(self) -> MonitorStep:
        """End of the stream: the last frames, open episodes closed, the last day summarised."""
        return self._step(self.pipeline.close(), final=True)

    def _step(self, out: PipelineOutput, final: bool) -> MonitorStep:
        step = MonitorStep(out)
        if len(out):
            step.complete_before = float(out.t[-1]) + FRAME_S
        if len(out) or out.events:
            self._alerts(out, step)
        step.notices = self.policy.take_notices()
        if step.complete_before is not None:
            step.budget = self.policy.budget(step.complete_before)
        ended = self.days.add(out.t, out.posture, out)
        if final:
            ended += self.days.finish()
        step.days = [FinishedDay(d.day, d.start, d, self.policy.daily_summary(d.day)) for d in ended]
        step.today = self.days.current
        return step

    def _alerts(self, out: PipelineOutput, step: MonitorStep) -> None:
        """Walk the policy through the block's time: events at their times, ticks in between."""
        # ends are backdated: tell the policy now where episodes stopped in this block (paused,
        # still stopped or ended), so no tick reminds about an episode that may be over already
        stops = self.pipeline.detectors.stops()
        stops += [(e.episode.id, e.episode.end, math.inf) for e in out.events
                  if e.type == "end" and e.episode.end is not None]
        self.policy.episodes_ending(stops)

        def posture_at(ts: float) -> Posture:
            if not len(out):
                return Posture.UNKNOWN
            i = min(max(int(np.searchsorted(out.t, ts, side="right")) - 1, 0), len(out) - 1)
            return Posture(int(out.posture[i]))

        def feed(event: EpisodeEvent) -> None:
            step.alerts.extend(self.policy.on_events([event], posture_at(event.ts)))
            if event.type == "end":
                step.responses.extend(self._responses(event.episode.id))

        end = float(out.t[-1]) if len(out) else max(e.ts for e in out.events)
        if self._next_tick is None:
            self._next_tick = float(out.t[0]) if len(out) else end
        events = sorted(out.events, key=lambda e: e.ts)
        i = 0
        while self._next_tick <= end or i < len(events):
            if i < len(events) and events[i].ts <= self._next_tick:
                feed(events[i])
                i += 1
                continue
            if self._next_tick > end:
                break
            # no ticks through a gap without frames (a segment ended): the next is at its end
            after = int(np.searchsorted(out.t, self._next_tick))
            if after < len(out) and out.t[after] - self._next_tick > TICK_S:
                self._next_tick += np.ceil((out.t[after] - self._next_tick) / TICK_S) * TICK_S
                continue
            step.alerts.extend(self.policy.tick(self._next_tick, posture_at(self._next_tick)))
            self._next_tick += TICK_S
        for event in events[i:]:
            feed(event)

    def _responses(self, episode_id: str) -> list[AlertResponse]:
        return [AlertResponse(f.alert.id, episode_id, float(f.response_s))
                for f in self.policy.follow_ups()
                if f.alert.episode_id == episode_id and f.response_s is not None]

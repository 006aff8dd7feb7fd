"""One wearer's live analysis: the pipeline followed by the alert policy.

The replay, the demo and the daemon all drive this same object, so a recorded day and a live
day go through identical code from samples to alerts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from posturewatch.alerts.policy import AlertPolicy
from posturewatch.alerts.records import Alert, BudgetExhausted
from posturewatch.alerts.settings import AlertSettings
from posturewatch.analytics.pipeline import Pipeline, PipelineOutput, PipelineSettings
from posturewatch.analytics.records import Posture
from posturewatch.ingest.align import ClockModel
from posturewatch.ingest.mounting import Calibration
from posturewatch.ingest.records import SensorBlock

TICK_S = 5.0


@dataclass
class MonitorOutput:
    frames: PipelineOutput
    alerts: list[Alert]
    notices: list[BudgetExhausted] = field(default_factory=list)  # "no more reminders today"


class Monitor:
    """Pipeline + alert policy; ``push`` returns final frames, episode events and alerts."""

    def __init__(
        self,
        settings: PipelineSettings | None = None,
        alerts: AlertSettings | None = None,
        calibrations: Mapping[str, Calibration] | None = None,
        clocks: Mapping[str, ClockModel] | None = None,
    ) -> None:
        self.pipeline = Pipeline(settings, calibrations, clocks)
        self.policy = AlertPolicy(alerts)
        self._next_tick: float | None = None

    def push(self, blocks: Iterable[SensorBlock], until: float | None = None) -> MonitorOutput:
        return self._alerts(self.pipeline.push(blocks, until))

    def close(self) -> MonitorOutput:
        return self._alerts(self.pipeline.close())

    def _alerts(self, out: PipelineOutput) -> MonitorOutput:
        """Walk the policy through the block's time: events at their times, ticks in between."""
        if not len(out) and not out.events:
            return MonitorOutput(out, [], self.policy.take_notices())
        alerts: list[Alert] = []
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

        end = float(out.t[-1]) if len(out) else max(e.ts for e in out.events)
        if self._next_tick is None:
            self._next_tick = float(out.t[0]) if len(out) else end
        events = sorted(out.events, key=lambda e: e.ts)
        i = 0
        while self._next_tick <= end or i < len(events):
            if i < len(events) and events[i].ts <= self._next_tick:
                alerts += self.policy.on_events([events[i]], posture_at(events[i].ts))
                i += 1
                continue
            if self._next_tick > end:
                break
            alerts += self.policy.tick(self._next_tick, posture_at(self._next_tick))
            self._next_tick += TICK_S
        while i < len(events):
            alerts += self.policy.on_events([events[i]], posture_at(events[i].ts))
            i += 1
        return MonitorOutput(out, alerts, self.policy.take_notices())

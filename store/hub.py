"""Where one analysis step leaves the monitor: everything fanned out to the sinks.

Per step the monitor hands over one ``MonitorStep`` record: its final 10 Hz frames (timestamps,
angle arrays, posture codes), its ``EpisodeEvent``s, the alerts the policy issued, the wearer's
responses to earlier alerts and the local days that ended. ``OutputHub.process`` reduces the
frames to 1 Hz and queues, in one durable outbox, the MQTT messages (angles, retained posture,
episodes, alerts) and the InfluxDB lines, and writes the embedded store when one is configured.
It only reads the record: nothing here knows the alert policy. Nothing here waits on a network
either: the pumps deliver from the outbox.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from posturewatch.alerts.monitor import FinishedDay, MonitorStep
from posturewatch.alerts.mqtt.payloads import (
    Topics,
    alert_payload,
    angles_payloads,
    budget_exhausted_payload,
    daily_payload,
    day_figures,
    encode,
    episode_payload,
    posture_payload,
)
from posturewatch.alerts.records import Alert
from posturewatch.analytics.records import EpisodeEvent, Posture
from posturewatch.store.lines import alert_line, angle_lines, daily_summary_line, episode_line
from posturewatch.store.outbox import EVENT, TELEMETRY, Outbox
from posturewatch.store.rollup import SecondRollup, Seconds
from posturewatch.store.sqlite import SqliteStore

MQTT = "mqtt"
INFLUX = "influx"
DAILY_EVERY_S = 300.0  # data seconds between two running summaries of the day on the daily topic


@dataclass(slots=True)
class HubCounters:
    seconds: int = 0
    events: int = 0
    alerts: int = 0
    lines: int = 0
    messages: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


class OutputHub:
    """Queues one wearer's outputs; see the module docstring.

    ``mqtt``/``influx`` switch the two outbox channels; ``full_rate`` writes every frame to
    InfluxDB instead of the 1 Hz summary; ``sqlite`` also keeps everything locally.
    """

    def __init__(
        self,
        user: str,
        outbox: Outbox,
        *,
        prefix: str = "posturewatch",
        mqtt: bool = True,
        influx: bool = True,
        full_rate: bool = False,
        sqlite: SqliteStore | None = None,
    ) -> None:
        self.user = user
        self.topics = Topics(user, prefix)
        self.outbox = outbox
        self.mqtt = mqtt
        self.influx = influx
        self.full_rate = full_rate
        self.sqlite = sqlite
        self.counters = HubCounters()
        self._rollup = SecondRollup()
        self._posture = Posture.UNKNOWN
        self._posture_since = 0.0
        self._sitting_today_min = 0.0
        self._today: dict[str, object] | None = None  # the daily topic's two days
        self._last_day: dict[str, object] | None = None
        self._daily_at = -float("inf")
        self._alerts_today: tuple[str, int] = ("", 0)  # (local day, alerts issued on it so far)

    @property
    def posture(self) -> Posture:
        return self._posture

    def process(self, step: MonitorStep, now: float | None = None) -> list[Alert]:
        """Queue one step's outputs; returns its alerts.

        Whole seconds before ``step.complete_before`` (or ``now``, for a step without frames)
        are complete and go out now.
        """
        frames = step.frames
        if step.today is not None:
            self._sitting_today_min = step.today.sitting_s / 60.0
        complete = step.complete_before if step.complete_before is not None else now
        if complete is not None:
            self._queue_seconds(self._rollup.push(frames.t, frames.angles, frames.posture,
                                                  complete_before=complete))
        if self.full_rate and self.influx and len(frames):
            self._put_influx(_frame_lines(self.user, frames.t, frames.angles, frames.posture), TELEMETRY)
        for event in frames.events:
            self._queue_event(event)
        if self.sqlite is not None and frames.mountings:
            self.sqlite.write_mountings(self.user, frames.mountings)
        for alert in step.alerts:
            self._queue_alert(alert)
        for notice in step.notices:  # the phone shows "no more reminders today" once
            self._put_mqtt([(self.topics.alerts, budget_exhausted_payload(notice), False)], EVENT)
        for response in step.responses:
            if self.sqlite is not None:
                self.sqlite.record_response(self.user, response.alert_id, response.response_s)
        for day in step.days:
            self.write_day(day)
        self._queue_daily(step, complete)
        self.counters.alerts += len(step.alerts)
        return step.alerts

    def write_day(self, day: FinishedDay) -> dict[str, float]:
        """Queue a local day's summary, stamped at its local midnight (a rewrite overwrites)."""
        values = day.values()
        if self.influx:
            self._put_influx([daily_summary_line(self.user, day.start, values)], EVENT)
        if self.sqlite is not None:
            self.sqlite.write_daily_summary(self.user, day.day, values)
        return values

    def _queue_daily(self, step: MonitorStep, now: float | None) -> None:
        """The retained daily topic: at once when a day ends, else every ``DAILY_EVERY_S``."""
        if not self.mqtt or now is None:
            return
        for day in step.days:
            self._last_day = day_figures(day.day, day.values(), final=True)
            if self._today is not None and self._today["day"] == day.day:
                self._today = None
        if step.today is not None:
            day, n = self._alerts_today
            self._alerts_today = (step.today.day, (n if day == step.today.day else 0) + len(step.alerts))
        due = now - self._daily_at >= DAILY_EVERY_S
        if step.today is not None and (due or step.days):
            # the running day has no alert summary yet (that comes at midnight): count them here
            values = {**step.today.values(), "alerts": float(self._alerts_today[1])}
            self._today = day_figures(step.today.day, values, final=False)
        if step.days or (due and self._today is not None):
            self._daily_at = now
            self._put_mqtt([(self.topics.daily, daily_payload(now, self._today, self._last_day), True)],
                           EVENT)

    def finish(self) -> None:
        """At the end of a stream: emit the held last second."""
        self._queue_seconds(self._rollup.flush())

    # ---- queueing -----------------------------------------------------------------------

    def _queue_seconds(self, seconds: Seconds) -> None:
        n = len(seconds)
        if n == 0:
            return
        self.counters.seconds += n
        if self.mqtt:
            labels = np.array([p.label for p in Posture])[seconds.posture.astype(np.int64)]
            names = sorted(seconds.angles)
            payloads = angles_payloads(
                seconds.t, labels.tolist(), {name: seconds.angles[name] for name in names}
            )
            self._put_mqtt([(self.topics.angles, payload, False) for payload in payloads], TELEMETRY)
        if self.influx and not self.full_rate:
            self._put_influx(angle_lines(self.user, seconds), TELEMETRY)
        if self.sqlite is not None:
            self.sqlite.write_angles(self.user, seconds)
        self._track_posture(seconds)

    def _track_posture(self, seconds: Seconds) -> None:
        codes = seconds.posture.astype(np.int64)
        for ts, code in self._posture_changes(seconds.t, codes):
            self._posture, self._posture_since = Posture(code), float(ts)
        if self.mqtt:
            payload = posture_payload(float(seconds.t[-1]), self._posture.label, self._posture_since,
                                      self._sitting_today_min)
            self._put_mqtt([(self.topics.posture, payload, True)], TELEMETRY)

    def _posture_changes(self, t: np.ndarray, codes: np.ndarray):
        previous = np.concatenate([[int(self._posture)], codes[:-1]])
        changed = np.flatnonzero(codes != previous)
        return zip(t[changed].tolist(), codes[changed].tolist(), strict=True)

    def _queue_event(self, event: EpisodeEvent) -> None:
        self.counters.events += 1
        kind = event.episode.kind
        self.counters.by_kind[kind] = self.counters.by_kind.get(kind, 0) + 1
        if self.mqtt:
            self._put_mqtt([(self.topics.episodes, episode_payload(event), False)], EVENT)
        if self.influx and event.type == "end":
            # one row per finished episode: a replay rewrites identical values, so the result
            # does not depend on how a database settles two writes with the same identity
            self._put_influx([episode_line(self.user, event.episode)], EVENT)
        if self.sqlite is not None:
            self.sqlite.write_episode(self.user, event.episode)

    def _queue_alert(self, alert: Alert) -> None:
        if self.mqtt:
            self._put_mqtt([(self.topics.alerts, alert_payload(alert), False)], EVENT)
        if self.influx:
            self._put_influx([alert_line(self.user, alert)], EVENT)
        if self.sqlite is not None:
            self.sqlite.write_alert(self.user, alert)

    def _put_mqtt(self, messages: list[tuple[str, dict, bool]], priority: int) -> None:
        items = [
            (encode(payload), {"topic": topic, "qos": 1, "retain": retain}, priority)
            for topic, payload, retain in messages
        ]
        self.outbox.put_many(MQTT, items)
        self.counters.messages += len(items)

    def _put_influx(self, lines: list[str], priority: int) -> None:
        if lines:
            self.outbox.put(INFLUX, "\n".join(lines), priority=priority)
            self.counters.lines += len(lines)


def _frame_lines(
    user: str, t: np.ndarray, angles: dict[str, np.ndarray], posture: np.ndarray
) -> list[str]:
    """Full-rate ``angles`` lines (one per frame, ms timestamps)."""
    t = np.asarray(t, dtype=np.float64)
    ms = np.round(t * 1000).astype(np.int64)
    lines = angle_lines(user, Seconds(ms, dict(angles), np.asarray(posture, dtype=np.int8)))
    # angle_lines stamps whole seconds ×1000; frames already carry ms, so undo the scaling
    return [line[: line.rfind(" ") + 1] + str(m) for line, m in zip(lines, ms.tolist(), strict=True)]

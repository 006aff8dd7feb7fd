"""Where one processed block leaves the pipeline: everything queued for the sinks.

Per block the pipeline hands over its 10 Hz frames (timestamps, angle arrays, posture codes),
its ``EpisodeEvent``s and the alerts the policy issued for them (``app.monitor.Monitor`` drives
the policy at the events' own times). ``OutputHub.process`` reduces the frames to 1 Hz and
queues, in one durable outbox, the MQTT messages (angles, retained posture, episodes, alerts)
and the InfluxDB lines, and writes the embedded store when one is configured. Nothing here
waits on a network: the pumps deliver from the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from posturewatch.alerts.mqtt.payloads import (
    Topics,
    alert_payload,
    angles_payloads,
    encode,
    episode_payload,
    posture_payload,
)
from posturewatch.alerts.policy import AlertPolicy
from posturewatch.alerts.records import Alert
from posturewatch.analytics.records import EpisodeEvent, Posture
from posturewatch.store.lines import alert_line, angle_lines, daily_summary_line, episode_line
from posturewatch.store.outbox import EVENT, TELEMETRY, Outbox
from posturewatch.store.rollup import SecondRollup, Seconds
from posturewatch.store.sqlite import SqliteStore, day_bounds

MQTT = "mqtt"
INFLUX = "influx"


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

    ``policy`` is the one that issues this wearer's alerts (the hub reads its follow-ups and day
    summaries; a private one would report no alerts and zero response rates). ``mqtt``/``influx``
    switch the two outbox channels; ``full_rate`` writes every frame to InfluxDB instead of the
    1 Hz summary; ``sqlite`` also keeps everything locally.
    """

    def __init__(
        self,
        user: str,
        outbox: Outbox,
        *,
        policy: AlertPolicy,
        prefix: str = "posturewatch",
        mqtt: bool = True,
        influx: bool = True,
        full_rate: bool = False,
        sqlite: SqliteStore | None = None,
    ) -> None:
        self.user = user
        self.topics = Topics(user, prefix)
        self.outbox = outbox
        self.policy = policy
        self.mqtt = mqtt
        self.influx = influx
        self.full_rate = full_rate
        self.sqlite = sqlite
        self.counters = HubCounters()
        self._rollup = SecondRollup()
        self._posture = Posture.UNKNOWN
        self._posture_since = 0.0
        self._sitting_day = ""
        self._sitting_today_s = 0

    @property
    def posture(self) -> Posture:
        return self._posture

    def process(
        self,
        t: np.ndarray,
        angles: dict[str, np.ndarray],
        posture: np.ndarray,
        events: list[EpisodeEvent],
        alerts: list[Alert],
        now: float,
    ) -> list[Alert]:
        """Queue one block's outputs and alerts; returns the alerts.

        ``now`` is the block's end: every whole second before it is complete and goes out now.
        ``self.policy`` is only read here (follow-ups, day summaries); whoever issues the alerts
        drives it.
        """
        seconds = self._rollup.push(t, angles, posture, complete_before=now)
        self._queue_seconds(seconds)
        if self.full_rate and self.influx and len(t):
            self._put_influx(_frame_lines(self.user, t, angles, posture), TELEMETRY)
        for event in events:
            self._queue_event(event, now)
        for alert in alerts:
            self._queue_alert(alert)
        self.counters.alerts += len(alerts)
        return alerts

    def write_daily_summary(self, day: str, extra: dict[str, float] | None = None) -> dict[str, float]:
        """Queue the alert day summary (plus ``extra`` numbers, e.g. sitting minutes) of a local day.

        Stamped at that day's local midnight, so writing it again later overwrites it.
        """
        summary = self.policy.daily_summary(day)
        values: dict[str, float] = {"alerts": float(summary.alerts)}
        for kind, n in summary.by_kind.items():
            values[f"alerts_{kind}"] = float(n)
        for reason, n in summary.suppressed.items():
            values[f"suppressed_{reason}"] = float(n)
        for window, rate in summary.response_rate.items():
            values[f"response_rate_{int(window)}s"] = rate
        values.update(extra or {})
        day_start = day_bounds(day, self.policy.settings.timezone)[0]
        if self.influx:
            self._put_influx([daily_summary_line(self.user, day_start, values)], EVENT)
        if self.sqlite is not None:
            self.sqlite.write_daily_summary(self.user, day, values)
        return values

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
        zone = self.policy.settings.zone
        codes = seconds.posture.astype(np.int64)
        for ts, code in self._posture_changes(seconds.t, codes):
            self._posture, self._posture_since = Posture(code), float(ts)
        # sitting seconds per local day, for Home Assistant's "sitting today"
        def local_day(ts: float) -> str:
            return datetime.fromtimestamp(ts, zone).date().isoformat()

        sitting = codes == int(Posture.SITTING)
        first, last = local_day(float(seconds.t[0])), local_day(float(seconds.t[-1]))
        if first != self._sitting_day:
            self._sitting_day, self._sitting_today_s = first, 0
        if first == last:
            self._sitting_today_s += int(sitting.sum())
        else:  # the block crosses local midnight (rare): only the new day counts on
            days = np.array([local_day(float(ts)) for ts in seconds.t])
            self._sitting_day, self._sitting_today_s = last, int(sitting[days == last].sum())
        if self.mqtt:
            last = float(seconds.t[-1])
            payload = posture_payload(
                last, self._posture.label, self._posture_since, self._sitting_today_s / 60.0
            )
            self._put_mqtt([(self.topics.posture, payload, True)], TELEMETRY)

    def _posture_changes(self, t: np.ndarray, codes: np.ndarray):
        previous = np.concatenate([[int(self._posture)], codes[:-1]])
        changed = np.flatnonzero(codes != previous)
        return zip(t[changed].tolist(), codes[changed].tolist(), strict=True)

    def _queue_event(self, event: EpisodeEvent, now: float) -> None:
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
            if event.type == "end":
                for follow in self.policy.follow_ups():
                    if follow.alert.episode_id == event.episode.id and follow.response_s is not None:
                        self.sqlite.record_response(self.user, follow.alert.id, follow.response_s)

    def _queue_alert(self, alert: Alert) -> None:
        if self.mqtt:
            self._put_mqtt([(self.topics.alerts, alert_payload(alert), False)], EVENT)
        if self.influx:
            self._put_influx([alert_line(self.user, alert)], EVENT)
        if self.sqlite is not None:
            # the episode may have ended within this same block, its end event (queued first)
            # then found no alert row to record the response on: take it from the follow-up
            response = next((f.response_s for f in self.policy.follow_ups() if f.alert.id == alert.id),
                            None)
            self.sqlite.write_alert(self.user, alert, response_s=response)

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

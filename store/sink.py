"""The central sink: every wearer's MQTT data → durable outbox → InfluxDB.

It subscribes to ``{prefix}/+/{angles,episodes,alerts,status}`` at QoS 1 with a persistent
session (the broker keeps what arrives while the sink is away), commits each message to the
outbox before the MQTT ack goes back, and lets an ``InfluxPump`` drain it. Episode and alert
messages are deduplicated by id (redelivery is normal with at-least-once); a malformed message
is logged and counted by reason, never written and never fatal.
"""

from __future__ import annotations

import collections
import logging
from collections import Counter
from dataclasses import replace
from pathlib import Path

from posturewatch.alerts.mqtt.link import MqttLink, MqttSettings
from posturewatch.alerts.mqtt.payloads import split_topic
from posturewatch.store.from_mqtt import DATA_TOPICS, BadPayload, lines_for
from posturewatch.store.influx import InfluxSettings, InfluxWriter
from posturewatch.store.outbox import Outbox
from posturewatch.store.pumps import InfluxPump

log = logging.getLogger(__name__)

SEEN_IDS = 100_000  # remembered episode/alert ids for dedupe (a few weeks of one user's events)


class SinkWorker:
    def __init__(
        self,
        mqtt: MqttSettings,
        influx: InfluxSettings,
        outbox_path: str | Path,
        *,
        prefix: str = "posturewatch",
        backoff_max_s: float = 30.0,
    ) -> None:
        self.prefix = prefix
        self.outbox = Outbox(outbox_path)
        self.writer = InfluxWriter(influx)
        self.pump = InfluxPump(
            self.outbox, self.writer, batch_lines=influx.batch_lines, backoff_max_s=backoff_max_s
        )
        subscriptions = tuple((f"{prefix}/+/{kind}", 1) for kind in DATA_TOPICS)
        settings = replace(
            mqtt,
            subscriptions=mqtt.subscriptions + subscriptions,
            client_id=mqtt.client_id or "posturewatch-sink",
            clean_start=False,
        )
        self.link = MqttLink(settings, on_message=self._on_message)
        self.received: Counter[str] = Counter()
        self.bad: Counter[str] = Counter()
        self.duplicates = 0
        self._seen: collections.OrderedDict[str, None] = collections.OrderedDict()

    def start(self, wait_s: float = 0.0) -> bool:
        self.pump.start()
        return self.link.start(wait_s)

    def stop(self, drain_s: float = 5.0) -> None:
        self.link.stop()
        self.pump.wait_drained(drain_s)
        self.pump.stop()
        self.writer.close()
        self.outbox.close()

    @property
    def stats(self) -> dict[str, int]:
        return {
            "received": sum(self.received.values()),
            "bad": sum(self.bad.values()),
            "duplicates": self.duplicates,
            "pending": self.outbox.pending("influx"),
            "written_lines": self.writer.lines_written,
        }

    def _on_message(self, topic: str, payload: bytes) -> None:
        try:
            user, kind = split_topic(topic, self.prefix)
            lines, priority, record_id = lines_for(user, kind, payload)
        except BadPayload as exc:
            self.bad[exc.reason] += 1
            log.warning("sink: dropped message on %s: %s", topic, exc)
            return
        except ValueError as exc:
            self.bad["bad_topic"] += 1
            log.warning("sink: dropped message on %s: %s", topic, exc)
            return
        self.received[kind] += 1
        if record_id is not None:
            key = f"{user}/{kind}/{record_id}"
            if key in self._seen:
                self.duplicates += 1
                return
            self._seen[key] = None
            if len(self._seen) > SEEN_IDS:
                self._seen.popitem(last=False)
        if not lines:
            return
        # committed before this callback returns, i.e. before paho sends the PUBACK
        self.outbox.put("influx", "\n".join(lines), priority=priority)

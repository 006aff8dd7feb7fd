"""Hold a gateway's outbox after each (re)connect until a central sink answers on this broker.

A broker restarted from its persistence file brings back sessions and queued messages, but
Mosquitto 2.0 does not bring back *shared* subscriptions: until the first sink worker has
reconnected and subscribed again, what wearers publish has no subscriber in the sink group and
is dropped. Wearers' daemons usually reconnect first. So a daemon of a central deployment
(``[mqtt] wait_for_sink = true``) publishes nothing from its outbox on a new connection until it
knows a sink is subscribed on it:

1. on every connect the gate closes, and the pump asks it to probe: a small message on
   ``<prefix>/<user>/sink/probe`` (QoS 0, again every ``PROBE_INTERVAL_S`` until answered);
2. sink workers subscribe to the probes with the same shared subscription as the data, so a
   probe reaches a worker exactly when data would; the worker answers on
   ``<prefix>/<user>/sink/ready`` with the probe's token;
3. the answer to this connection's token opens the gate; the pump starts from the oldest item
   the broker has not acknowledged on this connection (acknowledgements of resends from an
   earlier connection do not count: they may have reached no sink).

Once open, the gate stays open until the next reconnect: sinks that go away later keep their
persistent sessions, and the broker queues their share. The cost is a probe or two per daemon
per reconnect, and alerts held for as long as no sink is up after one.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable

from posturewatch.alerts.mqtt.link import MqttLink
from posturewatch.alerts.mqtt.payloads import Topics

log = logging.getLogger(__name__)

PROBE_INTERVAL_S = 1.0


class SinkGate:
    """Open on a connection once a sink answered its probe; see the module docstring."""

    def __init__(self, link: MqttLink, topics: Topics, *, interval_s: float = PROBE_INTERVAL_S) -> None:
        self.link = link
        self.topics = topics
        self.interval_s = interval_s
        self.probes = 0
        self.opened = 0
        self._token = ""
        self._token_epoch = -1
        self._open_epoch = -1
        self._last_probe = float("-inf")
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    @property
    def is_open(self) -> bool:
        return self.link.connected and self._open_epoch == self.link.connects

    @property
    def epoch(self) -> int:
        """The connection the gate's state is about (``MqttLink.connects``)."""
        return self.link.connects

    def add_open_listener(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def poll(self) -> None:
        """Probe for a sink if this connection has none yet and the last probe is old enough."""
        if not self.link.connected or self.is_open:
            return
        now = time.monotonic()
        with self._lock:
            epoch = self.link.connects
            if epoch != self._token_epoch:
                self._token, self._token_epoch = f"{epoch}-{secrets.token_hex(6)}", epoch
                log.info("MQTT connection %d: holding the outbox until a sink answers", epoch)
            elif now - self._last_probe < self.interval_s:
                return
            self._last_probe = now
            token = self._token
        self.probes += 1
        self.link.publish_raw(self.topics.sink_probe, json.dumps({"token": token}).encode(), qos=0)

    def answer(self, payload: bytes) -> None:
        """A sink's answer (``…/sink/ready``), from the MQTT network thread."""
        try:
            token = json.loads(payload).get("token")
        except (ValueError, AttributeError):
            log.warning("ignored a malformed sink answer: %r", payload[:100])
            return
        with self._lock:
            if token != self._token or self._token_epoch != self.link.connects:
                return  # an answer to an earlier connection's probe
            self._open_epoch = self._token_epoch
        self.opened += 1
        log.info("a sink answered on MQTT connection %d: the outbox flows", self._open_epoch)
        for listener in self._listeners:
            listener()

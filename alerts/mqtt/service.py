"""One wearer's live MQTT presence: status with LWT, commands in, HA discovery.

On every (re)connect it publishes the retained ``online`` status (the LWT makes the broker
publish ``offline`` if the daemon vanishes) and the Home Assistant discovery configs; it
re-publishes the configs when HA's birth message arrives, answers commands on
``…/cmd/result``, and on ``close`` publishes ``offline`` itself. Data (angles, episodes,
alerts) does not go through here but through the durable outbox (``store.hub``).

Commands arrive on paho's network thread; ``dispatch`` hands each one to the thread that owns
the alert policy (the session's event loop: ``Session.dispatch``), which handles it and publishes
the reply. Without a dispatcher commands are handled where they arrive (tests, tools).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

from posturewatch.alerts.mqtt.commands import CommandService
from posturewatch.alerts.mqtt.homeassistant import BIRTH_TOPIC, discovery_configs, is_birth
from posturewatch.alerts.mqtt.link import MqttLink, MqttSettings, Will
from posturewatch.alerts.mqtt.payloads import Topics, encode, split_topic, status_payload
from posturewatch.alerts.mqtt.sinkgate import SinkGate

log = logging.getLogger(__name__)


class UserMqttService:
    """Owns the ``MqttLink`` of one wearer; ``link`` is also what the outbox pump publishes on."""

    def __init__(
        self,
        settings: MqttSettings,
        topics: Topics,
        commands: CommandService,
        *,
        clock: Callable[[], float] = time.time,
        home_assistant: bool = True,
        discovery_prefix: str = "homeassistant",
        dispatch: Callable[[Callable[[], None]], None] | None = None,
        wait_for_sink: bool = False,
    ) -> None:
        """``wait_for_sink``: hold the outbox on each new connection until a central sink
        answers (``gate``; see ``alerts.mqtt.sinkgate``)."""
        self.topics = topics
        self.dispatch = dispatch or (lambda work: work())
        self.extra: dict[str, object] = {}
        self.commands = commands
        self.clock = clock
        self.home_assistant = home_assistant
        self.discovery_prefix = discovery_prefix
        self.sensors: dict[str, Mapping[str, object]] = {}
        self.discovery_published = 0
        subscriptions = [(topics.cmd_filter, 1)]
        if home_assistant:
            subscriptions.append((BIRTH_TOPIC if discovery_prefix == "homeassistant"
                                  else f"{discovery_prefix}/status", 1))
        if wait_for_sink:
            subscriptions.append((topics.sink_ready, 0))
        settings = _with_subscriptions(settings, tuple(subscriptions))
        will = Will(topics.status, encode(status_payload(clock(), online=False)))
        self.link = MqttLink(settings, will=will, on_message=self._on_message)
        self.link.add_connect_listener(self._on_connect)
        self.gate = SinkGate(self.link, topics) if wait_for_sink else None

    def start(self, wait_s: float = 0.0) -> bool:
        return self.link.start(wait_s)

    def close(self) -> None:
        offline = encode(status_payload(self.clock(), online=False, sensors=self.sensors, **self.extra))
        self.link.stop(final=[(self.topics.status, offline, True)])

    def publish_status(self, sensors: Mapping[str, Mapping[str, object]] | None = None,
                       **extra: object) -> None:
        """Retained status with each sensor's connection, battery, rate and loss, plus ``extra``
        delivery state (``mqtt``, ``outbox``)."""
        if sensors is not None:
            self.sensors = dict(sensors)
        if extra:
            self.extra = dict(extra)
        payload = encode(status_payload(self.clock(), online=True, sensors=self.sensors, **self.extra))
        self.link.publish_raw(self.topics.status, payload, qos=1, retain=True)

    def publish_discovery(self) -> None:
        for topic, config in discovery_configs(self.topics, self.discovery_prefix):
            self.link.publish_raw(topic, encode(config), qos=1, retain=True)
        self.discovery_published += 1

    def _on_connect(self) -> None:
        self.publish_status()
        if self.home_assistant:
            self.publish_discovery()

    def _on_message(self, topic: str, payload: bytes) -> None:
        if self.gate is not None and topic == self.topics.sink_ready:
            self.gate.answer(payload)
            return
        if self.home_assistant and is_birth(topic, payload, self.discovery_prefix):
            log.info("Home Assistant came online: re-publishing discovery")
            self.publish_discovery()
            return
        try:
            user, rest = split_topic(topic, self.topics.prefix)
        except ValueError:
            return
        if user != self.topics.user or not rest.startswith("cmd/") or rest == "cmd/result":
            return
        command = rest.removeprefix("cmd/")
        self.dispatch(lambda: self._answer(command, payload))

    def _answer(self, command: str, payload: bytes) -> None:
        reply = self.commands.handle(command, payload)
        self.link.publish_raw(self.topics.cmd_result, encode(reply), qos=1, retain=False)


def _with_subscriptions(settings: MqttSettings, extra: tuple[tuple[str, int], ...]) -> MqttSettings:
    from dataclasses import replace

    return replace(settings, subscriptions=settings.subscriptions + extra)

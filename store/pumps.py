"""Pumps that drain the outbox into the servers, removing an item only once it is acknowledged.

``InfluxPump`` writes batches and retries transient failures with exponential backoff;
``MqttPump`` keeps a window of QoS 1 publishes in flight and acks each outbox item on its
PUBACK. It alone re-sends: on every new connection it publishes again from the oldest item not
acknowledged, and the link drops those messages from the MQTT client's own queue, which would
resend them as well (each copy the broker accepts reaches the wearer's topic). With a gate
(``alerts.mqtt.sinkgate``) it publishes on a new connection only once the gate opened. Only
acknowledgements of what it published on the current connection count. Both run as
daemon threads, wake when something is put, and stop on ``stop()``.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from posturewatch.store.influx import WriteError
from posturewatch.store.outbox import Outbox, OutboxItem

log = logging.getLogger(__name__)


class LineWriter(Protocol):
    def write(self, lines: list[str]) -> None: ...


class PublishLink(Protocol):
    """What ``MqttPump`` needs from an MQTT connection (``alerts.mqtt.MqttLink`` has it)."""

    @property
    def connected(self) -> bool: ...

    @property
    def connects(self) -> int: ...

    def publish_raw(self, topic: str, payload: bytes, qos: int, retain: bool, *,
                    caller_resends: bool = False) -> int | None: ...

    def add_ack_listener(self, listener: Callable[[int], None]) -> None: ...


class Gate(Protocol):
    """What ``MqttPump`` needs from a gate (``alerts.mqtt.sinkgate.SinkGate`` has it)."""

    @property
    def is_open(self) -> bool: ...

    @property
    def epoch(self) -> int: ...

    def poll(self) -> None: ...

    def add_open_listener(self, listener: Callable[[], None]) -> None: ...


class _Pump(threading.Thread):
    def __init__(self, outbox: Outbox, channel: str, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.outbox = outbox
        self.channel = channel
        self._wake = outbox.subscribe()
        self._stop_event = threading.Event()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop_event.set()
        self._wake.set()
        if self.is_alive():
            self.join(timeout)

    def wait_drained(self, timeout: float) -> bool:
        """Block until this pump's channel is empty; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.outbox.pending(self.channel) and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.outbox.pending(self.channel) == 0


class InfluxPump(_Pump):
    """Drains the ``influx`` channel (each item: newline-joined line-protocol lines)."""

    def __init__(
        self,
        outbox: Outbox,
        writer: LineWriter,
        *,
        channel: str = "influx",
        batch_lines: int = 5000,
        backoff_min_s: float = 0.2,
        backoff_max_s: float = 30.0,
    ) -> None:
        super().__init__(outbox, channel, "influx-pump")
        self.writer = writer
        self.batch_lines = batch_lines
        self.backoff = (backoff_min_s, backoff_max_s)
        self.failures = 0
        self.batches = 0
        self.last_error = ""

    def run(self) -> None:
        delay = self.backoff[0]
        while not self._stop_event.is_set():
            self._wake.clear()
            items = self.outbox.peek(self.channel, limit=max(1, self.batch_lines))
            if not items:
                self._wake.wait(1.0)
                continue
            batch, lines = self._batch(items)
            try:
                self.writer.write(lines)
            except WriteError as exc:
                self.last_error = str(exc)
                if exc.transient:
                    self.failures += 1
                    log.warning("influx write failed (retry in %.1fs): %s", delay, exc)
                    self._stop_event.wait(delay)
                    delay = min(delay * 2, self.backoff[1])
                else:
                    self._isolate_bad(batch)
                continue
            self.outbox.ack([item.seq for item in batch])
            self.batches += 1
            delay = self.backoff[0]

    def _batch(self, items: list[OutboxItem]) -> tuple[list[OutboxItem], list[str]]:
        batch: list[OutboxItem] = []
        lines: list[str] = []
        for item in items:
            item_lines = item.payload.decode().split("\n")
            if batch and len(lines) + len(item_lines) > self.batch_lines:
                break
            batch.append(item)
            lines.extend(item_lines)
        return batch, lines

    def _isolate_bad(self, batch: list[OutboxItem]) -> None:
        """Write a rejected batch item by item so one malformed item cannot sink the rest."""
        for item in batch:
            try:
                self.writer.write(item.payload.decode().split("\n"))
            except WriteError as exc:
                if exc.transient:
                    return  # the server went away meanwhile: the main loop retries
                self.outbox.dead_letter([item.seq], str(exc))
            else:
                self.outbox.ack([item.seq])


class MqttPump(_Pump):
    """Drains the ``mqtt`` channel (meta: topic, qos, retain) through a ``PublishLink``."""

    def __init__(
        self, outbox: Outbox, link: PublishLink, *, channel: str = "mqtt", window: int = 20,
        gate: Gate | None = None,
    ) -> None:
        super().__init__(outbox, channel, "mqtt-pump")
        self.link = link
        self.window = window
        self.gate = gate
        self.published = 0
        self.resends = 0  # items published again on a new connection (no ack came on the old one)
        self._inflight: dict[int, tuple[int, int]] = {}  # mid -> (outbox seq, connection); this thread only
        self._acks: collections.deque[tuple[int, int]] = collections.deque()
        self._sent_upto = 0
        self._epoch = -1
        link.add_ack_listener(self._on_ack)
        if gate is not None:
            gate.add_open_listener(self._wake.set)

    def _on_ack(self, mid: int) -> None:
        # called on the MQTT network thread, possibly while it holds its own locks:
        # hand over and return, never take a lock here
        self._acks.append((mid, self.link.connects))
        self._wake.set()

    def _settle_acks(self) -> None:
        # an ack can arrive before its publish call returned, but this thread records the mid
        # before it settles, so a mid unknown here is not ours (e.g. a direct publish): drop it.
        # An ack on a later connection than the publish cannot be for it (the item is published
        # again on the new connection): only same-connection acks count.
        done = []
        while self._acks:
            mid, epoch = self._acks.popleft()
            entry = self._inflight.pop(mid, None)
            if entry is not None and entry[1] == epoch:
                done.append(entry[0])
        if done:
            self.outbox.ack(done)

    def _new_connection(self) -> None:
        """On a new connection every unacknowledged item goes again, from the oldest."""
        if self.link.connects != self._epoch and self.link.connected:
            self.resends += len(self._inflight)
            self._inflight.clear()
            self._sent_upto = 0
            self._epoch = self.link.connects

    def _gated(self) -> bool:
        """True while the gate holds the outbox (a new connection without a sink's answer yet)."""
        if self.gate is None or self.gate.is_open:
            return False
        self.gate.poll()
        return True

    def run(self) -> None:
        while not self._stop_event.is_set():
            self._wake.clear()
            self._settle_acks()
            self._new_connection()
            if self._gated():
                self._wake.wait(0.25)
                continue
            epoch = self._epoch
            room = self.window - len(self._inflight)
            if not self.link.connected or room <= 0:
                self._wake.wait(0.5)
                continue
            items = self.outbox.peek(self.channel, limit=room, after_seq=self._sent_upto)
            if not items:
                self._wake.wait(1.0)
                continue
            for item in items:
                meta = item.meta
                mid = self.link.publish_raw(
                    meta["topic"], item.payload, int(meta.get("qos", 1)), bool(meta.get("retain")),
                    caller_resends=True,
                )
                if mid is None:
                    break  # not accepted (link down): try again from here later
                self._inflight[mid] = (item.seq, epoch)
                self._sent_upto = item.seq
                self.published += 1
            self._settle_acks()

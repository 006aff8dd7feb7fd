"""The central sink worker: every wearer's MQTT data → InfluxDB, scaled by starting copies.

A worker keeps no state of its own. It joins an MQTT v5 shared subscription
(``$share/<group>/<prefix>/+/{angles,episodes,alerts,status}``, QoS 1), so the broker hands each
message to one member of the group, and it keeps a persistent session under a fixed client id.
Received messages are acknowledged by hand, and only after the database accepted the batch they
belong to (a synchronous write): a worker killed at any moment leaves its unacknowledged messages
with the broker, which sends them again when a worker with the same client id comes back. Writes
are idempotent (a point's identity is its series and timestamp), so a message written and then
redelivered overwrites itself instead of doubling. While the database is unreachable the batch is
retried with backoff and nothing is acknowledged; the broker stops sending once the Receive
Maximum of unacknowledged messages is reached.

Events (alerts, finished episodes) are stored exactly once. QoS 1 is at-least-once: after a
broker restart or a reconnect the same alert comes again under the same id (the publisher's
resend, or the broker's redelivery of what was not acknowledged). A worker remembers the ids it
stored (the last ``SEEN_IDS``), skips a copy of one and counts it in ``duplicates``; a copy that
reaches another worker, or this one after a restart, is still stored once because a point's
identity is its series and timestamp, which the copy shares. A malformed message is logged and counted by
reason, and acknowledged (it can never be stored); one the database rejects as malformed likewise.

Mosquitto 2.0 does not restore *shared* subscriptions from its persistence file when it
restarts (measured with 2.0.11): the worker subscribes again on every connection, but what
wearers publish before the first worker has done so has no subscriber and would be dropped.
Wearers' daemons with ``[mqtt] wait_for_sink`` therefore hold their outbox on each connection
until a sink answers their probe (``alerts.mqtt.sinkgate``): a worker subscribes to the probes
with the same shared subscription as the data and answers each on the wearer's
``…/sink/ready``. A single worker with ``group=""`` uses a plain persistent subscription, which
the broker does restore; it cannot be shared.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import replace

from posturewatch.alerts.mqtt.link import Delivery, MqttLink, MqttSettings
from posturewatch.alerts.mqtt.payloads import SINK_PROBE, SINK_READY, split_topic
from posturewatch.store.from_mqtt import DATA_TOPICS, BadPayload, lines_for
from posturewatch.store.influx import InfluxSettings, InfluxWriter, WriteError
from posturewatch.store.sink_trace import LatencyTrace

log = logging.getLogger(__name__)

DEFAULT_GROUP = "posturewatch-sink"
# how long a batch waits for more messages after its first: the database makes rows searchable
# on its own ~1 s tick anyway, so a longer wait buys fewer writes at the price of the tail
# (bench/fleet.py: 0.2 s → p99 +0.15 s; 0.05 s costs ≈30 % more sink CPU, still > 5000 wearers a core)
LINGER_S = 0.05
SEEN_IDS = 200_000  # event ids a worker remembers to skip redelivered copies (about 20 MB)


def worker_client_id(shard: str, worker: int) -> str:
    """The fixed client id of worker ``worker`` of shard ``shard`` (``sink-<shard>-<n>``)."""
    return f"sink-{shard}-{worker}"


def shared_filters(group: str, prefix: str) -> tuple[str, ...]:
    """The shared-subscription topic filters a sink of ``group`` subscribes to; with no group,
    plain filters (one worker alone: no sharing, but see ``SinkWorker``)."""
    share = f"$share/{group}/" if group else ""
    return tuple(f"{share}{prefix}/+/{kind}" for kind in (*DATA_TOPICS, SINK_PROBE))


class _Abandoned(Exception):
    """The drain time ran out while the database was down: leave the batch unacknowledged."""


class SinkWorker:
    """One stateless member of a sink group; see the module docstring."""

    def __init__(
        self,
        mqtt: MqttSettings,
        influx: InfluxSettings,
        *,
        prefix: str = "posturewatch",
        group: str = DEFAULT_GROUP,
        batch_max: int = 500,
        linger_s: float = LINGER_S,
        backoff_max_s: float = 30.0,
        trace: LatencyTrace | None = None,
    ) -> None:
        if mqtt.protocol != "5" and mqtt.protocol != "auto":
            raise ValueError("the sink needs MQTT v5 (shared subscriptions, manual acks)")
        self.prefix = prefix
        self.group = group
        self.batch_max = batch_max
        self.linger_s = linger_s
        self.backoff_max_s = backoff_max_s
        self.writer = InfluxWriter(influx)
        self.trace = trace
        self._own_subscriptions = tuple((f, 1) for f in shared_filters(group, prefix))
        settings = replace(
            mqtt,
            protocol="5",
            subscriptions=mqtt.subscriptions + self._own_subscriptions,
            client_id=mqtt.client_id or worker_client_id("0", 0),
            clean_start=False,
            receive_maximum=mqtt.receive_maximum or batch_max,
        )
        self.link = MqttLink(settings, on_delivery=self._inbox_put, manual_ack=True)
        self.delivered = 0  # messages the broker handed over (redeliveries included)
        self.received: Counter[str] = Counter()  # well-formed ones by kind
        self.bad: Counter[str] = Counter()
        self.rejected = 0
        self.acked = 0
        self.written_messages = 0
        self.write_retries = 0
        self.probes_answered = 0
        self.duplicates = 0  # copies of an event this worker had stored already (skipped)
        self._seen: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        self._inbox: queue.Queue[Delivery] = queue.Queue()
        self._unfinished = 0  # delivered and not yet stored + acknowledged (or dropped as bad)
        self._count_lock = threading.Lock()
        self._stop = threading.Event()
        self._drain_until = float("inf")
        self._thread = threading.Thread(target=self._run, name="sink-writer", daemon=True)

    # ---- public -------------------------------------------------------------------------

    def start(self, wait_s: float = 0.0) -> bool:
        """Connect and start storing; with ``wait_s``, wait until subscribed (True if so)."""
        self._thread.start()
        self.link.start()
        return self.link.subscribed.wait(wait_s) if wait_s > 0 else self.link.subscribed.is_set()

    def stop(self, drain_s: float = 5.0, *, leave: bool = False) -> None:
        """Store and acknowledge what has arrived (up to ``drain_s``), then disconnect.
        Anything left unacknowledged stays with the broker for this client id.

        ``leave``: quit the group for good (scaling down). Mosquitto keeps handing a member's
        share to its session while it is disconnected, so a worker that will not come back first
        unsubscribes, then stores what still arrives until the stream to it has dried up."""
        if leave and self.link.connected:
            if not self.link.unsubscribe([f for f, _ in self._own_subscriptions], timeout=drain_s):
                log.warning("sink: the broker did not confirm leaving the group")
            self._drain_quietly(drain_s)
        self._drain_until = time.monotonic() + drain_s
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(drain_s + self.writer.settings.timeout_s + 1)
        self.link.stop()
        self.writer.close()
        if self.trace is not None:
            self.trace.close()

    def _drain_quietly(self, drain_s: float, quiet_s: float = 1.0) -> None:
        """Wait until nothing new has arrived for ``quiet_s`` and all is acknowledged."""
        deadline = time.monotonic() + drain_s
        last_total, quiet_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            total = self.stats["received"]
            if total != last_total or self._unfinished:
                last_total, quiet_since = total, time.monotonic()
            elif time.monotonic() - quiet_since >= quiet_s:
                return
            time.sleep(0.05)

    @property
    def failure(self) -> str | None:
        """Why this worker cannot work at all (broker without v5, login or subscription
        refused), or None."""
        if self.link.protocol_refused:
            return (
                f"the broker at {self.link.settings.host}:{self.link.settings.port} refused MQTT v5 "
                f"({self.link.protocol_refused}); the sink needs v5 shared subscriptions"
            )
        if self.link.login_refused:
            return (
                f"the broker refused the login of {self.link.settings.username or '(no user)'}: "
                f"{self.link.login_refused}"
            )
        if self.link.subscribe_refusals:
            return "the broker refused the sink's subscriptions: " + "; ".join(self.link.subscribe_refusals)
        return None

    def wait_idle(self, timeout: float) -> bool:
        """Wait until everything received so far is stored and acknowledged."""
        deadline = time.monotonic() + timeout
        while self._unfinished:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    @property
    def stats(self) -> dict[str, int]:
        return {
            "received": self.delivered,
            "written": self.written_messages,
            "written_lines": self.writer.lines_written,
            "acked": self.acked,
            "bad": sum(self.bad.values()),
            "rejected": self.rejected,
            "pending": self._unfinished,
            "write_retries": self.write_retries,
            "duplicates": self.duplicates,
            "probes_answered": self.probes_answered,
        }

    # ---- writer thread ------------------------------------------------------------------

    def _inbox_put(self, delivery: Delivery) -> None:
        with self._count_lock:
            self.delivered += 1
            self._unfinished += 1
        self._inbox.put(delivery)

    def _run(self) -> None:
        while True:
            if self._stop.is_set() and (self._inbox.empty() or time.monotonic() > self._drain_until):
                return
            batch = self._take_batch()
            if not batch:
                continue
            try:
                self._store(batch)
            except _Abandoned:
                log.warning("sink: %d message(s) left unacknowledged for redelivery", self._unfinished)
                return
            with self._count_lock:
                self._unfinished -= len(batch)

    def _take_batch(self) -> list[Delivery]:
        try:
            first = self._inbox.get(timeout=0.1)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.linger_s
        while len(batch) < self.batch_max:
            left = deadline - time.monotonic()
            try:
                batch.append(self._inbox.get(timeout=left) if left > 0 else self._inbox.get_nowait())
            except queue.Empty:
                break
        return batch

    def _store(self, batch: list[Delivery]) -> None:
        taken = time.time()
        parsed: list[tuple[Delivery, list[str]]] = []
        fresh: dict[tuple[str, str, str], None] = {}
        for delivery in batch:
            if delivery.topic.endswith("/" + SINK_PROBE):
                self._answer_probe(delivery)
                parsed.append((delivery, []))
                continue
            lines, key = self._lines(delivery)
            if key is not None and lines:
                if key in self._seen or key in fresh:
                    self.duplicates += 1  # stored already: acknowledge, write nothing
                    log.info("sink: %s %s received again; stored once", key[1], key[2])
                    lines = []
                else:
                    fresh[key] = None
            parsed.append((delivery, lines))
        write_start = time.time()
        if not self._write([line for _, lines in parsed for line in lines]):
            # the database refused the batch as malformed: find the culprit(s) message by message
            for delivery, lines in parsed:
                if lines and not self._write(lines):
                    self.rejected += 1
                    log.error("sink: database rejected the message on %s: %r",
                              delivery.topic, delivery.payload[:200])
        written = time.time()
        self.written_messages += sum(1 for _, lines in parsed if lines)
        self._remember(fresh)
        for delivery, _ in parsed:
            if self.link.ack(delivery):
                self.acked += 1
        if self.trace is not None:
            self._trace(parsed, taken, write_start, written)

    def _trace(self, parsed: list[tuple[Delivery, list[str]]], taken: float, write_start: float,
               written: float) -> None:
        acked = time.time()
        for delivery, lines in parsed:
            try:
                user, kind = split_topic(delivery.topic, self.prefix)
            except ValueError:
                continue
            if lines and self.trace.wants(user, kind):
                self.trace.record(user, kind, lines[0], delivery.received_at, taken, write_start,
                                  written, acked)
        self.trace.flush()

    def _answer_probe(self, delivery: Delivery) -> None:
        """Tell a wearer's daemon that this group is subscribed on this broker (its token back)."""
        try:
            user, _ = split_topic(delivery.topic, self.prefix)
        except ValueError:
            self.bad["bad_topic"] += 1
            return
        if len(delivery.payload) > 200:
            self.bad["bad_probe"] += 1
            log.warning("sink: ignored an oversized probe on %s", delivery.topic)
            return
        self.link.publish_raw(f"{self.prefix}/{user}/{SINK_READY}", delivery.payload, qos=0)
        self.probes_answered += 1

    def _remember(self, keys: dict[tuple[str, str, str], None]) -> None:
        """Note the event ids just stored; the oldest are forgotten past ``SEEN_IDS``."""
        self._seen.update(keys)
        while len(self._seen) > SEEN_IDS:
            self._seen.popitem(last=False)

    def _lines(self, delivery: Delivery) -> tuple[list[str], tuple[str, str, str] | None]:
        """The message's lines and, for an event, its identity (user, kind, id)."""
        try:
            user, kind = split_topic(delivery.topic, self.prefix)
            lines, _, record_id = lines_for(user, kind, delivery.payload)
        except BadPayload as exc:
            self.bad[exc.reason] += 1
            log.warning("sink: dropped message on %s: %s", delivery.topic, exc)
            return [], None
        except ValueError as exc:
            self.bad["bad_topic"] += 1
            log.warning("sink: dropped message on %s: %s", delivery.topic, exc)
            return [], None
        self.received[kind] += 1
        return lines, None if record_id is None else (user, kind, record_id)

    def _write(self, lines: list[str]) -> bool:
        """Write until the database accepts (True) or rejects as malformed (False)."""
        delay = 0.2
        while True:
            try:
                self.writer.write(lines)
                return True
            except WriteError as exc:
                if not exc.transient:
                    log.error("sink: %s", exc)
                    return False
                self.write_retries += 1
                log.warning("sink: %s; retrying in %.1f s", exc, delay)
            if self._stop.is_set() and time.monotonic() + delay > self._drain_until:
                raise _Abandoned
            time.sleep(delay)
            delay = min(delay * 2, self.backoff_max_s)

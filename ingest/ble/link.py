"""One sensor's connection manager: find, connect, subscribe, stream, and reconnect forever.

Each configured sensor gets a :class:`SensorLink` task. It scans for the sensor's address or
name, connects through the backend and runs its family's driver (notifications, rate, config
reads, start writes; see :mod:`posturewatch.ingest.protocols.driver`), then turns every
notification into a host-time :class:`SensorBlock`. On any disconnect (or a link
that goes silent) it cleans up and tries again after an exponential backoff with jitter; one
sensor's trouble never blocks another's. :meth:`SensorLink.status` is the snapshot published on
the ``status`` topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from posturewatch.ingest.ble.accounting import StreamAccounting
from posturewatch.ingest.ble.battery import read_battery
from posturewatch.ingest.ble.client import (
    Advertisement,
    BleBackend,
    BleClient,
    BleError,
    normalize_uuid,
    send_writes,
)
from posturewatch.ingest.ble.config import SensorConfig
from posturewatch.ingest.clock import ClockMapper, CountedClock
from posturewatch.ingest.protocols import DeviceDriver, identify
from posturewatch.ingest.records import SensorBlock

log = logging.getLogger(__name__)

RATE_WINDOW_S = 10.0
# Without timestamps, a steady packet loss looks like a slow clock: allowing the rate only a
# crystal's error (not the clock module's 5 % default) leaves lost packets to be counted as loss.
COUNTED_RATE_ERROR = 0.002
GAP_S = 1.0  # a silence longer than this between delivered samples is a gap (a reconnect is one)
STOP_TIMEOUT_S = 2.0


class SensorLink:
    """Keeps one sensor connected and streaming; emits :class:`SensorBlock` via ``emit``."""

    def __init__(
        self,
        sensor: SensorConfig,
        driver: DeviceDriver,
        backend: BleBackend,
        emit: Callable[[SensorBlock], None],
        *,
        now: Callable[[], float] = time.time,
        scan_timeout_s: float = 10.0,
        connect_timeout_s: float = 20.0,
        stall_timeout_s: float = 10.0,
        base_backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        battery_interval_s: float = 300.0,
        rng: random.Random | None = None,
    ) -> None:
        self.sensor = sensor
        self.driver = driver
        self.backend = backend
        self.emit = emit
        self.now = now
        self.scan_timeout_s = scan_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.stall_timeout_s = stall_timeout_s
        self.base_backoff_s = base_backoff_s
        self.max_backoff_s = max_backoff_s
        self.battery_interval_s = battery_interval_s
        self.rng = rng or random.Random()
        self.rate_hz = driver.rate_hz(sensor.rate_hz)
        self.decoder = driver.new_decoder(sensor.rate_hz)
        self.accounting = StreamAccounting(self.rate_hz)
        self.clock = ClockMapper()
        self.counted = CountedClock(self.rate_hz, max_rate_error=COUNTED_RATE_ERROR)
        self.state = "idle"
        self.address: str | None = sensor.address
        self.name: str | None = sensor.name
        self.battery_pct: float | None = None
        self.connected_since: float | None = None
        self.connections = 0
        self.disconnects = 0
        self.failures = 0  # failed attempts in a row, drives the backoff
        self.connect_failures = 0
        self.stalls = 0
        self.notifications = 0
        self.bad_notifications = 0
        self.last_error: str | None = None
        self.advertised_as: str | None = None  # the family the sensor's advertisement claims
        self.last_sample_t: float | None = None
        self.gaps = 0
        self.gap_s = 0.0
        self._last_arrival = -math.inf
        self._arrivals: deque[tuple[float, int]] = deque()
        self._client: BleClient | None = None

    # ------------------------------------------------------------------ loop
    async def run(self) -> None:
        """Connect and stream until cancelled; every failure leads to a retry."""
        try:
            while True:
                try:
                    await self._session()
                except asyncio.CancelledError:
                    raise
                except BleError as exc:
                    self._fail(str(exc))
                except Exception as exc:  # never let one sensor's surprise end the daemon
                    log.exception("%s: unexpected error", self.sensor.location)
                    self._fail(f"{type(exc).__name__}: {exc}")
                self._flush_decoder()
                await self._close()
                self.state = "backoff"
                await asyncio.sleep(self._backoff())
        finally:
            self.state = "stopped"
            self._flush_decoder()
            await asyncio.shield(self._close())

    def _fail(self, message: str) -> None:
        self.failures += 1
        self.last_error = message
        log.info("%s: %s", self.sensor.location, message)

    def _backoff(self) -> float:
        ceiling = min(self.max_backoff_s, self.base_backoff_s * 2 ** min(self.failures, 16))
        return ceiling * (0.5 + 0.5 * self.rng.random())

    async def _session(self) -> None:
        self.state = "searching"
        advert = await self.backend.find(self.sensor.address, self.sensor.name, self.scan_timeout_s)
        self.address, self.name = advert.address, advert.name or self.name
        self._check_advertisement(advert)
        self.state = "connecting"
        disconnected = asyncio.Event()
        try:
            client = await self.backend.connect(advert, disconnected.set, self.connect_timeout_s)
        except BleError:
            self.connect_failures += 1
            raise
        self._client = client
        self.state = "subscribing"
        self.decoder.reset()
        self.accounting.new_session()
        self.counted.reset()
        await self._subscribe(client)
        self.connections += 1
        self.connected_since = self.now()
        self._last_arrival = self.now()
        self.state = "streaming"
        self.last_error = None
        await self._read_battery(client)
        await self._watch(client, disconnected)

    def _check_advertisement(self, advert: Advertisement) -> None:
        """Note (once per change) when the sensor advertises as another family than configured:
        the likely cause when its data characteristics turn out to be missing."""
        seen = identify(advert.name, advert.service_uuids)
        claimed = None if seen is None else seen.family
        if claimed not in (None, self.driver.family) and claimed != self.advertised_as:
            log.warning("%s: %s advertises as a %s sensor, but the config says %s",
                        self.sensor.location, advert.address, claimed, self.driver.family)
        self.advertised_as = claimed

    async def _subscribe(self, client: BleClient) -> None:
        driver = self.driver
        wanted = driver.notify_uuids(self.decoder)
        notify = [u for u in wanted if client.has(u)]
        if not notify:
            hint = ""
            if self.advertised_as not in (None, driver.family):
                hint = f" (it advertises as a {self.advertised_as} sensor: check its family)"
            raise BleError(f"{client.address}: none of the {driver.family} data "
                           f"characteristics {list(wanted)} exist{hint}")
        for uuid in notify:
            await client.start_notify(uuid, self._on_notify)
        await send_writes(client, driver.rate_writes(self.sensor.rate_hz))
        for uuid in driver.config_reads():
            if client.has(uuid):
                self.decoder.feed(await client.read_gatt_char(uuid), normalize_uuid(uuid))
        await send_writes(client, driver.start_writes(self.decoder))

    async def _watch(self, client: BleClient, disconnected: asyncio.Event) -> None:
        next_battery = self.now() + self.battery_interval_s
        notifications_before = self.notifications
        tick = min(1.0, self.stall_timeout_s / 4)
        while not disconnected.is_set() and client.is_connected:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(disconnected.wait(), tick)
            now = self.now()
            if now - self._last_arrival > self.stall_timeout_s:
                self.stalls += 1
                raise BleError(f"no data for {self.stall_timeout_s:.0f} s; reconnecting")
            if now >= next_battery:
                next_battery = now + self.battery_interval_s
                await self._read_battery(client)
            if self.notifications > notifications_before:
                self.failures = 0  # the link works: the next outage starts from a short backoff
        self.disconnects += 1
        raise BleError("disconnected")

    async def _read_battery(self, client: BleClient) -> None:
        try:
            percent = await read_battery(client, self.driver, self.decoder)
        except BleError as exc:  # a failed battery read is not worth a reconnect
            log.debug("%s: battery read failed: %s", self.sensor.location, exc)
            return
        if percent is not None:
            self.battery_pct = percent

    async def _close(self) -> None:
        client, self._client = self._client, None
        self.connected_since = None
        if client is not None and client.is_connected:
            await self._stop_stream(client)
            await client.disconnect()
            self._flush_decoder()  # what arrived while the stream was being stopped

    async def _stop_stream(self, client: BleClient) -> None:
        """Best effort: tell the device to stop streaming before the link goes (a device that
        keeps measuring after a disconnect drains its battery); a dying link may refuse."""
        try:
            await asyncio.wait_for(send_writes(client, self.driver.stop_writes(self.decoder)),
                                   STOP_TIMEOUT_S)
        except (BleError, TimeoutError) as exc:
            log.debug("%s: stop writes failed: %s", self.sensor.location, exc)

    # ---------------------------------------------------------- notifications
    def _on_notify(self, char_uuid: str, data: bytes) -> None:
        arrival = self.now()
        self._last_arrival = arrival
        self.notifications += 1
        try:
            block = self._decode(normalize_uuid(char_uuid), bytes(data), arrival)
        except Exception as exc:  # a decoder bug must cost one packet, not the link
            self.bad_notifications += 1
            log.warning("%s: notification dropped: %s: %s",
                        self.sensor.location, type(exc).__name__, exc)
            return
        if block is not None:
            self.emit(block)

    def _flush_decoder(self) -> None:
        """The session ended: whatever the decoder still holds back is data, not loss."""
        try:
            block = self._to_block(self.decoder.flush(), self._last_arrival)
        except Exception as exc:
            self.bad_notifications += 1
            log.warning("%s: held packet dropped: %s: %s", self.sensor.location, type(exc).__name__, exc)
            return
        if block is not None:
            self.emit(block)

    def _decode(self, char_uuid: str, data: bytes, arrival: float) -> SensorBlock | None:
        samples = self.decoder.feed(data, char_uuid)
        battery = self.driver.battery_from_decoder(self.decoder)
        if battery is not None:
            self.battery_pct = battery
        return self._to_block(samples, arrival)

    def _to_block(self, samples, arrival: float) -> SensorBlock | None:
        if samples is None or len(samples) == 0:
            return None
        if samples.device_time is None and samples.seq is None:
            lost_before = self.counted.lost
            t = self.counted.map(len(samples), arrival)
            # without seq or device time nothing is a duplicate: account() keeps every sample
            samples = self.accounting.account(samples, self.counted.lost - lost_before)
        else:
            samples = self.accounting.account(samples)
            if samples is None:
                return None
            if samples.device_time is not None:
                t = self.clock.map(samples.device_time, arrival)
            else:
                t = self.counted.map(len(samples), arrival, seq=samples.seq)
        self._arrivals.append((arrival, len(t)))
        while self._arrivals and self._arrivals[0][0] < arrival - RATE_WINDOW_S:
            self._arrivals.popleft()
        # a notification's samples are evenly spaced: a silence can only come before them
        if self.last_sample_t is not None and t[0] - self.last_sample_t > GAP_S:
            self.gaps += 1
            self.gap_s += float(t[0]) - self.last_sample_t
        self.last_sample_t = float(t[-1])
        return SensorBlock(
            self.sensor.location,
            t,
            np.asarray(samples.acc, dtype=np.float64),
            None if samples.gyr is None else np.asarray(samples.gyr, dtype=np.float64),
            None if samples.mag is None else np.asarray(samples.mag, dtype=np.float64),
        )

    # ----------------------------------------------------------------- status
    def measured_rate_hz(self) -> float | None:
        """Samples per second delivered over the last few seconds."""
        if len(self._arrivals) < 2:
            return None
        span = self._arrivals[-1][0] - self._arrivals[0][0]
        if span <= 0:
            return None
        return sum(n for _, n in list(self._arrivals)[1:]) / span

    def status(self) -> dict:
        """A JSON-ready snapshot for the ``status`` topic."""
        acc = self.accounting
        expected = acc.samples + acc.lost
        rate = self.measured_rate_hz()
        has_clock = self.clock.ready
        return {
            "location": self.sensor.location,
            "family": self.driver.family,
            "address": self.address,
            "name": self.name,
            "state": self.state,
            "connected": self.state == "streaming",
            "connected_since": self.connected_since,
            "battery_pct": self.battery_pct,
            "rate_hz": None if rate is None else round(rate, 2),
            "nominal_rate_hz": self.rate_hz,
            "samples": acc.samples,
            "lost": acc.lost,
            "loss_pct": round(100.0 * acc.lost / expected, 3) if expected else 0.0,
            "duplicates": acc.duplicates,
            "gaps": self.gaps,
            "gap_s": round(self.gap_s, 3),
            "bad_packets": self.decoder.stats.bad_total + self.bad_notifications,
            "connections": self.connections,
            "disconnects": self.disconnects,
            "connect_failures": self.connect_failures,
            "stalls": self.stalls,
            "clock_drift_ppm": round(self.clock.drift_ppm, 1) if has_clock else None,
            "clock_resets": self.clock.resets,
            "last_sample_t": self.last_sample_t,
            "last_error": self.last_error,
        }

"""The common machinery of an emulated BLE IMU: GATT table, device clock, streaming, faults.

A family subclass says which characteristics exist, how writes and subscriptions start or change
the stream, how many samples go in one packet and how a packet is encoded into notification
bytes. This base runs the stream on the event loop's clock (virtual or real): sample ``k`` is
taken at host time ``start + k / (rate · (1 + drift))``, stamped with the device's own clock,
handed over at the next BLE connection event, and passed through the fault plan on the way.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable
from typing import ClassVar

import numpy as np

from posturewatch.ingest.ble.client import BleError, NotifyCallback
from posturewatch.simulators.devices.faults import FaultPlan, FaultTally
from posturewatch.simulators.devices.motion import MotionSource, SwayMotion

READ, WRITE, NOTIFY = "read", "write", "notify"


class EmulatedDevice:
    """One emulated sensor; subclasses implement a device family's wire protocol."""

    family: ClassVar[str]
    default_name: ClassVar[str]
    advertised_services: ClassVar[tuple[str, ...]] = ()
    """Service UUIDs in the advertisement (many sensors advertise none, only a name)."""

    def __init__(
        self,
        address: str,
        location: str = "pelvis",
        *,
        name: str | None = None,
        motion: MotionSource | None = None,
        faults: FaultPlan | None = None,
        seed: int = 0,
        rssi: int = -60,
        battery_pct: int = 83,
        connection_interval_s: float = 0.03,
        now: Callable[[], float],
    ) -> None:
        self.address = address
        self.location = location
        self.name = name or self.default_name
        self.motion = motion or SwayMotion(seed=seed)
        self.faults = faults or FaultPlan()
        self.rng = random.Random(seed)
        self.rssi = rssi
        self.battery_pct = battery_pct
        self.connection_interval_s = connection_interval_s
        self.now = now
        self.tally = FaultTally()
        self.rate_hz = 0.0  # set by the family
        self._boot_host = now() - self.rng.uniform(60.0, 3600.0)
        self._client_on_disconnect: Callable[[], None] | None = None
        self._subscribed: dict[str, NotifyCallback] = {}
        self._stream_task: asyncio.Task | None = None
        self._fault_task: asyncio.Task | None = None
        self._conn_phase = self.rng.uniform(0.0, connection_interval_s)
        self._last_delivery = -math.inf
        self.connected = False
        self._attempts = 0

    # --------------------------------------------------------- family hooks
    def gatt(self) -> dict[str, frozenset[str]]:
        """Characteristic UUID → properties."""
        raise NotImplementedError

    def read(self, uuid: str) -> bytes:
        raise BleError(f"{self.name}: characteristic {uuid} is not readable")

    def write(self, uuid: str, data: bytes) -> None:
        """React to a write (start/stop the stream, change rate, answer a request)."""

    def on_subscribe(self, uuid: str) -> None:
        """Notifications on ``uuid`` were just enabled."""

    def samples_per_packet(self) -> int:
        return 1

    def encode(self, dev_time: np.ndarray, seq0: int, acc: np.ndarray, gyr: np.ndarray,
               mag: np.ndarray) -> list[tuple[str, bytes]]:
        """The notifications (characteristic, bytes) carrying one packet of samples."""
        raise NotImplementedError

    def garbage(self) -> tuple[str, bytes]:
        """A malformed notification this family's receiver must reject."""
        raise NotImplementedError

    def whole_packet_length(self, length: int) -> bool:
        """Whether a packet cut to ``length`` bytes would still look complete (no checksum):
        such a cut is silent corruption, not detectable loss, so the truncation fault avoids it."""
        return False

    def on_reboot(self) -> None:
        """Forget volatile settings (a power cycle)."""

    # -------------------------------------------------------------- clock
    def device_clock(self, host_t: np.ndarray | float):
        """Seconds since boot on the device's own (drifting) oscillator."""
        return (np.asarray(host_t) - self._boot_host) * (1.0 + self.faults.clock_drift_ppm * 1e-6)

    # ------------------------------------------------------ link (client side)
    @property
    def advertising(self) -> bool:
        return not self.faults.never_appears and not self.connected

    def connect(self, on_disconnect: Callable[[], None]) -> None:
        self._attempts += 1
        if self.connected:
            raise BleError(f"{self.name}: already connected to another central")
        if self._attempts <= self.faults.refuse_first or self.rng.random() < self.faults.refuse_prob:
            self.tally.refused_connects += 1
            raise BleError(f"{self.name}: connection refused (le-connection-abort-by-local)")
        self.connected = True
        self.tally.connects += 1
        self._client_on_disconnect = on_disconnect
        if self.faults.disconnect_mean_s or self.faults.reboot_every_s:
            self._fault_task = asyncio.get_running_loop().create_task(self._fault_timer())

    def disconnect(self, *, by_fault: bool = False) -> None:
        if not self.connected:
            return
        self.connected = False
        self.tally.session_ended()
        if by_fault:
            self.tally.disconnects += 1
        self.stop_stream()
        self._subscribed.clear()
        task, self._fault_task = self._fault_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        callback, self._client_on_disconnect = self._client_on_disconnect, None
        if callback is not None:
            asyncio.get_running_loop().call_soon(callback)

    def subscribe(self, uuid: str, callback: NotifyCallback) -> None:
        self._subscribed[uuid] = callback
        self.on_subscribe(uuid)

    def unsubscribe(self, uuid: str) -> None:
        self._subscribed.pop(uuid, None)

    def send(self, uuid: str, data: bytes) -> None:
        """Notify now (if the central subscribed), e.g. a command reply."""
        callback = self._subscribed.get(uuid)
        if callback is not None and self.connected:
            callback(uuid, bytes(data))

    def reply_soon(self, uuid: str, data: bytes) -> None:
        """Notify at the next connection event."""
        asyncio.get_running_loop().call_later(self.connection_interval_s, self.send, uuid, data)

    async def _fault_timer(self) -> None:
        plan = self.faults
        waits = []
        if plan.disconnect_mean_s:
            waits.append((self.rng.expovariate(1.0 / plan.disconnect_mean_s), "disconnect"))
        if plan.reboot_every_s:
            waits.append((plan.reboot_every_s, "reboot"))
        wait, kind = min(waits)
        await asyncio.sleep(wait)
        if kind == "reboot":
            self.tally.reboots += 1
            self._boot_host = self.now()
            self.on_reboot()
        self.disconnect(by_fault=True)

    # ------------------------------------------------------------ streaming
    def start_stream(self) -> None:
        self.stop_stream()
        self._stream_task = asyncio.get_running_loop().create_task(self._stream())

    def stop_stream(self) -> None:
        task, self._stream_task = self._stream_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    @property
    def streaming(self) -> bool:
        return self._stream_task is not None and not self._stream_task.done()

    async def _stream(self) -> None:
        start = self.now()
        true_rate = self.rate_hz * (1.0 + self.faults.clock_drift_ppm * 1e-6)
        dev_start = float(self.device_clock(start))
        k = 0
        ci = self.connection_interval_s
        while self.connected:
            n = self.samples_per_packet()
            index = k + np.arange(n)
            host_t = start + index / true_rate
            ready = float(host_t[-1])
            event = self._conn_phase + math.ceil((ready - self._conn_phase) / ci) * ci
            delivery = max(event + self.rng.expovariate(1 / 0.002), self._last_delivery)
            # a cancel ends the task (stop_stream or an outside cancel, e.g. loop shutdown)
            await asyncio.sleep(max(0.0, delivery - self.now()))
            if not self.connected or asyncio.current_task() is not self._stream_task:
                return
            self._last_delivery = delivery
            acc, gyr, mag = self.motion.sample(self.location, host_t)
            self._deliver(self.encode(dev_start + index / self.rate_hz, k, acc, gyr, mag), n,
                          host_t)
            k += n

    def _deliver(self, notifications: list[tuple[str, bytes]], n: int,
                 host_t: np.ndarray | None = None) -> None:
        plan, rng, tally = self.faults, self.rng, self.tally
        if plan.garbage_prob and rng.random() < plan.garbage_prob:
            tally.garbage_packets += 1
            self.send(*self.garbage())
        tally.packets_sent += 1
        tally.samples_sent += n
        draw = rng.random()
        if draw < plan.drop_prob:
            tally.pend("drop", n)
            return
        if draw < plan.drop_prob + plan.truncate_prob:
            tally.pend("truncate", n)
            tally.truncated_packets += 1
            uuid, last = notifications[-1]
            cut = 0
            for _ in range(8):
                cut = rng.randrange(1, len(last)) if len(last) > 1 else 0
                if not self.whole_packet_length(cut):
                    break
            notifications = [*notifications[:-1], (uuid, last[:cut])]
            for uuid, data in notifications:
                self.send(uuid, data)
            return
        for uuid, data in notifications:
            self.send(uuid, data)
        tally.confirm()
        if host_t is not None:
            tally.delivered(float(host_t[0]), float(host_t[-1]))
        if plan.duplicate_prob and rng.random() < plan.duplicate_prob:
            tally.duplicated_samples += n
            for uuid, data in notifications:
                self.send(uuid, data)

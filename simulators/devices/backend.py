"""Emulated sensors behind the daemon's BLE client/scanner interface (no radio needed).

:class:`EmulatedBackend` scans, finds and connects to :class:`EmulatedDevice` objects the way
the bleak backend does to real ones (with plausible scan and connect delays on the loop's clock),
and :class:`EmulatedClient` carries GATT operations and notifications in both directions, raising
the same errors a real link raises once the device has gone. :func:`emulate_config` builds one
device per configured sensor, so ``posturewatch run --emulate`` runs the daemon unmodified.
There is one emulator per family of the registry (``posturewatch.ingest.protocols``), and each
advertises the way the real sensor does, so the registry's ``identify`` tells them apart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from posturewatch.ingest.ble.client import (
    Advertisement,
    BleBackend,
    BleClient,
    BleError,
    DeviceNotFoundError,
    DisconnectCallback,
    NotifyCallback,
    normalize_uuid,
)
from posturewatch.ingest.ble.config import DaemonConfig
from posturewatch.ingest.protocols import family_names
from posturewatch.simulators.devices.device import NOTIFY, READ, WRITE, EmulatedDevice
from posturewatch.simulators.devices.faults import FaultPlan
from posturewatch.simulators.devices.motion import MotionSource
from posturewatch.simulators.devices.movella_dot import MovellaDotDevice
from posturewatch.simulators.devices.movesense import MovesenseDevice
from posturewatch.simulators.devices.pwrp import PwrpDevice
from posturewatch.simulators.devices.witmotion import WitMotionDevice

_EMULATORS: dict[str, type[EmulatedDevice]] = {
    cls.family: cls for cls in (WitMotionDevice, MovesenseDevice, MovellaDotDevice, PwrpDevice)
}
DEVICE_CLASSES: dict[str, type[EmulatedDevice]] = {
    name: _EMULATORS[name] for name in family_names() if name in _EMULATORS
}
"""The emulator of each registered family, in the registry's order."""

SCAN_SEEN_AFTER_S = 0.3
CONNECT_TAKES_S = 0.4
GATT_OP_TAKES_S = 0.03


class EmulatedClient(BleClient):
    """A connection to one emulated device; dead once the device disconnects."""

    def __init__(self, device: EmulatedDevice) -> None:
        self.device = device
        self.address = device.address
        self._alive = True

    def _mark_dead(self) -> None:
        self._alive = False

    @property
    def is_connected(self) -> bool:
        return self._alive and self.device.connected

    @property
    def characteristics(self) -> frozenset[str]:
        return frozenset(normalize_uuid(u) for u in self.device.gatt())

    def _check(self, uuid: str, prop: str) -> str:
        if not self.is_connected:
            raise BleError(f"{self.address}: not connected")
        uuid = normalize_uuid(uuid)
        props = self.device.gatt().get(uuid)
        if props is None:
            raise BleError(f"{self.address}: characteristic {uuid} not found")
        if prop not in props:
            raise BleError(f"{self.address}: characteristic {uuid} does not support {prop}")
        return uuid

    async def disconnect(self) -> None:
        if self.is_connected:
            self._alive = False
            self.device.disconnect()
        self._alive = False

    async def start_notify(self, char_uuid: str, callback: NotifyCallback) -> None:
        uuid = self._check(char_uuid, NOTIFY)
        await asyncio.sleep(GATT_OP_TAKES_S)
        self._check(uuid, NOTIFY)
        self.device.subscribe(uuid, callback)

    async def stop_notify(self, char_uuid: str) -> None:
        uuid = self._check(char_uuid, NOTIFY)
        self.device.unsubscribe(uuid)

    async def write_gatt_char(self, char_uuid: str, data: bytes, response: bool = True) -> None:
        uuid = self._check(char_uuid, WRITE)
        if response:
            await asyncio.sleep(GATT_OP_TAKES_S)
            self._check(uuid, WRITE)
        self.device.write(uuid, bytes(data))

    async def read_gatt_char(self, char_uuid: str) -> bytes:
        uuid = self._check(char_uuid, READ)
        await asyncio.sleep(GATT_OP_TAKES_S)
        self._check(uuid, READ)
        return self.device.read(uuid)


class EmulatedBackend(BleBackend):
    """Scanner and connector over a set of emulated devices."""

    def __init__(self, devices: Iterable[EmulatedDevice]) -> None:
        self.devices = list(devices)
        self.adapter = "emulated"

    def _advert(self, device: EmulatedDevice) -> Advertisement:
        return Advertisement(device.address, device.name, device.rssi,
                             tuple(device.advertised_services), handle=device)

    async def scan(self, timeout: float) -> list[Advertisement]:
        await asyncio.sleep(min(timeout, 2.0))
        return [self._advert(d) for d in self.devices if d.advertising]

    async def find(self, address: str | None, name: str | None, timeout: float) -> Advertisement:
        for device in self.devices:
            matches = (device.address.lower() == address.lower()) if address else device.name == name
            if matches and device.advertising:
                await asyncio.sleep(SCAN_SEEN_AFTER_S)
                if device.advertising:
                    return self._advert(device)
        await asyncio.sleep(timeout)
        raise DeviceNotFoundError(f"{address or name} not seen in {timeout:.0f} s of scanning")

    async def connect(
        self, advert: Advertisement, on_disconnect: DisconnectCallback, timeout: float
    ) -> BleClient:
        device = advert.handle
        if not isinstance(device, EmulatedDevice):
            raise BleError(f"{advert.address}: not an emulated device")
        await asyncio.sleep(min(CONNECT_TAKES_S, timeout))
        client = EmulatedClient(device)

        def dropped() -> None:
            client._mark_dead()
            on_disconnect()

        device.connect(dropped)
        return client


def emulate_config(
    config: DaemonConfig,
    now: Callable[[], float],
    *,
    motion: MotionSource | None = None,
    faults: dict[str, FaultPlan] | None = None,
    seed: int = 0,
) -> list[EmulatedDevice]:
    """One emulated device per configured sensor, answering to its address or name."""
    devices = []
    for i, sensor in enumerate(config.sensors):
        cls = DEVICE_CLASSES.get(sensor.family)
        if cls is None:
            raise ValueError(f"no emulator for family {sensor.family!r}; have {sorted(DEVICE_CLASSES)}")
        address = sensor.address or f"EE:00:00:00:{i // 256:02X}:{i % 256:02X}"
        devices.append(cls(address, sensor.location, name=sensor.name, motion=motion,
                           faults=(faults or {}).get(sensor.location), seed=seed + i, now=now))
    return devices

"""The small BLE surface the daemon uses, so a real radio and an emulator are interchangeable.

It mirrors the part of bleak's ``BleakClient`` / ``BleakScanner`` the daemon needs: connect,
disconnect, notify, GATT read/write, the services the peer exposes and a disconnected callback.
Two backends implement it: :mod:`posturewatch.ingest.ble.bleak_backend` (a real adapter through
bleak and bleak-retry-connector) and ``posturewatch.simulators.devices`` (byte-exact emulated
sensors, virtual time friendly).
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from posturewatch.ingest.protocols.base import GattWrite
from posturewatch.ingest.protocols.gatt import BATTERY_LEVEL_UUID, normalize_uuid

NotifyCallback = Callable[[str, bytes], None]
"""Called on the event loop with (characteristic UUID, notification payload)."""

DisconnectCallback = Callable[[], None]


class BleError(Exception):
    """A BLE operation failed; the connection manager retries."""


class NoAdapterError(BleError):
    """No usable Bluetooth adapter (or no BlueZ / D-Bus) on this machine."""


class DeviceNotFoundError(BleError):
    """The wanted sensor was not seen while scanning."""


@dataclass(frozen=True, slots=True)
class Advertisement:
    """One sensor seen while scanning. ``handle`` is the backend's own device object."""

    address: str
    name: str | None
    rssi: int | None = None
    service_uuids: tuple[str, ...] = ()
    handle: object = field(default=None, compare=False, repr=False)


class BleClient(ABC):
    """A connection to one peripheral (a fresh object per connection attempt)."""

    address: str

    @property
    @abstractmethod
    def is_connected(self) -> bool: ...

    @property
    @abstractmethod
    def characteristics(self) -> frozenset[str]:
        """UUIDs (normalized) of every characteristic the peer exposes."""

    @abstractmethod
    async def disconnect(self) -> None: ...

    @abstractmethod
    async def start_notify(self, char_uuid: str, callback: NotifyCallback) -> None: ...

    @abstractmethod
    async def stop_notify(self, char_uuid: str) -> None: ...

    @abstractmethod
    async def write_gatt_char(self, char_uuid: str, data: bytes, response: bool = True) -> None: ...

    @abstractmethod
    async def read_gatt_char(self, char_uuid: str) -> bytes: ...

    def has(self, char_uuid: str) -> bool:
        return normalize_uuid(char_uuid) in self.characteristics


async def send_writes(client: BleClient, writes: Iterable[GattWrite]) -> None:
    """Do a driver's writes in order, pausing where one asks to; a write to a characteristic
    the peer lacks is skipped (a family with two GATT variants lists the writes of both)."""
    for write in writes:
        if client.has(write.char_uuid):
            await client.write_gatt_char(write.char_uuid, write.data, write.response)
            if write.delay_after_s:
                await asyncio.sleep(write.delay_after_s)


class BleBackend(ABC):
    """Scanner plus connector for one adapter."""

    adapter: str | None = None

    @abstractmethod
    async def scan(self, timeout: float) -> list[Advertisement]:
        """Everything advertising nearby; raises :class:`NoAdapterError` without an adapter."""

    async def find(self, address: str | None, name: str | None, timeout: float) -> Advertisement:
        """The sensor with this address (preferred) or advertised name; raises when not seen."""
        for advert in await self.scan(timeout):
            if address and advert.address.lower() == address.lower():
                return advert
            if not address and name and advert.name == name:
                return advert
        raise DeviceNotFoundError(f"{address or name} not seen in {timeout:.0f} s of scanning")

    @abstractmethod
    async def connect(
        self, advert: Advertisement, on_disconnect: DisconnectCallback, timeout: float
    ) -> BleClient:
        """A connected client (new object per attempt); raises :class:`BleError` on failure."""

    async def close_stale(self, address: str) -> None:
        """Drop connections the OS still holds to ``address`` (from a crashed run)."""
        return None

    async def check_adapter(self) -> None:
        """Raise :class:`NoAdapterError` when no adapter is usable (cheap, no long scan)."""
        return None


__all__ = [
    "BATTERY_LEVEL_UUID",
    "Advertisement",
    "BleBackend",
    "BleClient",
    "BleError",
    "DeviceNotFoundError",
    "DisconnectCallback",
    "NoAdapterError",
    "NotifyCallback",
    "normalize_uuid",
    "send_writes",
]

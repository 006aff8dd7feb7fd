"""The real BLE backend: bleak for scanning and GATT, bleak-retry-connector for connecting.

Follows the Home Assistant practice: a fresh client per connection attempt through
``establish_connection``, stale connections left over from a crashed run closed first, and
connection attempts serialized per adapter (BlueZ handles parallel connects badly). bleak is
imported only when this backend is built, so the rest of the daemon runs without it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable

from posturewatch.ingest.ble.client import (
    Advertisement,
    BleBackend,
    BleClient,
    BleError,
    DeviceNotFoundError,
    DisconnectCallback,
    NoAdapterError,
    NotifyCallback,
    normalize_uuid,
)

log = logging.getLogger(__name__)

# D-Bus errors that mean no usable adapter: bluetoothd not running, adapter not ready
# (powered off or resetting), or the policy forbids us BlueZ. Others (InProgress, Failed, …)
# are errors of one operation and are retried like any BleError.
_NO_ADAPTER_DBUS_ERRORS = frozenset({
    "org.freedesktop.DBus.Error.ServiceUnknown",
    "org.freedesktop.DBus.Error.AccessDenied",
    "org.bluez.Error.NotReady",
})
# bleak's own wording when the adapter is missing (BlueZ manager; before bleak 2.0 the "no
# adapters" cases were plain BleakErrors, now BleakBluetoothNotAvailableError)
_NO_ADAPTER_MESSAGE = re.compile(r"\badapter '[^']*' not found|\bno (powered )?bluetooth adapters",
                                 re.IGNORECASE)


def _is_no_adapter(exc: BaseException) -> bool:
    """Whether ``exc`` says no Bluetooth adapter is usable (not that one operation failed)."""
    try:
        from bleak.exc import BleakBluetoothNotAvailableError
    except ImportError:  # bleak too old to have it; the message check below still applies
        BleakBluetoothNotAvailableError = ()  # noqa: N806
    if isinstance(exc, BleakBluetoothNotAvailableError):
        return True
    # no system D-Bus socket, nobody listening on it, or not allowed to open it
    if isinstance(exc, FileNotFoundError | ConnectionRefusedError | PermissionError):
        return True
    if getattr(exc, "dbus_error", None) in _NO_ADAPTER_DBUS_ERRORS:
        return True
    return bool(_NO_ADAPTER_MESSAGE.search(str(exc)))


def _no_adapter(exc: BaseException, adapter: str | None) -> NoAdapterError | None:
    """Translate the ways bleak fails without a usable adapter into one clear error."""
    if not _is_no_adapter(exc):
        return None
    where = f" {adapter}" if adapter else ""
    return NoAdapterError(
        f"no Bluetooth adapter{where} available (BlueZ/D-Bus not reachable or no "
        f"controller: {type(exc).__name__}{': ' + str(exc) if str(exc) else ''}); "
        f"use --emulate to run against emulated sensors"
    )


class BleakBackedClient(BleClient):
    """:class:`BleClient` over a connected ``BleakClient``."""

    def __init__(self, client, address: str) -> None:
        self._client = client
        self.address = address

    @property
    def is_connected(self) -> bool:
        return bool(self._client.is_connected)

    @property
    def characteristics(self) -> frozenset[str]:
        return frozenset(
            normalize_uuid(char.uuid)
            for service in self._client.services
            for char in service.characteristics
        )

    async def disconnect(self) -> None:
        try:
            await self._client.disconnect()
        except Exception as exc:  # a dying link may fail to disconnect cleanly; it is gone anyway
            log.debug("%s: disconnect failed: %s", self.address, exc)

    async def start_notify(self, char_uuid: str, callback: NotifyCallback) -> None:
        def relay(sender, data: bytearray) -> None:
            callback(normalize_uuid(str(sender.uuid)), bytes(data))

        await self._call(self._client.start_notify, char_uuid, relay)

    async def stop_notify(self, char_uuid: str) -> None:
        await self._call(self._client.stop_notify, char_uuid)

    async def write_gatt_char(self, char_uuid: str, data: bytes, response: bool = True) -> None:
        await self._call(self._client.write_gatt_char, char_uuid, data, response)

    async def read_gatt_char(self, char_uuid: str) -> bytes:
        return bytes(await self._call(self._client.read_gatt_char, char_uuid))

    async def _call(self, method: Callable, *args):
        try:
            return await method(*args)
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:
            raise BleError(f"{self.address}: {method.__name__} failed: {exc}") from exc


class BleakBackend(BleBackend):
    """Scanner and connector on one adapter (``None``: the system default)."""

    def __init__(self, adapter: str | None = None, *, connect_attempts: int = 3) -> None:
        import bleak  # noqa: F401  (fail here, clearly, if bleak is missing)

        self.adapter = adapter
        self.connect_attempts = connect_attempts
        self._lock: asyncio.Lock | None = None

    def _scanner_kwargs(self) -> dict:
        return {"adapter": self.adapter} if self.adapter else {}

    async def check_adapter(self) -> None:
        from bleak import BleakScanner

        try:
            async with BleakScanner(**self._scanner_kwargs()):
                pass
        except Exception as exc:
            raise (_no_adapter(exc, self.adapter) or BleError(str(exc))) from exc

    async def scan(self, timeout: float) -> list[Advertisement]:
        from bleak import BleakScanner

        try:
            found = await BleakScanner.discover(
                timeout=timeout, return_adv=True, **self._scanner_kwargs()
            )
        except Exception as exc:
            raise (_no_adapter(exc, self.adapter) or BleError(f"scan failed: {exc}")) from exc
        return [
            Advertisement(
                address=device.address,
                name=adv.local_name or device.name,
                rssi=adv.rssi,
                service_uuids=tuple(normalize_uuid(u) for u in adv.service_uuids),
                handle=device,
            )
            for device, adv in found.values()
        ]

    async def find(self, address: str | None, name: str | None, timeout: float) -> Advertisement:
        from bleak import BleakScanner

        def wanted(device, adv) -> bool:
            if address:
                return device.address.lower() == address.lower()
            return (adv.local_name or device.name) == name

        try:
            device = await BleakScanner.find_device_by_filter(
                wanted, timeout=timeout, **self._scanner_kwargs()
            )
        except Exception as exc:
            raise (_no_adapter(exc, self.adapter) or BleError(f"scan failed: {exc}")) from exc
        if device is None:
            raise DeviceNotFoundError(f"{address or name} not seen in {timeout:.0f} s of scanning")
        return Advertisement(address=device.address, name=device.name, handle=device)

    async def close_stale(self, address: str) -> None:
        from bleak_retry_connector import close_stale_connections_by_address

        try:
            await close_stale_connections_by_address(address)
        except Exception as exc:  # best effort: a failure here must not stop the daemon
            log.debug("%s: closing stale connections failed: %s", address, exc)

    async def connect(
        self, advert: Advertisement, on_disconnect: DisconnectCallback, timeout: float
    ) -> BleClient:
        from bleak_retry_connector import BleakClientWithServiceCache, establish_connection

        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            try:
                client = await establish_connection(
                    BleakClientWithServiceCache,
                    advert.handle or advert.address,
                    advert.name or advert.address,
                    disconnected_callback=lambda _client: on_disconnect(),
                    max_attempts=self.connect_attempts,
                    timeout=timeout,
                )
            except (asyncio.CancelledError, KeyboardInterrupt):
                raise
            except Exception as exc:
                raise BleError(f"{advert.address}: connect failed: {exc}") from exc
        return BleakBackedClient(client, advert.address)

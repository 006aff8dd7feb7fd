"""Which bleak failures mean "no usable Bluetooth adapter" (exit 1 with a hint) and which are an
error of one operation (retried like any other BLE error)."""

from __future__ import annotations

import pytest
from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakDBusError,
    BleakDeviceNotFoundError,
    BleakError,
)

from posturewatch.ingest.ble.bleak_backend import _no_adapter
from posturewatch.ingest.ble.client import NoAdapterError


@pytest.mark.parametrize("exc", [
    BleakBluetoothNotAvailableError("No Bluetooth adapters found.",
                                    BleakBluetoothNotAvailableReason.NO_BLUETOOTH),
    BleakBluetoothNotAvailableError("No powered Bluetooth adapters found. Turn on Bluetooth and try again.",
                                    BleakBluetoothNotAvailableReason.POWERED_OFF),
    BleakError("adapter 'hci1' not found"),
    BleakError("No Bluetooth adapters found."),
    BleakDBusError("org.freedesktop.DBus.Error.ServiceUnknown",
                   ["The name org.bluez was not provided by any .service files"]),
    BleakDBusError("org.bluez.Error.NotReady", ["Resource Not Ready"]),
    BleakDBusError("org.freedesktop.DBus.Error.AccessDenied", ["Rejected send message"]),
    FileNotFoundError(2, "No such file or directory"),
    ConnectionRefusedError(111, "Connection refused"),
    PermissionError(13, "Permission denied"),
], ids=lambda e: f"{type(e).__name__}:{e}"[:60])
def test_no_usable_adapter(exc):
    error = _no_adapter(exc, "hci1")
    assert isinstance(error, NoAdapterError)
    assert "no Bluetooth adapter hci1 available" in str(error) and "--emulate" in str(error)


@pytest.mark.parametrize("exc", [
    BleakDBusError("org.bluez.Error.InProgress", ["Operation already in progress"]),
    BleakDBusError("org.bluez.Error.Failed", ["le-connection-abort-by-local"]),
    BleakDBusError("org.bluez.Error.NotPermitted", ["Notify acquired"]),
    BleakDBusError("org.freedesktop.DBus.Error.UnknownObject",
                   ["Method \"Connect\" doesn't exist"]),
    BleakDeviceNotFoundError("AA:BB:CC:DD:EE:FF", "Device with address AA:BB:CC:DD:EE:FF was not found."),
    BleakError("Characteristic 0000ffe4-0000-1000-8000-00805f9a34fb not found"),
    TimeoutError(),
    OSError(5, "Input/output error"),
], ids=lambda e: f"{type(e).__name__}:{e}"[:60])
def test_errors_of_one_operation_are_not_a_missing_adapter(exc):
    assert _no_adapter(exc, None) is None

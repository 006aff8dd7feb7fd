"""``posturewatch scan``: list nearby supported sensors (family, address, name, RSSI, battery).

Without a Bluetooth adapter it says so in one line and exits 1. ``--emulate`` scans a set of
emulated sensors (one of each supported family), which is also how the command is tested.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from posturewatch.ingest.ble.battery import read_battery
from posturewatch.ingest.ble.client import BleBackend, BleError, NoAdapterError
from posturewatch.ingest.protocols import DeviceDriver, identify

HELP = "list nearby supported sensors"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=float, default=8.0, help="seconds to scan (default 8)")
    parser.add_argument("--adapter", default=None, help="adapter, e.g. hci0 (default: system's)")
    parser.add_argument("--no-battery", action="store_true",
                        help="do not connect to read each sensor's battery level")
    parser.add_argument("--emulate", action="store_true", help="scan emulated sensors")
    parser.add_argument("--all", action="store_true", help="also list unsupported devices")


def _emulated_backend() -> BleBackend:
    from posturewatch.simulators.devices.backend import DEVICE_CLASSES, EmulatedBackend

    devices = [cls(f"EE:00:00:00:00:{i:02X}", now=time.time, seed=i)
               for i, cls in enumerate(DEVICE_CLASSES.values(), start=1)]
    return EmulatedBackend(devices)


async def _battery(backend: BleBackend, advert, driver: DeviceDriver) -> str:
    """Connect briefly and read the battery the way the daemon does ("?" when it failed,
    "-" when the sensor does not tell)."""
    try:
        client = await backend.connect(advert, lambda: None, 10.0)
    except BleError:
        return "?"
    try:
        percent = await read_battery(client, driver)
    except BleError:
        return "?"
    finally:
        await client.disconnect()
    return "-" if percent is None else f"{percent:.0f}%"


async def scan(backend: BleBackend, timeout: float, battery: bool, show_all: bool) -> list[tuple]:
    await backend.check_adapter()
    rows = []
    for advert in sorted(await backend.scan(timeout), key=lambda a: -(a.rssi or -999)):
        driver = identify(advert.name, advert.service_uuids)
        if driver is None and not show_all:
            continue
        level = await _battery(backend, advert, driver) if (battery and driver) else "-"
        rows.append((driver.family if driver else "-", advert.address, advert.name or "",
                     advert.rssi, level))
    return rows


def run(args: argparse.Namespace) -> int:
    if args.emulate:
        backend = _emulated_backend()
    else:
        from posturewatch.ingest.ble.bleak_backend import BleakBackend

        backend = BleakBackend(args.adapter)
    try:
        rows = asyncio.run(scan(backend, args.timeout, not args.no_battery, args.all))
    except NoAdapterError as exc:
        print(f"posturewatch scan: {exc}", file=sys.stderr)
        return 1
    except BleError as exc:
        print(f"posturewatch scan: {exc}", file=sys.stderr)
        return 1
    print(f"{'family':<12} {'address':<18} {'name':<24} {'rssi':>5} battery")
    for family, address, name, rssi, battery in rows:
        print(f"{family:<12} {address:<18} {name:<24} {rssi if rssi is not None else '?':>5} "
              f"{battery}")
    print(f"{len(rows)} supported sensor(s) found", file=sys.stderr)
    return 0

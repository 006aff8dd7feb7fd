"""Every family's driver drives its emulated sensor through the link, and the battery level comes
from one read function that the link and ``posturewatch scan`` share."""

from __future__ import annotations

import asyncio
import contextlib

import numpy as np
import pytest

from posturewatch.app.cmd_scan import scan
from posturewatch.ingest.ble.battery import read_battery
from posturewatch.ingest.ble.config import SensorConfig
from posturewatch.ingest.ble.link import SensorLink
from posturewatch.ingest.protocols import driver, family_names, identify, witmotion
from posturewatch.simulators.devices.backend import DEVICE_CLASSES, EmulatedBackend
from posturewatch.simulators.devices.vtime import run_virtual

EPOCH = 1_750_000_000.0
# a commandable rate other than the nominal one, so a driver that forgets to set it is caught
OTHER_RATE = {"pwrp": 100.0, "movesense": 104.0, "movella_dot": 30.0, "witmotion": 100.0}
# what the emulator's own writes-handling must have seen to stop streaming (WitMotion: none)
STOP_BYTES = {"pwrp": b"\x02", "movesense": b"\x02\x63", "movella_dot": b"\x01\x00\x15",
              "witmotion": None}


def _device(family: str, now, battery_pct: int, index: int = 1):
    return DEVICE_CLASSES[family](f"AA:00:00:00:00:{index:02X}", now=now, seed=index,
                                  battery_pct=battery_pct)


def _expected_battery(device) -> float:
    """The level the sensor really reports: WitMotion only knows its voltage."""
    if device.family == "witmotion":
        return float(witmotion.battery_percent(device.battery_centivolts))
    return float(device.battery_pct)


def _record_writes(device) -> list[tuple[str, bytes]]:
    seen: list[tuple[str, bytes]] = []
    original = device.write

    def write(uuid: str, data: bytes) -> None:
        seen.append((uuid, bytes(data)))
        original(uuid, data)

    device.write = write
    return seen


async def _run_link(link: SensorLink, seconds: float) -> None:
    task = asyncio.create_task(link.run())
    await asyncio.sleep(seconds)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def test_every_registered_family_has_an_emulator_the_registry_recognises():
    assert tuple(DEVICE_CLASSES) == family_names()

    async def adverts(now):
        devices = [_device(f, now, 50, i) for i, f in enumerate(family_names(), start=1)]
        return await EmulatedBackend(devices).scan(0.1)

    for advert in run_virtual(adverts, epoch=EPOCH):
        assert identify(advert.name, advert.service_uuids).family == advert.handle.family


@pytest.mark.parametrize("family", family_names())
def test_driver_sets_rate_starts_reads_battery_and_stops(family):
    rate = OTHER_RATE[family]
    drv = driver(family)
    drv.check_rate(rate)

    async def main(now):
        device = _device(family, now, battery_pct=64)
        writes = _record_writes(device)
        blocks = []
        sensor = SensorConfig("pelvis", family, address=device.address, rate_hz=rate)
        link = SensorLink(sensor, drv, EmulatedBackend([device]), blocks.append, now=now)
        await _run_link(link, 20.0)
        return device, writes, blocks, link

    device, writes, blocks, link = run_virtual(main, epoch=EPOCH)
    status = link.status()
    assert status["family"] == family and status["connections"] == 1 and status["disconnects"] == 0
    assert device.rate_hz == rate, "the device streams at the commanded rate"
    delivered = sum(len(b) for b in blocks)
    assert delivered == device.tally.samples_sent > 0.8 * rate * 18  # every sample arrived
    t = np.concatenate([b.t for b in blocks])
    assert np.median(np.diff(t)) == pytest.approx(1.0 / rate, rel=0.02)
    assert status["battery_pct"] == _expected_battery(device)
    stop = STOP_BYTES[family]
    if stop is not None:
        assert writes[-1][1] == stop, "a clean close ends with the family's stop command"
    assert not device.connected and not device.streaming


@pytest.mark.parametrize("family", family_names())
def test_one_battery_read_for_the_link_and_for_scan(family):
    async def main(now):
        device = _device(family, now, battery_pct=74)
        backend = EmulatedBackend([device])
        advert = await backend.find(device.address, None, 5.0)
        client = await backend.connect(advert, lambda: None, 5.0)
        one_off = await read_battery(client, driver(family))
        await client.disconnect()
        rows = await scan(backend, 0.5, battery=True, show_all=False)
        blocks = []
        sensor = SensorConfig("pelvis", family, address=device.address)
        link = SensorLink(sensor, driver(family), backend, blocks.append, now=now)
        await _run_link(link, 5.0)
        return device, one_off, rows, link.status()["battery_pct"]

    device, one_off, rows, in_session = run_virtual(main, epoch=EPOCH)
    expected = _expected_battery(device)
    assert one_off == in_session == expected
    [(listed_family, _, _, _, listed)] = rows
    assert listed_family == family and listed == f"{expected:.0f}%"


def test_implausible_battery_level_is_not_believed():
    async def main(now):
        device = _device("pwrp", now, battery_pct=180)
        backend = EmulatedBackend([device])
        client = await backend.connect(await backend.find(device.address, None, 5.0),
                                       lambda: None, 5.0)
        value = await read_battery(client, driver("pwrp"))
        await client.disconnect()
        return value, await scan(backend, 0.5, battery=True, show_all=False)

    value, rows = run_virtual(main, epoch=EPOCH)
    assert value is None and rows[0][-1] == "-"


def test_link_says_when_the_sensor_advertises_as_another_family():
    async def main(now):
        device = _device("movesense", now, battery_pct=50)
        sensor = SensorConfig("pelvis", "witmotion", address=device.address)
        link = SensorLink(sensor, driver("witmotion"), EmulatedBackend([device]), lambda b: None,
                          now=now)
        await _run_link(link, 3.0)
        return link.status()

    status = run_virtual(main, epoch=EPOCH)
    assert status["samples"] == 0 and status["connections"] == 0
    assert "none of the witmotion data characteristics" in status["last_error"]
    assert "advertises as a movesense sensor: check its family" in status["last_error"]

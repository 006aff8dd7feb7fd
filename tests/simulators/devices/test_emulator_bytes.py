"""Emulators speak the exact bytes of the protocol notes' vectors, and our decoders read them."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from posturewatch.ingest.protocols.movella_dot import MovellaDotDecoder
from posturewatch.ingest.protocols.movesense import MovesenseDecoder
from posturewatch.ingest.protocols.pwrp import INFO_UUID, PwrpDecoder
from posturewatch.ingest.protocols.witmotion import WitMotionDecoder
from posturewatch.ingest.records import GRAVITY
from posturewatch.simulators.devices.movella_dot import MovellaDotDevice
from posturewatch.simulators.devices.movesense import MovesenseDevice
from posturewatch.simulators.devices.pwrp import PwrpDevice
from posturewatch.simulators.devices.witmotion import WitMotionDevice, encode_frames


def _now() -> float:
    return 1_700_000_000.0


def test_movesense_imu9_vector():
    device = MovesenseDevice("AA:00:00:00:00:01", now=_now)
    device._ref, device._arrays = 99, ("acc", "gyr", "mag")
    acc = np.array([[0.1, 0.2, 9.81], [0.0, 0.3, 9.79]])
    gyr = np.radians([[1.0, -1.0, 0.5], [0.0, 0.0, 0.0]])
    mag = np.array([[20.0, -5.0, 40.0], [21.0, -4.0, 41.0]])
    [(_, data)] = device.encode(np.array([123.456, 123.475]), 0, acc, gyr, mag)
    expected = bytes.fromhex(
        "026340e20100" "cdcccc3dcdcc4c3ec3f51c41" "000000009a99993ed7a31c41"
        "0000803f000080bf0000003f" "000000000000000000000000"
        "0000a0410000a0c000002042" "0000a841000080c000002442")
    assert data == expected


def test_dot_rate_quantities_vector_padded_to_medium_payload():
    device = MovellaDotDevice("AA:00:00:00:00:02", now=_now)
    device.mode = 21
    [(_, data)] = device.encode(np.array([2.0]), 0, np.array([[0.0, 0.0, 9.81]]),
                                np.radians([[1.0, 2.0, 3.0]]), np.zeros((1, 3)))
    assert data[:28] == bytes.fromhex(
        "80841e00" "00000000" "00000000" "c3f51c41" "0000803f" "00000040" "00004040")
    assert len(data) == 40 and data[28:] == bytes(12)


def test_witmotion_frame_and_register_reply_vectors():
    raw_acc = np.array([[-4, -17, 2065]]) * 16 / 32768 * GRAVITY
    frame = encode_frames(raw_acc, np.zeros((1, 3)))
    assert frame[:14] == bytes.fromhex("5561fcffefff1108000000000000")
    device = WitMotionDevice("AA:00:00:00:00:03", now=_now)
    device._last_mag = np.array([360, 105, 122]) / 120
    assert device._register_reply(0x3A)[:10] == bytes.fromhex("55713a00680169007a00")


@pytest.mark.parametrize("cls", [WitMotionDevice, MovesenseDevice, MovellaDotDevice, PwrpDevice])
def test_decoders_read_what_emulators_send(cls):
    async def capture():
        device = cls("AA:00:00:00:00:09", now=_now, seed=1)
        device.rate_hz = device.rate_hz or 50.0
        if cls is MovesenseDevice:
            device._ref, device._arrays, device.rate_hz = 99, ("acc", "gyr", "mag"), 52.0
        if cls is MovellaDotDevice:
            device.mode = 21
        n = device.samples_per_packet() * 2
        t = _now() + np.arange(n) / device.rate_hz
        acc, gyr, mag = device.motion.sample("thorax", t)
        half = n // 2
        packets = device.encode(t[:half] - 1e9, 0, acc[:half], gyr[:half], mag[:half])
        packets += device.encode(t[half:] - 1e9, half, acc[half:], gyr[half:], mag[half:])
        return device, packets, acc, gyr

    device, packets, acc, gyr = asyncio.run(capture())
    decoder = {WitMotionDevice: WitMotionDecoder, MovesenseDevice: MovesenseDecoder,
               MovellaDotDevice: MovellaDotDecoder, PwrpDevice: PwrpDecoder}[cls]()
    if cls is PwrpDevice:
        decoder.feed(device.info(), INFO_UUID)
    out = [decoder.feed(data, uuid) for uuid, data in packets]
    if cls is MovesenseDevice:  # the decoder holds a DATA until the next notification
        out.append(decoder.feed(bytes((1, 99, 200, 0)), packets[0][0]))
    got = [o for o in out if o is not None and len(o)]
    dec_acc = np.concatenate([o.acc for o in got])
    dec_gyr = np.concatenate([o.gyr for o in got])
    n = len(dec_acc)
    assert n >= len(acc) - device.samples_per_packet()
    assert decoder.stats.bad_total == 0
    np.testing.assert_allclose(dec_acc, acc[:n], atol=0.01)
    np.testing.assert_allclose(dec_gyr, gyr[:n], atol=0.002)


def _streaming_device() -> WitMotionDevice:
    device = WitMotionDevice("AA:00:00:00:00:0A", now=time.time, seed=2)
    device.rate_hz = device.rate_hz or 50.0
    device.connect(lambda: None)
    device.start_stream()
    return device


@pytest.mark.asyncio
async def test_an_outside_cancel_ends_the_stream_while_connected():
    device = _streaming_device()
    task = device._stream_task
    await asyncio.sleep(0.1)
    assert device.tally.packets_sent > 0
    task.cancel()
    await asyncio.wait([task], timeout=2.0)
    ended, connected = task.cancelled(), device.connected
    device.disconnect()  # so a stream that swallowed the cancel cannot hang the loop's shutdown
    await asyncio.wait([task], timeout=2.0)
    assert connected, "only the cancel can have ended the stream"
    assert ended, "the cancel must end the stream, not be swallowed"


@pytest.mark.asyncio
async def test_stop_stream_ends_the_stream():
    device = _streaming_device()
    task = device._stream_task
    await asyncio.sleep(0.1)
    device.stop_stream()
    await asyncio.wait([task], timeout=2.0)
    sent = device.tally.packets_sent
    await asyncio.sleep(0.1)
    assert task.done() and sent > 0 and device.tally.packets_sent == sent

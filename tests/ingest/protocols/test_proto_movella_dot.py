"""Movella DOT: documented control bytes and payloads, modes, clock unwrapping."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from posturewatch.ingest.protocols import movella_dot as dot

RATE_VECTOR = bytes.fromhex("80841e00" "0000000000000000c3f51c41" "0000803f0000004000004040")


def rate_payload(ts_us: int, acc=(0.0, 0.0, 9.81), gyr=(1.0, 2.0, 3.0)) -> bytes:
    return struct.pack("<I6f", ts_us % 2**32, *acc, *gyr)


def test_documented_control_writes():
    assert dot.start_write(21).data.hex() == "010115"
    assert dot.stop_write(21).data.hex() == "010015"
    assert dot.start_write(21).char_uuid == "15172001-4947-11e9-8646-d663bd873d93"
    rate = dot.output_rate_write(60)
    assert rate.data.hex() == "10" + "00" * 23 + "3c00" + "00" * 6
    assert rate.char_uuid == dot.DEVICE_CONTROL_UUID
    with pytest.raises(ValueError):
        dot.output_rate_write(50)
    with pytest.raises(ValueError):
        dot.start_write(99)


def test_documented_rate_quantities_vector():
    dec = dot.MovellaDotDecoder(21)
    out = dec.feed(RATE_VECTOR)
    np.testing.assert_allclose(out.acc, [[0, 0, 9.81]], atol=1e-6)
    np.testing.assert_allclose(out.gyr, np.deg2rad([[1, 2, 3]]))
    np.testing.assert_array_equal(out.device_time, [2.0])
    assert out.quat is None and out.mag is None
    # the characteristic is 40 bytes long: zero-filled tail
    assert len(dec.feed(rate_payload(2_016_667) + bytes(12))) == 1
    assert dec.stats.frames == 2 and dec.stats.bad_total == 0


def test_rate_quantities_with_mag_needs_a_scale():
    body = rate_payload(1000) + struct.pack("<3h", 4096, -2048, 0)
    assert dot.MovellaDotDecoder(20).feed(body).mag is None
    out = dot.MovellaDotDecoder(20, mag_scale_ut=50.0).feed(body)
    np.testing.assert_allclose(out.mag, [[50.0, -25.0, 0.0]])


def test_quaternion_modes():
    q = (np.sqrt(0.5), 0.0, 0.0, np.sqrt(0.5))
    out = dot.MovellaDotDecoder(5).feed(struct.pack("<I4f", 10, *q))
    np.testing.assert_allclose(out.quat, [q], atol=1e-7)
    assert np.isnan(out.acc).all() and out.gyr is None
    custom5 = struct.pack("<I4f3f3f", 20, *q, 0.1, 0.2, 9.8, 10.0, 0.0, 0.0)
    out = dot.MovellaDotDecoder(26).feed(custom5)
    np.testing.assert_allclose(out.acc, [[0.1, 0.2, 9.8]], atol=1e-6)
    np.testing.assert_allclose(out.gyr, [[np.deg2rad(10.0), 0, 0]], atol=1e-7)
    assert dot.MovellaDotDecoder(26).notify_uuid == dot.LONG_PAYLOAD_UUID
    dec = dot.MovellaDotDecoder(5)
    assert dec.feed(struct.pack("<I4f", 10, 0.5, 0.0, 0.0, 0.0)) is None
    assert dec.stats.bad["implausible_value"] == 1


def test_microsecond_clock_unwraps():
    dec = dot.MovellaDotDecoder()
    start = 2**32 - 10_000
    times = [dec.feed(rate_payload(start + k * 16_667)).device_time[0] for k in range(4)]
    np.testing.assert_allclose(np.diff(times), 0.016667)
    assert times[-1] > 2**32 / 1e6


def test_backwards_clock_is_dropped_then_reanchored():
    dec = dot.MovellaDotDecoder()
    dec.feed(rate_payload(50_000_000))
    for ts in (1_000_000, 1_016_667):
        assert dec.feed(rate_payload(ts)) is None
    assert dec.stats.bad["clock_backwards"] == 2
    out = dec.feed(rate_payload(1_033_333))  # third in a row: the sensor clock restarted
    assert out.device_time[0] == pytest.approx(50.0)
    assert dec.stats.bad["clock_reset"] == 1
    assert dec.feed(rate_payload(1_050_000)).device_time[0] == pytest.approx(50.016667)


def test_truncated_and_nan_payloads_are_counted():
    dec = dot.MovellaDotDecoder()
    assert dec.feed(RATE_VECTOR[:27]) is None
    assert dec.feed(rate_payload(1, acc=(float("nan"), 0, 0))) is None
    assert dec.stats.bad["truncated"] == 1 and dec.stats.bad["implausible_value"] == 1


def test_battery_notifications_and_foreign_characteristics():
    dec = dot.MovellaDotDecoder()
    assert dec.feed(b"\x57\x01", dot.BATTERY_UUID) is None
    assert dec.battery_percent == 87 and dec.charging is True
    dec.feed(b"\xc8\x00", dot.BATTERY_UUID)
    assert dec.stats.bad["implausible_value"] == 1 and dec.battery_percent == 87
    assert dec.feed(RATE_VECTOR, dot.SHORT_PAYLOAD_UUID) is None
    assert dec.stats.bad["unknown_characteristic"] == 1
    assert len(dec.feed(RATE_VECTOR, dot.MEDIUM_PAYLOAD_UUID.upper())) == 1

"""Movesense GSP: command bytes, documented IMU9 vector, split packets, clock wrap, rate."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from posturewatch.ingest.protocols import driver
from posturewatch.ingest.protocols import movesense as ms

IMU9_VECTOR = bytes.fromhex(
    "026340e20100"
    "cdcccc3dcdcc4c3ec3f51c41" "000000009a99993ed7a31c41"
    "0000803f000080bf0000003f" "000000000000000000000000"
    "0000a0410000a0c000002042" "0000a841000080c000002442"
)


def packet(ts_ms: int, n: int, kind: str = "IMU9", ref: int = ms.DEFAULT_REF, seed: int = 0):
    """A DATA notification with n samples; returns (bytes, acc, gyr°/s, mag) as float32."""
    rng = np.random.default_rng(seed)
    arrays = [rng.normal(0, 5, (n, 3)).astype("<f4") for _ in ms.MEASUREMENTS[kind]]
    body = b"".join(a.tobytes() for a in arrays)
    return bytes((ms.RESP_DATA, ref)) + struct.pack("<I", ts_ms % 2**32) + body, arrays


def feed_all(dec: ms.MovesenseDecoder, notifications: list[bytes]):
    """Every block the notifications yield, the one held back at the end included."""
    outs = [dec.feed(n) for n in notifications] + [dec.flush()]
    return [o for o in outs if o is not None]


def test_command_bytes_match_the_documented_vectors():
    assert ms.subscribe_command(99, "/Meas/IMU9/52").hex() == "01632f4d6561732f494d55392f3532"
    assert ms.unsubscribe_command(99).hex() == "0263"
    assert ms.hello_command(123).hex() == "007b"
    assert ms.measurement_path("IMU6", 104) == "/Meas/IMU6/104"
    with pytest.raises(ValueError):
        ms.subscribe_command(0)
    with pytest.raises(ValueError):
        ms.measurement_path("IMU9", 50)
    with pytest.raises(ValueError):
        ms.parse_measurement_path("/Meas/Temp")


def test_writes_go_to_both_protocol_variants():
    writes = driver("movesense").start_writes(ms.MovesenseDecoder("/Meas/IMU6/26", ref=7))
    assert {w.char_uuid for w in writes} == {ms.COMMAND_UUID, ms.FDF3_COMMAND_UUID}
    assert all(w.data == b"\x01\x07/Meas/IMU6/26" for w in writes)


def test_documented_imu9_vector():
    dec = ms.MovesenseDecoder("/Meas/IMU9/52", ref=99)
    assert dec.feed(IMU9_VECTOR) is None  # held until the next notification shows no 2nd half
    out = dec.flush()
    np.testing.assert_allclose(out.acc, [[0.1, 0.2, 9.81], [0, 0.3, 9.79]], atol=1e-6)
    np.testing.assert_allclose(np.rad2deg(out.gyr), [[1, -1, 0.5], [0, 0, 0]], atol=1e-6)
    np.testing.assert_allclose(out.mag, [[20, -5, 40], [21, -4, 41]], atol=1e-6)
    np.testing.assert_allclose(out.device_time, [123.456, 123.456 + 1 / 52])
    assert dec.stats.frames == 1 and dec.stats.samples == 2 and dec.stats.bad_total == 0


@pytest.mark.parametrize("kind", ["Acc", "IMU6", "IMU6m", "IMU9"])
def test_every_measurement_kind_groups_arrays_per_sensor(kind):
    data, arrays = packet(5000, 4, kind)
    (out,) = feed_all(ms.MovesenseDecoder(f"/Meas/{kind}/104"), [data])
    fields = dict(zip(ms.MEASUREMENTS[kind], arrays, strict=True))
    np.testing.assert_array_equal(out.acc, fields["acc"])
    if "gyr" in fields:
        np.testing.assert_allclose(out.gyr, np.deg2rad(fields["gyr"].astype(float)))
    else:
        assert out.gyr is None
    if "mag" in fields:
        np.testing.assert_array_equal(out.mag, fields["mag"])
    else:
        assert out.mag is None


def split(data: bytes, max_len: int) -> tuple[bytes, bytes]:
    return data[:max_len], bytes((ms.RESP_DATA_PART2, data[1])) + data[max_len:]


def test_split_packet_is_reassembled():
    whole, arrays = packet(1000, 8)  # IMU9 @ 104 Hz: 294 bytes
    first, second = split(whole, 155)
    dec = ms.MovesenseDecoder("/Meas/IMU9/104")
    assert dec.feed(first) is None
    out = dec.feed(second)
    np.testing.assert_array_equal(out.acc, arrays[0])
    np.testing.assert_allclose(out.gyr, np.deg2rad(arrays[1].astype(float)))
    np.testing.assert_array_equal(out.mag, arrays[2])
    assert dec.stats.bad_total == 0


def test_first_half_holding_whole_samples_is_not_mistaken_for_a_packet():
    # IMU6 with 8 samples is 198 bytes; a 150-byte first half holds "6 whole samples"
    dec = ms.MovesenseDecoder("/Meas/IMU6/104")
    for k in range(3):
        whole, arrays = packet(1000 + 77 * k, 8, "IMU6", seed=k)
        first, second = split(whole, 150)
        assert dec.feed(first) is None
        out = dec.feed(second)
        np.testing.assert_array_equal(out.acc, arrays[0])
    # the split length is now known: a shorter DATA decodes at once
    short, arrays = packet(1231, 2, "IMU6", seed=9)
    np.testing.assert_array_equal(dec.feed(short).acc, arrays[0])
    assert dec.stats.bad_total == 0


def test_lost_second_half_is_counted_and_the_next_packet_decodes():
    whole, _ = packet(1000, 8)
    later, arrays = packet(1077, 2, seed=3)
    dec = ms.MovesenseDecoder("/Meas/IMU9/104")
    assert dec.feed(split(whole, 155)[0]) is None
    assert dec.feed(later) is None
    np.testing.assert_array_equal(dec.flush().acc, arrays[0])
    assert dec.stats.bad["truncated"] == 1


def test_orphan_second_half_is_counted():
    whole, _ = packet(1000, 8)
    dec = ms.MovesenseDecoder("/Meas/IMU9/104")
    assert dec.feed(split(whole, 155)[1]) is None
    assert dec.stats.bad["orphan_part"] == 1


def test_device_clock_unwraps_across_32_bits():
    dec = ms.MovesenseDecoder("/Meas/IMU6/52")
    t_before = 2**32 - 40
    a, b = feed_all(dec, [packet(t_before, 4, "IMU6")[0],
                          packet(t_before + 77, 4, "IMU6")[0]])  # raw value wrapped to 37
    assert b.device_time[0] - a.device_time[0] == pytest.approx(0.077)
    assert np.all(np.diff(np.concatenate([a.device_time, b.device_time])) > 0)


def test_backwards_and_jumping_timestamps_are_dropped_and_counted():
    dec = ms.MovesenseDecoder("/Meas/IMU6/52")
    stamps = [100_000, 99_000, 100_000 + 3_600_000, 100_077]
    outs = feed_all(dec, [packet(t, 4, "IMU6")[0] for t in stamps])
    assert [o.device_time[0] for o in outs] == [100.0, 100.077]
    assert dec.stats.bad["clock_backwards"] == 1 and dec.stats.bad["clock_jump"] == 1


def test_decoder_follows_the_rate_the_sensor_really_streams():
    dec = ms.MovesenseDecoder("/Meas/IMU6/52")
    period_ms = 1000 / 104
    outs = feed_all(dec, [packet(round(10_000 + 4 * k * period_ms), 4, "IMU6", seed=k)[0]
                          for k in range(6)])
    assert dec.rate_hz == 104 and dec.rate_changes == 1
    np.testing.assert_allclose(np.diff(outs[-1].device_time), 1 / 104)


def test_command_results_and_quirks():
    dec = ms.MovesenseDecoder()
    assert dec.feed(bytes.fromhex("0163c800")) is None
    assert dec.command_results[99][0] == 200
    dec.feed(bytes.fromhex("0105" + "01fb"))  # old firmware writes 507 big-endian
    assert dec.command_results[5][0] == 507
    dec.feed(bytes.fromhex("017b48656c6c6f"))
    assert dec.command_results[123] == (200, b"Hello")
    assert dec.stats.bad_total == 0


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"\x02", "truncated"),
        (bytes.fromhex("0963") + bytes(10), "unknown_type"),
        (bytes.fromhex("0201") + bytes(78), "unknown_reference"),
        (bytes.fromhex("0163"), "truncated"),
    ],
)
def test_bad_notifications_are_counted_by_kind(data, kind):
    dec = ms.MovesenseDecoder()
    assert dec.feed(data) is None
    assert dec.stats.bad[kind] == 1


def test_nan_or_absurd_values_are_implausible():
    data, _ = packet(1000, 2)
    broken = bytearray(data)
    broken[6:10] = struct.pack("<f", float("nan"))
    dec = ms.MovesenseDecoder()
    first = bytes(broken)
    broken[6:10] = struct.pack("<f", 1e30)
    assert feed_all(dec, [first, bytes(broken)]) == []
    assert dec.stats.bad["implausible_value"] == 2


def test_flush_and_reset():
    whole, _ = packet(1000, 8)
    dec = ms.MovesenseDecoder("/Meas/IMU9/104")
    dec.feed(split(whole, 155)[0])
    assert dec.flush() is None and dec.stats.bad["truncated"] == 1
    dec.feed(split(whole, 155)[0])
    dec.reset()
    assert dec.feed(split(whole, 155)[1]) is None and dec.stats.bad["orphan_part"] == 1

"""WitMotion BLE 5.0 decoder against the documented captures, stream framing and commands."""

from __future__ import annotations

import numpy as np
import pytest

from posturewatch.ingest.protocols import witmotion as wm
from posturewatch.ingest.records import GRAVITY

# A real 80-byte notification (4 frames at 10 Hz) and a 40-byte one after switching to 50 Hz.
NOTIFY_80 = bytes.fromhex(
    "5561fcffefff110800000000000098ff0d00f831"
    "5561fdffecff0e0800000000000098ff0d00f831"
    "5561fdffecff0e0800000000000098ff0d00f831"
    "5561feffe9ff0f0800000000000098ff0d00f831"
)
NOTIFY_40 = bytes.fromhex(
    "5561f3fff3ff0f0800000000000098ff0d00f831"
    "5561f9fff1ff100800000000000098ff0d00f831"
)
MAG_REPLY = bytes.fromhex("55713a00680169007a0000000000000000000000")


def reply(start_reg: int, values: list[int]) -> bytes:
    regs = np.zeros(8, dtype="<i2")
    regs[: len(values)] = values
    return bytes((0x55, 0x71)) + start_reg.to_bytes(2, "little") + regs.tobytes()


def test_documented_capture_decodes_to_documented_values():
    dec = wm.WitMotionDecoder()
    out = dec.feed(NOTIFY_80)
    assert out is not None and len(out) == 4
    np.testing.assert_allclose(out.acc[0] / GRAVITY, [-0.00195, -0.00830, 1.00830], atol=5e-6)
    np.testing.assert_allclose(out.acc[1] / GRAVITY, [-0.00146, -0.00977, 1.00684], atol=5e-6)
    np.testing.assert_array_equal(out.gyr, np.zeros((4, 3)))
    np.testing.assert_allclose(dec.euler_deg, [-0.5713, 0.0714, 70.2686], atol=5e-5)
    assert out.device_time is None and out.seq is None and out.mag is None
    assert dec.stats.frames == 4 and dec.stats.samples == 4 and dec.stats.bad_total == 0


def test_raw_counts_scale_exactly():
    out = wm.WitMotionDecoder().feed(NOTIFY_40)
    assert out is not None and len(out) == 2
    np.testing.assert_allclose(out.acc[0] / GRAVITY, [-0.00635, -0.00635, 1.00732], atol=5e-6)
    # -13 counts of 16 g / 32768 in m/s²
    assert out.acc[0, 0] == pytest.approx(-13 * 16 / 32768 * 9.80665, rel=1e-12)


def test_gyro_comes_out_in_rad_per_s():
    frame = bytearray(NOTIFY_40[:20])
    frame[8:10] = (16384).to_bytes(2, "little", signed=True)  # 1000 °/s
    out = wm.WitMotionDecoder().feed(bytes(frame))
    assert out.gyr[0, 0] == pytest.approx(np.deg2rad(1000.0))


@pytest.mark.parametrize("cut", range(1, 80))
def test_frames_split_anywhere_across_notifications(cut):
    dec = wm.WitMotionDecoder()
    parts = [dec.feed(NOTIFY_80[:cut]), dec.feed(NOTIFY_80[cut:])]
    acc = np.concatenate([p.acc for p in parts if p is not None])
    np.testing.assert_array_equal(acc, wm.WitMotionDecoder().feed(NOTIFY_80).acc)
    assert dec.stats.bad_total == 0


def test_one_byte_at_a_time():
    dec = wm.WitMotionDecoder()
    got = [dec.feed(NOTIFY_80[i : i + 1]) for i in range(len(NOTIFY_80))]
    assert sum(len(g) for g in got if g is not None) == 4
    assert dec.stats.bad_total == 0


def test_resync_after_garbage_counts_it():
    dec = wm.WitMotionDecoder()
    out = dec.feed(b"\x01\x02\x03" + NOTIFY_40 + b"\xaa\xbb" + NOTIFY_40)
    assert out is not None and len(out) == 4
    assert dec.stats.bad["bad_header"] == 2
    assert dec.bytes_skipped == 5


def test_frame_cut_by_a_lost_notification_is_rejected_not_glued():
    dec = wm.WitMotionDecoder()
    assert dec.feed(NOTIFY_80[:32]) is not None  # one whole frame + 12 bytes of the next
    out = dec.feed(NOTIFY_40)  # the notification with the rest was lost
    assert out is not None and len(out) == 2
    np.testing.assert_array_equal(out.acc, wm.WitMotionDecoder().feed(NOTIFY_40).acc)
    assert dec.stats.bad["truncated"] == 1


def test_fake_header_in_garbage_does_not_swallow_the_real_frame():
    dec = wm.WitMotionDecoder()
    out = dec.feed(b"\x55\x61\x00\x01" + NOTIFY_40)
    assert out is not None and len(out) == 2
    assert dec.stats.bad["truncated"] == 1


def test_register_reply_documented_vector():
    dec = wm.WitMotionDecoder()
    assert dec.feed(MAG_REPLY) is None
    assert [dec.registers[r] for r in (0x3A, 0x3B, 0x3C)] == [360, 105, 122]
    # without the chip type the scale is unknown: no µT yet
    assert dec.magnetic_field_ut is None
    assert dec.stats.frames == 1 and dec.stats.samples == 0


def test_magnetometer_scaled_by_chip_type_and_held_for_fresh_frames():
    dec = wm.WitMotionDecoder(mag_hold_frames=3)
    dec.feed(reply(wm.REG_MAG_CHIP, [6]))
    assert dec.mag_chip == 6
    out = dec.feed(MAG_REPLY + NOTIFY_40)
    np.testing.assert_allclose(dec.magnetic_field_ut, np.array([360, 105, 122]) / 120.0)
    np.testing.assert_allclose(out.mag, np.tile(np.array([360, 105, 122]) / 120.0, (2, 1)))
    # the third and fourth frame since the reading: the block is not all fresh → no mag
    assert dec.feed(NOTIFY_40).mag is None
    np.testing.assert_allclose(dec.feed(MAG_REPLY + NOTIFY_40[:20]).mag[0], [3.0, 0.875, 122 / 120])


def test_explicit_chip_type_and_reply_in_the_middle_of_a_block():
    dec = wm.WitMotionDecoder(mag_chip=2, mag_hold_frames=10)
    out = dec.feed(NOTIFY_40 + MAG_REPLY + NOTIFY_40)
    assert len(out) == 4 and out.mag is None  # first two frames came before any reading
    out = dec.feed(NOTIFY_40)
    np.testing.assert_allclose(out.mag, np.tile([360 * 0.15, 105 * 0.15, 122 * 0.15], (2, 1)))


def test_quaternion_battery_temperature_replies():
    dec = wm.WitMotionDecoder()
    dec.feed(reply(wm.REG_QUAT, [32767, 0, 0, -16384]))
    np.testing.assert_allclose(dec.quaternion, [32767 / 32768, 0, 0, -0.5])
    dec.feed(reply(wm.REG_BATTERY, [396]))
    assert dec.battery_volts == pytest.approx(3.96)
    assert wm.battery_percent(396) == 100
    dec.feed(reply(wm.REG_TEMPERATURE, [2534]))
    assert dec.temperature_c == pytest.approx(25.34)


def test_reply_with_impossible_start_register_is_counted():
    dec = wm.WitMotionDecoder()
    dec.feed(bytes.fromhex("55710001") + bytes(16))
    assert dec.stats.bad["implausible_value"] == 1 and not dec.registers


@pytest.mark.parametrize(
    ("raw", "percent"),
    [(400, 100), (394, 90), (390, 75), (383, 60), (380, 50), (377, 40), (375, 30),
     (371, 20), (368, 15), (360, 10), (345, 5), (339, 0)],
)
def test_battery_table(raw, percent):
    assert wm.battery_percent(raw) == percent


def test_documented_command_bytes():
    unlock, rate, save = wm.rate_command_sequence(50, save=True)
    assert unlock.data.hex() == "ffaa6988b5" and unlock.delay_after_s > 0
    assert rate.data.hex() == "ffaa030800"
    assert save.data.hex() == "ffaa000000"
    assert {w.char_uuid for w in (unlock, rate, save)} == {wm.WRITE_UUID}
    assert wm.read_register_write(wm.REG_QUAT).data.hex() == "ffaa275100"
    assert len(wm.rate_command_sequence(10)) == 2
    assert wm.rate_command_sequence(200)[1].data.hex() == "ffaa030b00"
    assert wm.rate_command_sequence(200, rate_code_200hz=0x0A)[1].data.hex() == "ffaa030a00"
    with pytest.raises(ValueError, match="no 33"):
        wm.rate_command_sequence(33)


def test_uuids_use_the_vendor_base_not_the_sig_base():
    for uuid in (wm.SERVICE_UUID, wm.NOTIFY_UUID, wm.WRITE_UUID):
        assert uuid.endswith("00805f9a34fb")


def test_reset_forgets_partial_frames():
    dec = wm.WitMotionDecoder()
    dec.feed(NOTIFY_40[:15])
    dec.reset()
    assert dec.feed(NOTIFY_40[15:20]) is None  # the rest of that frame is now garbage
    assert dec.stats.bad["bad_header"] == 1
    assert len(dec.feed(NOTIFY_40)) == 2

"""Emulated WitMotion BLE 5.0 IMU (WT901BLE / WT9011DCL): 20-byte ``55 61`` frames on FFE4.

Streams as soon as notifications are enabled, at the return rate in register 0x03 (10 Hz after
a power cycle); a rate write counts only within 10 s of the unlock command. Register reads
(``FF AA 27 <reg> 00``) are answered with a ``55 71`` frame of 8 registers. With a larger MTU
the module batches frames: 2 per notification at 50 Hz, 3 at 100 Hz, up to 4. No timestamps,
no counters, no checksum — exactly what the real sensor sends (see ble-protocols.md §1).
"""

from __future__ import annotations

import math

import numpy as np

from posturewatch.ingest.records import GRAVITY
from posturewatch.simulators.devices.device import NOTIFY, WRITE, EmulatedDevice

SERVICE = "0000ffe5-0000-1000-8000-00805f9a34fb"  # note the vendor's "9a" base, not SIG "9b"
NOTIFY_CHAR = "0000ffe4-0000-1000-8000-00805f9a34fb"
WRITE_CHAR = "0000ffe9-0000-1000-8000-00805f9a34fb"

RATE_BY_CODE = {0x01: 0.2, 0x02: 0.5, 0x03: 1.0, 0x04: 2.0, 0x05: 5.0, 0x06: 10.0, 0x07: 20.0,
                0x08: 50.0, 0x09: 100.0, 0x0B: 200.0}
UNLOCK_WINDOW_S = 10.0
MAG_CHIP = 6  # raw counts = µT × 120 for this chip type


def _i16(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values), -32768, 32767).astype("<i2")


def encode_frames(acc_ms2: np.ndarray, gyr_rads: np.ndarray) -> bytes:
    """``55 61`` frames: acc (±16 g), gyro (±2000 °/s), roll/pitch/yaw from gravity."""
    acc_g = acc_ms2 / GRAVITY
    roll = np.degrees(np.arctan2(acc_g[:, 1], acc_g[:, 2]))
    pitch = np.degrees(np.arctan2(-acc_g[:, 0], np.hypot(acc_g[:, 1], acc_g[:, 2])))
    angles = np.column_stack([roll, pitch, np.zeros_like(roll)])
    n = len(acc_ms2)
    frames = np.zeros((n, 20), dtype=np.uint8)
    frames[:, 0], frames[:, 1] = 0x55, 0x61
    body = np.concatenate(
        [_i16(acc_g * 32768 / 16), _i16(np.degrees(gyr_rads) * 32768 / 2000),
         _i16(angles * 32768 / 180)], axis=1)
    frames[:, 2:] = body.view(np.uint8).reshape(n, 18)
    return frames.tobytes()


class WitMotionDevice(EmulatedDevice):
    family = "witmotion"
    default_name = "WT901BLE68"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.rate_hz = 10.0
        self.battery_centivolts = 330 + round(0.7 * self.battery_pct)
        self._unlocked_until = -math.inf
        self._last_mag = np.array([20.0, 0.0, -44.0])

    def gatt(self) -> dict[str, frozenset[str]]:
        return {NOTIFY_CHAR: frozenset({NOTIFY}), WRITE_CHAR: frozenset({WRITE})}

    def on_subscribe(self, uuid: str) -> None:
        if uuid == NOTIFY_CHAR:
            self.start_stream()

    def on_reboot(self) -> None:
        self.rate_hz = 10.0

    def samples_per_packet(self) -> int:
        return max(1, min(4, round(self.rate_hz * self.connection_interval_s)))

    def write(self, uuid: str, data: bytes) -> None:
        if uuid != WRITE_CHAR or len(data) != 5 or data[:2] != b"\xff\xaa":
            return  # the module ignores what it does not understand
        reg, value = data[2], data[3] | data[4] << 8
        if data == b"\xff\xaa\x69\x88\xb5":
            self._unlocked_until = self.now() + UNLOCK_WINDOW_S
        elif reg == 0x27:
            self.reply_soon(NOTIFY_CHAR, self._register_reply(value & 0xFF))
        elif reg == 0x03 and self.now() <= self._unlocked_until and value in RATE_BY_CODE:
            self.rate_hz = RATE_BY_CODE[value]
            if self.streaming:
                self.start_stream()

    def _register(self, reg: int) -> int:
        code = {v: k for k, v in RATE_BY_CODE.items()}
        mag = np.rint(self._last_mag * 120).astype(int)
        values = {0x03: code.get(self.rate_hz, 0x06), 0x3A: mag[0], 0x3B: mag[1], 0x3C: mag[2],
                  0x40: 2650, 0x51: 32767, 0x64: self.battery_centivolts, 0x72: MAG_CHIP}
        return int(values.get(reg, 0))

    def _register_reply(self, start: int) -> bytes:
        regs = np.array([self._register(start + i) for i in range(8)])
        return bytes((0x55, 0x71, start, 0x00)) + _i16(regs).tobytes()

    def encode(self, dev_time, seq0, acc, gyr, mag) -> list[tuple[str, bytes]]:
        self._last_mag = mag[-1]
        return [(NOTIFY_CHAR, encode_frames(acc, gyr))]

    def garbage(self) -> tuple[str, bytes]:
        # Never a whole frame and never a header byte: a receiver must skip it, not misread it.
        length = self.rng.choice([1, 3, 7, 13, 19])
        return NOTIFY_CHAR, bytes(self.rng.choice(range(0x56, 0x100)) for _ in range(length))

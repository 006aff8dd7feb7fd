"""Emulated DIY sensor speaking our reference protocol PWRP v1 (docs/reference-protocol.md).

GATT: info (read, and notified on change: version, sensor mask, max payload, rate and the
scale of each int16 quantity,
CRC-protected), control (write opcodes start 0x01 / stop 0x02 / set-rate 0x03 f32 / set-time
0x04 u64 µs; each answered by a ``[0x80|opcode, status]`` notification) and data (notify).
A data frame is ``[version<<4 | mask][count][seq u16][t0 u32 µs]`` + count × int16 samples
(acc, gyro, mag as present) + CRC-16/CCITT-FALSE; a frame longer than one notification is
continued in notifications starting ``0xF1``, ``0xF2`` … Battery on the standard Battery Service.
This encoder is written from the specification, independently of the decoder.
"""

from __future__ import annotations

import binascii
import struct

import numpy as np

from posturewatch.ingest.ble.client import BATTERY_LEVEL_UUID
from posturewatch.simulators.devices.device import NOTIFY, READ, WRITE, EmulatedDevice


def pwrp_uuid(short: int) -> str:
    return f"5057{short:04x}-d30b-40b0-b5de-b63e0032add7"


SERVICE = pwrp_uuid(0x0001)
DATA, INFO, CONTROL = pwrp_uuid(0x0002), pwrp_uuid(0x0003), pwrp_uuid(0x0004)
ACC_SCALE = 16 * 9.80665 / 32768  # ±16 g
GYR_SCALE = np.radians(2000.0) / 32768  # ±2000 °/s
MAG_SCALE = 0.15  # µT per count
OK, UNKNOWN_OPCODE, BAD_ARGUMENT, NOT_ALLOWED = 0, 1, 2, 3


def crc16_ccitt_false(data: bytes) -> int:
    return binascii.crc_hqx(data, 0xFFFF)


def _with_crc(body: bytes) -> bytes:
    return body + struct.pack("<H", crc16_ccitt_false(body))


class PwrpDevice(EmulatedDevice):
    family = "pwrp"
    default_name = "PWRP-IMU"
    advertised_services = (SERVICE,)  # the specification asks for it

    def __init__(self, *args, max_payload: int = 244, rate_hz: float = 50.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.rate_hz = float(rate_hz)
        self.max_payload = max_payload
        self._time_offset_us = 0

    def gatt(self) -> dict[str, frozenset[str]]:
        return {DATA: frozenset({NOTIFY}), INFO: frozenset({READ, NOTIFY}),
                CONTROL: frozenset({WRITE, NOTIFY}), BATTERY_LEVEL_UUID: frozenset({READ})}

    def info(self) -> bytes:
        return _with_crc(struct.pack("<BBHffff", 1, 0x7, self.max_payload, self.rate_hz,
                                     ACC_SCALE, GYR_SCALE, MAG_SCALE))

    def read(self, uuid: str) -> bytes:
        if uuid == INFO:
            return self.info()
        if uuid == BATTERY_LEVEL_UUID:
            return bytes((self.battery_pct,))
        return super().read(uuid)

    def samples_per_packet(self) -> int:
        per_event = max(1, round(self.rate_hz * self.connection_interval_s))
        fits = max(1, (self.max_payload - 10) // 18)
        return min(per_event, fits, 255)

    def write(self, uuid: str, data: bytes) -> None:
        if uuid != CONTROL or not data:
            return
        opcode, status = data[0], OK
        if opcode == 0x01 and len(data) == 1:
            self.start_stream()
        elif opcode == 0x02 and len(data) == 1:
            self.stop_stream()
        elif opcode == 0x03 and len(data) == 5:
            rate = struct.unpack("<f", data[1:])[0]
            if self.streaming:
                status = NOT_ALLOWED
            elif 1.0 <= rate <= 400.0:
                self.rate_hz = float(rate)
                self.reply_soon(INFO, self.info())
            else:
                status = BAD_ARGUMENT
        elif opcode == 0x04 and len(data) == 9:
            unix_us = struct.unpack("<Q", data[1:])[0]
            self._time_offset_us = unix_us - int(float(self.device_clock(self.now())) * 1e6)
        elif opcode in (0x01, 0x02, 0x03, 0x04):
            status = BAD_ARGUMENT
        else:
            status = UNKNOWN_OPCODE
        self.reply_soon(CONTROL, bytes((0x80 | opcode, status)))

    def on_reboot(self) -> None:
        self._time_offset_us = 0

    def encode(self, dev_time, seq0, acc, gyr, mag) -> list[tuple[str, bytes]]:
        n = len(dev_time)
        counts = np.concatenate(
            [np.clip(np.rint(x / s), -32768, 32767) for x, s in
             ((acc, ACC_SCALE), (gyr, GYR_SCALE), (mag, MAG_SCALE))], axis=1).astype("<i2")
        t0 = (int(dev_time[0] * 1e6) + self._time_offset_us) % (1 << 32)
        frame = _with_crc(struct.pack("<BBHI", 0x17, n, seq0 % 65536, t0) + counts.tobytes())
        parts = [frame[: self.max_payload]]
        rest, step = frame[self.max_payload:], self.max_payload - 1
        while rest:
            parts.append(bytes((0xF0 | len(parts),)) + rest[:step])
            rest = rest[step:]
        return [(DATA, p) for p in parts]

    def garbage(self) -> tuple[str, bytes]:
        # A well-formed header whose CRC cannot match: flipped bits in a copy of a frame.
        body = struct.pack("<BBHI", 0x17, 1, 0, 0) + self.rng.randbytes(18)
        return DATA, body + struct.pack("<H", (crc16_ccitt_false(body) ^ 0x5A5A) & 0xFFFF)

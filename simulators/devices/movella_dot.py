"""Emulated Movella (Xsens) DOT following its public BLE service specification.

Streaming starts when the central writes ``01 01 <mode>`` to measurement control (0x2001) and
stops with ``01 00 <mode>`` or a disconnect. Each sample is one notification on the mode's
payload characteristic (short 20 B, medium 40 B, long 63 B; unused bytes zero-filled), starting
with the u32 microsecond sensor clock. The output rate (1–60 Hz, default 60) is set through
device control (0x1002): visit-index bit 0x10 applies the u16 rate at offset 24, refused while
measuring. Battery: 0x3001 = [percent, charging].
"""

from __future__ import annotations

import struct

import numpy as np

from posturewatch.ingest.records import GRAVITY
from posturewatch.simulators.devices.device import NOTIFY, READ, WRITE, EmulatedDevice


def dot_uuid(short: int) -> str:
    return f"1517{short:04x}-4947-11e9-8646-d663bd873d93"


DEVICE_INFO, DEVICE_CONTROL, REPORT = dot_uuid(0x1001), dot_uuid(0x1002), dot_uuid(0x1004)
CONTROL, LONG, MEDIUM, SHORT = dot_uuid(0x2001), dot_uuid(0x2002), dot_uuid(0x2003), dot_uuid(0x2004)
BATTERY = dot_uuid(0x3001)
CHAR_SIZE = {SHORT: 20, MEDIUM: 40, LONG: 63}
RATES = (1, 4, 10, 12, 15, 20, 30, 60)

# mode id → (payload characteristic, fields after the timestamp)
MODES: dict[int, tuple[str, tuple[str, ...]]] = {
    2: (MEDIUM, ("quat", "free_acc", "status", "clips")),
    3: (MEDIUM, ("quat", "free_acc")),
    5: (SHORT, ("quat",)),
    16: (MEDIUM, ("euler", "free_acc")),
    20: (MEDIUM, ("acc", "gyr", "mag")),
    21: (MEDIUM, ("acc", "gyr")),
    22: (MEDIUM, ("euler", "free_acc", "gyr")),
    24: (MEDIUM, ("quat", "gyr")),
    26: (LONG, ("quat", "acc", "gyr")),
}


def gravity_quaternion(acc: np.ndarray) -> np.ndarray:
    """[w, x, y, z] rotating sensor axes so the measured gravity reaction points along +z."""
    a = acc / np.linalg.norm(acc, axis=1, keepdims=True)
    axis = np.column_stack([a[:, 1], -a[:, 0], np.zeros(len(a))])  # a × z
    s = np.linalg.norm(axis, axis=1)
    angle = np.arctan2(s, a[:, 2])
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = np.where(s[:, None] > 1e-12, axis / s[:, None], 0.0)
    return np.column_stack([np.cos(angle / 2), unit * np.sin(angle / 2)[:, None]])


def encode_fields(fields: tuple[str, ...], ts_us: int, acc: np.ndarray, gyr: np.ndarray,
                  mag: np.ndarray) -> bytes:
    """One sample's payload (without padding) in the given field order."""
    norm = float(np.linalg.norm(acc))
    out = [struct.pack("<I", ts_us % (1 << 32))]
    for name in fields:
        if name == "quat":
            out.append(gravity_quaternion(acc[None, :])[0].astype("<f4").tobytes())
        elif name == "euler":
            roll = np.degrees(np.arctan2(acc[1], acc[2]))
            pitch = np.degrees(np.arctan2(-acc[0], np.hypot(acc[1], acc[2])))
            out.append(np.array([roll, pitch, 0.0], dtype="<f4").tobytes())
        elif name == "free_acc":
            out.append(np.array([0.0, 0.0, norm - GRAVITY], dtype="<f4").tobytes())
        elif name == "acc":
            out.append(acc.astype("<f4").tobytes())
        elif name == "gyr":
            out.append(np.degrees(gyr).astype("<f4").tobytes())
        elif name == "mag":
            out.append(np.clip(np.rint(mag / 50.0 * 4096), -32768, 32767).astype("<i2").tobytes())
        elif name == "status" or name == "clips":
            out.append(b"\x00\x00")
    return b"".join(out)


class MovellaDotDevice(EmulatedDevice):
    family = "movella_dot"
    default_name = "Movella DOT"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.rate_hz = 60.0
        self.mode = 0

    def gatt(self) -> dict[str, frozenset[str]]:
        chars = {DEVICE_INFO: frozenset({READ}), DEVICE_CONTROL: frozenset({READ, WRITE}),
                 REPORT: frozenset({NOTIFY}), CONTROL: frozenset({READ, WRITE}),
                 BATTERY: frozenset({READ, NOTIFY})}
        chars.update({uuid: frozenset({NOTIFY}) for uuid in CHAR_SIZE})
        return chars

    def read(self, uuid: str) -> bytes:
        if uuid == BATTERY:
            return bytes((self.battery_pct, 0))
        if uuid == CONTROL:
            return bytes((1, 1 if self.streaming else 0, self.mode))
        if uuid == DEVICE_CONTROL:
            payload = bytearray(32)
            payload[24:26] = int(self.rate_hz).to_bytes(2, "little")
            return bytes(payload)
        if uuid == DEVICE_INFO:
            return bytes(34)
        return super().read(uuid)

    def write(self, uuid: str, data: bytes) -> None:
        if uuid == DEVICE_CONTROL and len(data) == 32 and data[0] & 0x10 and not self.streaming:
            rate = int.from_bytes(data[24:26], "little")
            if rate in RATES:
                self.rate_hz = float(rate)
        elif uuid == CONTROL and len(data) == 3 and data[0] == 1:
            if data[1] == 1 and data[2] in MODES:
                self.mode = data[2]
                self.start_stream()
            elif data[1] == 0:
                self.stop_stream()

    def encode(self, dev_time, seq0, acc, gyr, mag) -> list[tuple[str, bytes]]:
        char, fields = MODES[self.mode]
        out = []
        for i in range(len(dev_time)):
            payload = encode_fields(fields, int(dev_time[i] * 1e6), acc[i], gyr[i], mag[i])
            out.append((char, payload.ljust(CHAR_SIZE[char], b"\x00")))
        return out

    def whole_packet_length(self, length: int) -> bool:
        char, fields = MODES[self.mode]
        return length >= len(encode_fields(fields, 0, np.ones(3), np.zeros(3), np.zeros(3)))

    def garbage(self) -> tuple[str, bytes]:
        char, fields = MODES[self.mode]
        needed = len(encode_fields(fields, 0, np.ones(3), np.zeros(3), np.zeros(3)))
        return char, self.rng.randbytes(self.rng.randrange(1, needed))

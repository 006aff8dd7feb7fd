"""Emulated Movesense sensor speaking the GATT SensorData Protocol (GSP).

Commands arrive on 34800001 as ``[cmd][ref][data]``: HELLO (0) is answered with ``01 <ref>
Hello``, SUBSCRIBE (1) with a ``/Meas/<kind>/<rate>`` path starts a stream (like the sample
firmware, no reply on success; status 501 for an unsupported rate or path), UNSUBSCRIBE (2)
stops it. Data notifications on 34800002 are ``02 <ref> <u32 ms timestamp of the first sample>``
followed by the float32 arrays grouped per sensor (acc m/s², gyro °/s, magn µT); a packet longer
than 155 bytes continues in a ``03 <ref>`` DATA_PART2 notification. A disconnect drops the
subscription, as the real firmware does. Battery on the standard Battery Service.
"""

from __future__ import annotations

import re
import struct

import numpy as np

from posturewatch.ingest.ble.client import BATTERY_LEVEL_UUID
from posturewatch.simulators.devices.device import NOTIFY, READ, WRITE, EmulatedDevice

SERVICE = "34802252-7185-4d5d-b431-630e7050e8f0"
COMMAND_CHAR = "34800001-7185-4d5d-b431-630e7050e8f0"
DATA_CHAR = "34800002-7185-4d5d-b431-630e7050e8f0"

ARRAYS = {"Acc": ("acc",), "Gyro": ("gyr",), "Magn": ("mag",), "IMU6": ("acc", "gyr"),
          "IMU6m": ("acc", "mag"), "IMU9": ("acc", "gyr", "mag")}
RATES = (13, 26, 52, 104, 208, 416, 833, 1666)
MAX_VALUE = 155  # bytes of value per notification with the sensor's MTU
_PATH = re.compile(r"^/?Meas/([A-Za-z0-9]+)/(\d+)$")


class MovesenseDevice(EmulatedDevice):
    family = "movesense"
    default_name = "Movesense 000000000000"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.name == self.default_name:
            self.name = f"Movesense {self.rng.randrange(10**11, 10**12)}"
        self._ref = 0
        self._arrays: tuple[str, ...] = ()

    def gatt(self) -> dict[str, frozenset[str]]:
        return {COMMAND_CHAR: frozenset({WRITE}), DATA_CHAR: frozenset({NOTIFY}),
                BATTERY_LEVEL_UUID: frozenset({READ})}

    def read(self, uuid: str) -> bytes:
        if uuid == BATTERY_LEVEL_UUID:
            return bytes((self.battery_pct,))
        return super().read(uuid)

    def samples_per_packet(self) -> int:
        return max(1, int(self.rate_hz) // 13)

    def write(self, uuid: str, data: bytes) -> None:
        if uuid != COMMAND_CHAR or len(data) < 2 or data[1] == 0:
            return
        command, ref = data[0], data[1]
        if command == 0:
            self.reply_soon(DATA_CHAR, bytes((1, ref)) + b"Hello")
        elif command == 1:
            match = _PATH.match(data[2:].decode("utf-8", "replace"))
            if not match or match[1] not in ARRAYS or int(match[2]) not in RATES:
                self.reply_soon(DATA_CHAR, bytes((1, ref)) + struct.pack("<H", 501))
                return
            self._ref, self._arrays, self.rate_hz = ref, ARRAYS[match[1]], float(match[2])
            self.start_stream()
        elif command == 2 and ref == self._ref:
            self.stop_stream()
            self.reply_soon(DATA_CHAR, bytes((1, ref)) + struct.pack("<H", 200))

    def encode(self, dev_time, seq0, acc, gyr, mag) -> list[tuple[str, bytes]]:
        columns = {"acc": acc, "gyr": np.degrees(gyr), "mag": mag}
        ts_ms = int(dev_time[0] * 1000.0) % (1 << 32)
        body = b"".join(columns[name].astype("<f4").tobytes() for name in self._arrays)
        packet = bytes((2, self._ref)) + struct.pack("<I", ts_ms) + body
        if len(packet) <= MAX_VALUE:
            return [(DATA_CHAR, packet)]
        return [(DATA_CHAR, packet[:MAX_VALUE]),
                (DATA_CHAR, bytes((3, self._ref)) + packet[MAX_VALUE:])]

    def whole_packet_length(self, length: int) -> bool:
        stride = 12 * max(1, len(self._arrays))
        return length > 6 and (length - 6) % stride == 0

    def garbage(self) -> tuple[str, bytes]:
        # A DATA header for our reference whose length fits no whole number of samples.
        stride = 12 * max(1, len(self._arrays))
        length = 6 + stride * self.rng.randrange(1, 4) + self.rng.randrange(1, stride)
        return DATA_CHAR, bytes((2, self._ref or 1)) + self.rng.randbytes(length - 2)

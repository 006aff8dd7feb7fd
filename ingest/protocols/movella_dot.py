"""Movella (Xsens) DOT real-time streaming: payload decoder and measurement-control writes.

Per the vendor's BLE service specification (XD0506P): enable notifications on the payload
characteristic of the chosen mode, then write ``01 01 <mode>`` to measurement control 0x2001;
stop with ``01 00 <mode>``. Every notification is one sample: a u32 microsecond sensor timestamp
then little-endian float32 fields (acc in m/s² sensor frame, gyro in °/s, quaternion w,x,y,z
sensor → earth), magnetometer as int16 fixed point /4096 in arbitrary units. Trailing unused
bytes of the characteristic are zero-filled.

Decoded modes: the ones that carry acceleration and angular rate (rate quantities 20/21,
custom mode 5 = 26) and the quaternion ones without free acceleration (orientation quaternion 5,
custom mode 3 = 24), which come out with NaN ``acc`` and a ``quat``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posturewatch.ingest.protocols.base import (
    DecodedSamples,
    Decoder,
    GattWrite,
)
from posturewatch.ingest.protocols.counters import CounterUnwrapper, Step
from posturewatch.ingest.protocols.plausibility import plausible


def dot_uuid(short: int) -> str:
    """A DOT characteristic/service UUID from its 16-bit short form."""
    return f"1517{short:04x}-4947-11e9-8646-d663bd873d93"


CONFIG_SERVICE_UUID = dot_uuid(0x1000)
DEVICE_CONTROL_UUID = dot_uuid(0x1002)
MEASUREMENT_SERVICE_UUID = dot_uuid(0x2000)
CONTROL_UUID = dot_uuid(0x2001)
LONG_PAYLOAD_UUID = dot_uuid(0x2002)
MEDIUM_PAYLOAD_UUID = dot_uuid(0x2003)
SHORT_PAYLOAD_UUID = dot_uuid(0x2004)
BATTERY_UUID = dot_uuid(0x3001)

MAG_PER_COUNT = 1.0 / 4096.0
# No checksum: a timestamp leaping further than this between two packets of a live connection
# is taken as corrupt (three such packets in a row are believed).
MAX_CLOCK_STEP_US = 60_000_000
OUTPUT_RATES_HZ: tuple[int, ...] = (1, 4, 10, 12, 15, 20, 30, 60)
DEVICE_CONTROL_LEN = 32
_VISIT_OUTPUT_RATE = 0x10
_OUTPUT_RATE_OFFSET = 24


@dataclass(frozen=True)
class PayloadMode:
    """One measurement mode: its id, payload characteristic and byte layout."""

    mode_id: int
    name: str
    char_uuid: str
    dtype: np.dtype


def _layout(*fields: tuple[str, str, int]) -> np.dtype:
    return np.dtype([("ts", "<u4")] + [(name, t, (count,)) for name, t, count in fields])


MODES: dict[int, PayloadMode] = {
    m.mode_id: m
    for m in (
        PayloadMode(21, "rate quantities", MEDIUM_PAYLOAD_UUID,
                    _layout(("acc", "<f4", 3), ("gyr", "<f4", 3))),
        PayloadMode(20, "rate quantities with mag", MEDIUM_PAYLOAD_UUID,
                    _layout(("acc", "<f4", 3), ("gyr", "<f4", 3), ("mag", "<i2", 3))),
        PayloadMode(26, "custom mode 5", LONG_PAYLOAD_UUID,
                    _layout(("quat", "<f4", 4), ("acc", "<f4", 3), ("gyr", "<f4", 3))),
        PayloadMode(24, "custom mode 3", MEDIUM_PAYLOAD_UUID,
                    _layout(("quat", "<f4", 4), ("gyr", "<f4", 3))),
        PayloadMode(5, "orientation quaternion", SHORT_PAYLOAD_UUID,
                    _layout(("quat", "<f4", 4))),
    )
}
DEFAULT_MODE = 21


def _mode(mode_id: int) -> PayloadMode:
    if mode_id not in MODES:
        raise ValueError(f"unsupported DOT payload mode {mode_id}; use one of {sorted(MODES)}")
    return MODES[mode_id]


def start_write(mode_id: int = DEFAULT_MODE) -> GattWrite:
    """``01 01 <mode>`` to measurement control: start real-time streaming in that mode."""
    return GattWrite(CONTROL_UUID, bytes((0x01, 0x01, _mode(mode_id).mode_id)))


def stop_write(mode_id: int = DEFAULT_MODE) -> GattWrite:
    """``01 00 <mode>`` to measurement control: stop streaming."""
    return GattWrite(CONTROL_UUID, bytes((0x01, 0x00, _mode(mode_id).mode_id)))


def output_rate_write(rate_hz: int) -> GattWrite:
    """Device-control write that sets only the output rate (not while measuring).

    The visit-index byte tells the sensor which fields to apply, so the other bytes are ignored.
    """
    if rate_hz not in OUTPUT_RATES_HZ:
        raise ValueError(f"DOT streams at {OUTPUT_RATES_HZ} Hz, not {rate_hz}")
    payload = bytearray(DEVICE_CONTROL_LEN)
    payload[0] = _VISIT_OUTPUT_RATE
    payload[_OUTPUT_RATE_OFFSET : _OUTPUT_RATE_OFFSET + 2] = rate_hz.to_bytes(2, "little")
    return GattWrite(DEVICE_CONTROL_UUID, bytes(payload))



class MovellaDotDecoder(Decoder):
    """Decodes real-time payloads of one DOT measurement mode (default 21, rate quantities).

    ``device_time`` is the microsecond sensor clock, unwrapped across its 32-bit wrap (every
    ~71.6 min), in seconds. The magnetometer (mode 20) is in arbitrary units; it is reported as
    ``mag`` only when ``mag_scale_ut`` (µT per unit, e.g. the local field strength) is given.
    """

    def __init__(self, mode: int = DEFAULT_MODE, mag_scale_ut: float | None = None) -> None:
        super().__init__()
        self.mode = _mode(mode)
        self.mag_scale_ut = mag_scale_ut
        self.battery_percent: int | None = None
        self.charging: bool | None = None
        self._clock = CounterUnwrapper(32, max_forward=MAX_CLOCK_STEP_US)

    @property
    def notify_uuid(self) -> str:
        """The payload characteristic of this decoder's mode (the one to enable notifications
        on, before the start write: the sensor sends nothing otherwise)."""
        return self.mode.char_uuid

    def reset(self) -> None:
        self._clock.reset()

    def _battery(self, data: bytes) -> None:
        """Battery characteristic: u8 percent, u8 charging flag."""
        if len(data) < 2 or data[0] > 100 or data[1] > 1:
            self.stats.bad["implausible_value"] += 1
            return None
        self.battery_percent, self.charging = int(data[0]), bool(data[1])
        return None

    def feed(self, data: bytes, char_uuid: str | None = None) -> DecodedSamples | None:
        uuid = char_uuid.lower() if char_uuid else None
        if uuid == BATTERY_UUID:
            return self._battery(data)
        if uuid is not None and uuid != self.mode.char_uuid:
            self.stats.bad["unknown_characteristic"] += 1
            return None
        layout = self.mode.dtype
        if len(data) < layout.itemsize:
            self.stats.bad["truncated"] += 1
            return None
        record = np.frombuffer(bytes(data[: layout.itemsize]), dtype=layout)
        names = layout.names
        acc = record["acc"].astype(np.float64) if "acc" in names else np.full((1, 3), np.nan)
        gyr = np.deg2rad(record["gyr"].astype(np.float64)) if "gyr" in names else None
        quat = record["quat"].astype(np.float64) if "quat" in names else None
        mag = None
        if "mag" in names and self.mag_scale_ut is not None:
            mag = record["mag"].astype(np.float64) * MAG_PER_COUNT * self.mag_scale_ut
        if not plausible(acc=acc, gyr=gyr, mag=mag, quat=quat):
            self.stats.bad["implausible_value"] += 1
            return None
        ticks, step = self._clock.unwrap(int(record["ts"][0]))
        if ticks is None:
            self.stats.bad["clock_jump" if step is Step.JUMP else "clock_backwards"] += 1
            return None
        if step is Step.REANCHORED:
            self.stats.bad["clock_reset"] += 1
        self.stats.frames += 1
        self.stats.samples += 1
        return DecodedSamples(
            acc=acc,
            gyr=gyr,
            mag=mag,
            device_time=np.array([ticks * 1e-6]),
            quat=quat,
        )

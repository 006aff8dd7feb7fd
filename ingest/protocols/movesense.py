"""Movesense sensors over the GATT SensorData Protocol (GSP): command builders and decoder.

Commands go to the command characteristic as ``[command][reference][data]``; the sensor answers
on the data characteristic with ``[type][reference][payload]``: COMMAND_RESULT (a u16 status),
DATA (a measurement) or DATA_PART2 (the continuation of a DATA too long for one notification).
A measurement payload is a u32 millisecond timestamp of the first sample followed by float32
x, y, z arrays grouped per sensor (all acc samples, then all gyro, then all magn), SI units except
gyro in °/s.

Split packets: the first half of a split DATA is always as long as the longest notification the
sensor sends, and nothing is known about a DATA until the next notification shows whether a
DATA_PART2 follows. So a DATA is held until the next notification (decoded alone when that is
another DATA, or on ``flush``), joined with a DATA_PART2 of the same reference as
``part1 + part2[2:]``. Once a split has been seen its first-half length is known, and a DATA
shorter than that is decoded at once. Deciding by "does the length fit whole samples" alone is
not safe: a first half can hold whole samples by chance (IMU6 first halves of 150 bytes do).

GSP has no length field and no checksum, so a packet cut short exactly at a whole-sample boundary
would pass as valid; BLE delivers notifications whole, and NaN/out-of-range floats are caught.
"""

from __future__ import annotations

import re

import numpy as np

from posturewatch.ingest.protocols.base import (
    DecodedSamples,
    Decoder,
    GattWrite,
    concat_samples,
)
from posturewatch.ingest.protocols.counters import CounterUnwrapper, Step
from posturewatch.ingest.protocols.plausibility import plausible

SERVICE_UUID = "34802252-7185-4d5d-b431-630e7050e8f0"
COMMAND_UUID = "34800001-7185-4d5d-b431-630e7050e8f0"
DATA_UUID = "34800002-7185-4d5d-b431-630e7050e8f0"
# Newer firmware serves the same protocol under the registered 16-bit service 0xFDF3.
FDF3_SERVICE_UUID = "0000fdf3-0000-1000-8000-00805f9b34fb"
FDF3_COMMAND_UUID = "6b200001-ff4e-4979-8186-fb7ba486fcd7"
FDF3_DATA_UUID = "6b200002-ff4e-4979-8186-fb7ba486fcd7"

CMD_HELLO = 0
CMD_SUBSCRIBE = 1
CMD_UNSUBSCRIBE = 2

RESP_COMMAND_RESULT = 1
RESP_DATA = 2
RESP_DATA_PART2 = 3

HEADER_LEN = 2
TIMESTAMP_LEN = 4
FLOATS_PER_VECTOR = 3

# Which float32 triple arrays each measurement carries, in wire order.
MEASUREMENTS: dict[str, tuple[str, ...]] = {
    "Acc": ("acc",),
    "IMU6": ("acc", "gyr"),
    "IMU6m": ("acc", "mag"),
    "IMU9": ("acc", "gyr", "mag"),
}
RATES_HZ: tuple[int, ...] = (13, 26, 52, 104, 208, 416, 833, 1666)
DEFAULT_PATH = "/Meas/IMU9/52"
# No checksum: a timestamp leaping further than this between two packets of a live connection
# is taken as corrupt (three such packets in a row are believed).
MAX_CLOCK_STEP_MS = 60_000
DEFAULT_REF = 99

_PATH_RE = re.compile(r"^/?Meas/(?P<kind>[A-Za-z0-9]+)/(?P<rate>\d+)$")


def measurement_path(kind: str, rate_hz: int) -> str:
    """``/Meas/<kind>/<rate>`` after checking both are ones this decoder handles."""
    if kind not in MEASUREMENTS:
        raise ValueError(f"unsupported Movesense measurement {kind!r}; use one of {list(MEASUREMENTS)}")
    if rate_hz not in RATES_HZ:
        raise ValueError(f"Movesense has no {rate_hz} Hz rate; use one of {RATES_HZ}")
    return f"/Meas/{kind}/{rate_hz}"


def parse_measurement_path(path: str) -> tuple[str, int]:
    """``"/Meas/IMU9/52"`` → ``("IMU9", 52)``; ValueError for anything else."""
    match = _PATH_RE.match(path)
    if match is None:
        raise ValueError(f"not a Movesense measurement path: {path!r}")
    kind, rate = match["kind"], int(match["rate"])
    measurement_path(kind, rate)
    return kind, rate


def _check_ref(ref: int) -> None:
    if not 1 <= ref <= 255:
        raise ValueError(f"GSP reference must be 1..255, got {ref}")


def hello_command(ref: int) -> bytes:
    """HELLO: the sensor replies with a COMMAND_RESULT naming itself."""
    _check_ref(ref)
    return bytes((CMD_HELLO, ref))


def subscribe_command(ref: int, path: str = DEFAULT_PATH) -> bytes:
    """SUBSCRIBE: ``01 <ref>`` + the resource path in UTF-8 (no terminator)."""
    _check_ref(ref)
    parse_measurement_path(path)
    return bytes((CMD_SUBSCRIBE, ref)) + path.encode("utf-8")


def unsubscribe_command(ref: int) -> bytes:
    """UNSUBSCRIBE: ``02 <ref>``, the reference used to subscribe."""
    _check_ref(ref)
    return bytes((CMD_UNSUBSCRIBE, ref))


def subscribe_writes(ref: int = DEFAULT_REF, path: str = DEFAULT_PATH) -> tuple[GattWrite, ...]:
    """SUBSCRIBE on whichever command characteristic the sensor has (classic GSP or 0xFDF3;
    a client skips the one the sensor lacks)."""
    command = subscribe_command(ref, path)
    return (GattWrite(COMMAND_UUID, command), GattWrite(FDF3_COMMAND_UUID, command))


def unsubscribe_writes(ref: int = DEFAULT_REF) -> tuple[GattWrite, ...]:
    command = unsubscribe_command(ref)
    return (GattWrite(COMMAND_UUID, command), GattWrite(FDF3_COMMAND_UUID, command))


RATE_VOTES_TO_SWITCH = 3
# Lost packets stretch the spacing of the ones that arrive: one packet missing between each of a
# few received ones reads exactly like half the rate, and every slower supported rate is such a
# fraction. A step down therefore needs a long unbroken run of votes, one up only a few.
RATE_VOTES_TO_SLOW_DOWN = 8
RATE_TOLERANCE = 0.1


def _status_code(payload: bytes) -> int:
    """The u16 status of a COMMAND_RESULT. Old firmware writes 507 big-endian; others LE."""
    little = int.from_bytes(payload[:2], "little")
    big = int.from_bytes(payload[:2], "big")
    if little > 999 and 100 <= big <= 599:
        return big
    return little


class MovesenseDecoder(Decoder):
    """Decodes one GSP measurement subscription (``path`` under reference ``ref``).

    ``device_time`` is the sensor's millisecond clock, unwrapped across its 32-bit wrap, in
    seconds: sample i of a packet is at ``ts + i / rate``. The rate starts as the path's and
    follows the packet timestamps if they consistently show another supported rate. Command results land in
    ``command_results`` (ref → (status, data)); notifications for other references are counted
    as ``unknown_reference``.
    """

    def __init__(self, path: str = DEFAULT_PATH, ref: int = DEFAULT_REF) -> None:
        super().__init__()
        _check_ref(ref)
        self.kind, self.rate_hz = parse_measurement_path(path)
        self.path = path
        self.ref = ref
        self.arrays = MEASUREMENTS[self.kind]
        self.sample_stride = 4 * FLOATS_PER_VECTOR * len(self.arrays)
        self._clock = CounterUnwrapper(32, max_forward=MAX_CLOCK_STEP_MS)
        self.rate_changes = 0
        self.command_results: dict[int, tuple[int, bytes]] = {}
        self.reset()

    def reset(self) -> None:
        self._pending: bytes | None = None
        self._split_len: int | None = None
        self._clock.reset()
        self._previous_packet: tuple[int, int] | None = None
        self._rate_votes: tuple[int, int] = (0, 0)

    def feed(self, data: bytes, char_uuid: str | None = None) -> DecodedSamples | None:
        data = bytes(data)
        if len(data) < HEADER_LEN:
            self.stats.bad["truncated"] += 1
            return None
        kind, ref = data[0], data[1]
        if kind == RESP_COMMAND_RESULT:
            return self._command_result(ref, data)
        if kind not in (RESP_DATA, RESP_DATA_PART2):
            self.stats.bad["unknown_type"] += 1
            return None
        if ref != self.ref:
            self.stats.bad["unknown_reference"] += 1
            return None
        if kind == RESP_DATA_PART2:
            if self._pending is None:
                self.stats.bad["orphan_part"] += 1
                return None
            first, self._pending = self._pending, None
            self._split_len = len(first)
            return self._decode(first + data[HEADER_LEN:])
        decoded = self.flush()
        if self._whole(data) and self._split_len is not None and len(data) < self._split_len:
            return self._join(decoded, self._decode(data))
        self._pending = data
        return decoded

    def flush(self) -> DecodedSamples | None:
        """Decode a DATA still waiting for a second half that never came."""
        if self._pending is None:
            return None
        first, self._pending = self._pending, None
        return self._decode(first)

    def _whole(self, packet: bytes) -> bool:
        body = len(packet) - HEADER_LEN - TIMESTAMP_LEN
        return body > 0 and body % self.sample_stride == 0

    @staticmethod
    def _join(a: DecodedSamples | None, b: DecodedSamples | None) -> DecodedSamples | None:
        return concat_samples([x for x in (a, b) if x is not None])

    def _command_result(self, ref: int, data: bytes) -> None:
        if len(data) < HEADER_LEN + 2:
            # the oldest firmware answers HELLO with bare text after the header
            self.stats.bad["truncated"] += 1
            return None
        if data[2:7] == b"Hello":
            self.command_results[ref] = (200, data[2:])
        else:
            self.command_results[ref] = (_status_code(data[2:4]), data[4:])
        return None

    def _decode(self, packet: bytes) -> DecodedSamples | None:
        if not self._whole(packet):
            self.stats.bad["truncated"] += 1
            return None
        ts_ms = int.from_bytes(packet[2:6], "little")
        floats = np.frombuffer(packet, dtype="<f4", offset=HEADER_LEN + TIMESTAMP_LEN)
        n = len(floats) // (FLOATS_PER_VECTOR * len(self.arrays))
        vectors = floats.astype(np.float64).reshape(len(self.arrays), n, FLOATS_PER_VECTOR)
        fields = dict(zip(self.arrays, vectors, strict=True))
        if "gyr" in fields:
            fields["gyr"] = np.deg2rad(fields["gyr"])
        if not plausible(**fields):
            self.stats.bad["implausible_value"] += 1
            return None
        start, step = self._clock.unwrap(ts_ms)
        if start is None:
            self.stats.bad["clock_jump" if step is Step.JUMP else "clock_backwards"] += 1
            return None
        if step is Step.REANCHORED:
            self.stats.bad["clock_reset"] += 1
        self._observe_rate(start, n)
        self.stats.frames += 1
        self.stats.samples += n
        return DecodedSamples(
            acc=fields["acc"],
            gyr=fields.get("gyr"),
            mag=fields.get("mag"),
            device_time=start / 1000.0 + np.arange(n) / self.rate_hz,
        )

    def _observe_rate(self, start_ms: int, n: int) -> None:
        """Follow the sensor's real rate when it differs from the subscribed path (the daemon
        may have subscribed another rate): a packet's span is the previous packet's samples.
        Lost packets can only make the rate look slower, so slowing down takes more evidence."""
        previous, self._previous_packet = self._previous_packet, (start_ms, n)
        if previous is None or start_ms <= previous[0]:
            return
        estimate = previous[1] * 1000.0 / (start_ms - previous[0])
        nearest = min(RATES_HZ, key=lambda r: abs(r - estimate) / r)
        if abs(nearest - estimate) / nearest > RATE_TOLERANCE or nearest == self.rate_hz:
            self._rate_votes = (0, 0)
            return
        votes = self._rate_votes[1] + 1 if self._rate_votes[0] == nearest else 1
        self._rate_votes = (nearest, votes)
        if votes >= (RATE_VOTES_TO_SWITCH if nearest > self.rate_hz else RATE_VOTES_TO_SLOW_DOWN):
            self.rate_hz = nearest
            self.rate_changes += 1
            self._rate_votes = (0, 0)

"""The posturewatch reference protocol (PWRP v1) for DIY sensor firmware: encoder and decoder.

Specified in ``docs/reference-protocol.md``; this module is the reference implementation of both
sides. In short: an info characteristic (read once) gives the sample rate and the scale of each
int16 quantity; data notifications carry frames of ``[version|mask][count][seq u16][t0 u32 µs]``
+ int16 samples + CRC-16/CCITT-FALSE. A frame longer than one notification is sent as a start
notification plus numbered continuations (``F1``, ``F2`` …).
"""

from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass

import numpy as np

from posturewatch.ingest.protocols.base import (
    DecodedSamples,
    Decoder,
    GattWrite,
)
from posturewatch.ingest.protocols.counters import CounterUnwrapper, Step


def pwrp_uuid(short: int) -> str:
    """A PWRP UUID from its 16-bit short form, on our own 128-bit base."""
    return f"5057{short:04x}-d30b-40b0-b5de-b63e0032add7"


SERVICE_UUID = pwrp_uuid(0x0001)
DATA_UUID = pwrp_uuid(0x0002)
INFO_UUID = pwrp_uuid(0x0003)
CONTROL_UUID = pwrp_uuid(0x0004)

VERSION = 1
MASK_ACC, MASK_GYR, MASK_MAG = 0x1, 0x2, 0x4
HEADER = struct.Struct("<BBHI")  # version|mask, count, seq, t0_us
CRC_LEN = 2
COUNTS_PER_VECTOR = 3
CONTINUATION = 0xF0
MAX_CONTINUATIONS = 15
DEFAULT_MAX_PAYLOAD = 20  # ATT_MTU 23 − 3: what every central supports

INFO = struct.Struct("<BBHffff")  # version, mask, max_payload, rate, acc/gyr/mag scale
INFO_LEN = INFO.size + CRC_LEN

OP_START, OP_STOP, OP_SET_RATE, OP_SET_TIME = 0x01, 0x02, 0x03, 0x04
STATUS_FLAG = 0x80
STATUS_NAMES = {0: "ok", 1: "unknown_opcode", 2: "bad_argument", 3: "not_allowed_now"}


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor)."""
    return binascii.crc_hqx(data, 0xFFFF)


def sample_stride(mask: int) -> int:
    """Bytes per sample for a sensor mask: 6 per present 3-axis sensor."""
    return 2 * COUNTS_PER_VECTOR * bin(mask & 0x7).count("1")


def frame_length(mask: int, count: int) -> int:
    return HEADER.size + count * sample_stride(mask) + CRC_LEN


def samples_per_frame(mask: int, max_payload: int) -> int:
    """The most samples a frame can hold without fragmenting (at least 1, at most 255)."""
    fit = (max_payload - HEADER.size - CRC_LEN) // sample_stride(mask)
    return int(min(255, max(1, fit)))


@dataclass(frozen=True)
class PwrpInfo:
    """Contents of the info characteristic: what the data frames mean."""

    rate_hz: float
    acc_scale: float  # m/s² per count
    gyr_scale: float = 0.0  # rad/s per count, 0 when there is no gyroscope
    mag_scale: float = 0.0  # µT per count, 0 when there is no magnetometer
    max_payload: int = DEFAULT_MAX_PAYLOAD
    version: int = VERSION

    @property
    def sensor_mask(self) -> int:
        return MASK_ACC | (MASK_GYR if self.gyr_scale else 0) | (MASK_MAG if self.mag_scale else 0)


def encode_info(info: PwrpInfo) -> bytes:
    """The info characteristic value for ``info`` (22 bytes, CRC-protected)."""
    body = INFO.pack(
        info.version, info.sensor_mask, info.max_payload,
        info.rate_hz, info.acc_scale, info.gyr_scale, info.mag_scale,
    )
    return body + crc16(body).to_bytes(2, "little")


def decode_info(data: bytes) -> PwrpInfo:
    """Parse the info characteristic; ValueError saying what is wrong with it."""
    data = bytes(data)
    if len(data) < INFO_LEN:
        raise ValueError(f"PWRP info is {len(data)} bytes, expected {INFO_LEN}")
    body = data[: INFO.size]
    if crc16(body) != int.from_bytes(data[INFO.size : INFO_LEN], "little"):
        raise ValueError("PWRP info CRC mismatch")
    version, mask, max_payload, rate, acc, gyr, mag = INFO.unpack(body)
    if version != VERSION:
        raise ValueError(f"PWRP version {version} not supported (this host speaks {VERSION})")
    info = PwrpInfo(rate, acc, gyr, mag, max_payload, version)
    scales = np.array([rate, acc, gyr, mag])
    if not (np.all(np.isfinite(scales)) and rate > 0 and acc > 0 and gyr >= 0 and mag >= 0):
        raise ValueError(f"PWRP info has impossible rate/scales {scales.tolist()}")
    if mask != info.sensor_mask:
        raise ValueError(f"PWRP info sensor mask 0x{mask:x} disagrees with its scales")
    return info


def quantize(values: np.ndarray, scale: float) -> np.ndarray:
    """Physical values → int16 counts at ``scale`` units per count (rounded, saturated)."""
    counts = np.rint(np.asarray(values, dtype=np.float64) / scale)
    return np.clip(counts, -32768, 32767).astype(np.int16)


def encode_frame(
    seq: int,
    t0_us: int,
    acc: np.ndarray,
    gyr: np.ndarray | None = None,
    mag: np.ndarray | None = None,
) -> bytes:
    """One data frame from int16 counts: (n, 3) acc [, gyr, mag]; seq/t0 are taken modulo
    their field widths, as firmware counters wrap."""
    parts = [np.asarray(a) for a in (acc, gyr, mag) if a is not None]
    n = len(parts[0])
    if not 1 <= n <= 255 or any(p.shape != (n, COUNTS_PER_VECTOR) for p in parts):
        raise ValueError("encode_frame needs 1..255 samples, every array shaped (n, 3)")
    mask = MASK_ACC | (MASK_GYR if gyr is not None else 0) | (MASK_MAG if mag is not None else 0)
    samples = np.concatenate([p.astype("<i2") for p in parts], axis=1)
    head = HEADER.pack((VERSION << 4) | mask, n, seq % 65536, t0_us % (1 << 32))
    body = head + samples.tobytes()
    return body + crc16(body).to_bytes(2, "little")


def fragment(frame: bytes, max_payload: int) -> list[bytes]:
    """Split a frame into notifications of at most ``max_payload`` bytes (start + F1, F2, …)."""
    if max_payload < HEADER.size + 1:
        raise ValueError(f"max_payload {max_payload} cannot even hold a frame header")
    pieces = [frame[:max_payload]]
    rest = frame[max_payload:]
    step = max_payload - 1
    while rest:
        if len(pieces) > MAX_CONTINUATIONS:
            raise ValueError("frame needs more than 15 continuations; send fewer samples")
        pieces.append(bytes((CONTINUATION | len(pieces),)) + rest[:step])
        rest = rest[step:]
    return pieces


def start_write() -> GattWrite:
    return GattWrite(CONTROL_UUID, bytes((OP_START,)))


def stop_write() -> GattWrite:
    return GattWrite(CONTROL_UUID, bytes((OP_STOP,)))


def set_rate_write(rate_hz: float) -> GattWrite:
    """Ask for a sample rate (only while stopped); re-read the info for the rate granted."""
    return GattWrite(CONTROL_UUID, bytes((OP_SET_RATE,)) + struct.pack("<f", rate_hz))


def set_time_write(unix_us: int) -> GattWrite:
    """Optional: set the device clock so ``t0`` becomes Unix microseconds modulo 2³²."""
    return GattWrite(CONTROL_UUID, bytes((OP_SET_TIME,)) + struct.pack("<Q", unix_us))



class PwrpDecoder(Decoder):
    """Decodes PWRP v1 notifications into sample blocks with unwrapped seq and device time.

    Needs the info characteristic first (``configure`` or ``feed(info, INFO_UUID)``); frames
    before that are counted as ``not_configured``. ``lost_samples`` adds up the sequence gaps;
    ``last_status`` holds the latest control-point reply as (opcode, status name).
    """

    def __init__(self, info: PwrpInfo | None = None) -> None:
        super().__init__()
        self.info = info
        self.lost_samples = 0
        self.last_status: tuple[int, str] | None = None
        self._clock = CounterUnwrapper(32)
        self.reset()

    def configure(self, info_bytes: bytes) -> bool:
        """Take the info characteristic's value; False (and counted) when it is unusable."""
        try:
            self.info = decode_info(info_bytes)
        except ValueError:
            self.stats.bad["bad_info"] += 1
            return False
        return True

    def reset(self) -> None:
        self._pending = b""
        self._pending_total = 0
        self._next_part = 0
        self._next_seq: int | None = None
        self._next_t_us = 0
        self._clock.reset()

    def feed(self, data: bytes, char_uuid: str | None = None) -> DecodedSamples | None:
        data = bytes(data)
        uuid = char_uuid.lower() if char_uuid else None
        if uuid == INFO_UUID:
            self.configure(data)
            return None
        if not data:
            self.stats.bad["truncated"] += 1
            return None
        lead = data[0]
        if uuid == CONTROL_UUID or (uuid is None and (lead & 0xF0) in (0x80, 0x90)):
            return self._status(data)
        if lead & 0xF0 == CONTINUATION:
            return self._continuation(data)
        if lead >> 4 == VERSION:
            return self._start(data)
        kind = "unsupported_version" if 1 < lead >> 4 < 0x8 else "unknown_type"
        self.stats.bad[kind] += 1
        return None

    def _status(self, data: bytes) -> None:
        if len(data) < 2 or not data[0] & STATUS_FLAG:
            self.stats.bad["bad_status"] += 1
            return None
        self.last_status = (data[0] & 0x7F, STATUS_NAMES.get(data[1], f"status_{data[1]}"))
        return None

    def _drop_pending(self) -> None:
        if self._pending:
            self.stats.bad["truncated"] += 1
        self._pending, self._pending_total, self._next_part = b"", 0, 0

    def _start(self, data: bytes) -> DecodedSamples | None:
        self._drop_pending()
        if len(data) < HEADER.size:
            self.stats.bad["truncated"] += 1
            return None
        count = data[1]
        if count == 0 or not data[0] & MASK_ACC:
            self.stats.bad["bad_header"] += 1
            return None
        total = frame_length(data[0] & 0x0F, count)
        if len(data) >= total:
            return self._complete(data, total)
        self._pending, self._pending_total, self._next_part = data, total, 1
        return None

    def _continuation(self, data: bytes) -> DecodedSamples | None:
        part = data[0] & 0x0F
        if not self._pending:
            self.stats.bad["orphan_part"] += 1
            return None
        if part != self._next_part:
            self._drop_pending()
            self.stats.bad["orphan_part"] += 1
            return None
        self._pending += data[1:]
        self._next_part += 1
        if len(self._pending) < self._pending_total:
            return None
        frame, total = self._pending, self._pending_total
        self._pending, self._pending_total, self._next_part = b"", 0, 0
        return self._complete(frame, total)

    def _complete(self, frame: bytes, total: int) -> DecodedSamples | None:
        if len(frame) != total:
            self.stats.bad["bad_length"] += 1
            return None
        if crc16(frame[:-CRC_LEN]) != int.from_bytes(frame[-CRC_LEN:], "little"):
            self.stats.bad["bad_checksum"] += 1
            return None
        info = self.info
        if info is None:
            self.stats.bad["not_configured"] += 1
            return None
        lead, count, seq, t0 = HEADER.unpack_from(frame)
        mask = lead & 0x0F
        if mask != info.sensor_mask:
            self.stats.bad["config_mismatch"] += 1
            return None
        start_us, step = self._clock.unwrap(t0)
        if start_us is None:
            self.stats.bad["clock_backwards"] += 1
            return None
        if step is Step.REANCHORED:
            self.stats.bad["clock_reset"] += 1
        first_seq = self._unwrap_seq(seq, start_us, info.rate_hz)
        if first_seq is None:
            self.stats.bad["seq_backwards"] += 1
            return None
        counts = np.frombuffer(frame, dtype="<i2", offset=HEADER.size, count=count * sample_stride(mask) // 2)
        counts = counts.reshape(count, -1).astype(np.float64)
        offset = np.arange(count)
        self._next_seq = first_seq + count
        self._next_t_us = start_us + count * 1e6 / info.rate_hz
        self.stats.frames += 1
        self.stats.samples += count
        column = 3
        gyr = mag = None
        if mask & MASK_GYR:
            gyr = counts[:, column : column + 3] * info.gyr_scale
            column += 3
        if mask & MASK_MAG:
            mag = counts[:, column : column + 3] * info.mag_scale
        return DecodedSamples(
            acc=counts[:, 0:3] * info.acc_scale,
            gyr=gyr,
            mag=mag,
            device_time=start_us * 1e-6 + offset / info.rate_hz,
            seq=first_seq + offset,
        )

    def _unwrap_seq(self, seq: int, start_us: int, rate_hz: float) -> int | None:
        """Unwrapped first-sample index. The 16-bit gap is resolved with the clock: of the gaps
        ≡ seq − expected (mod 2¹⁶) the one closest to the elapsed time × rate is taken."""
        if self._next_seq is None:
            return seq
        residue = (seq - self._next_seq) % 65536
        predicted = (start_us - self._next_t_us) * rate_hz / 1e6
        gap = residue + 65536 * round((predicted - residue) / 65536)
        if gap < 0:
            return None
        self.lost_samples += gap
        return self._next_seq + gap

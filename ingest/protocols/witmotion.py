"""WitMotion BLE 5.0 IMUs (WT9011DCL, BWT901BLECL5.0, WT901BLE…): decoder and command builders.

The sensor streams 20-byte ``55 61`` frames (acc, gyro, Euler angles as int16, no checksum, no
counter, no timestamp) on FFE4, batched several per notification and sometimes split across
notifications, so the notifications are treated as one byte stream. Register reads (``FF AA 27
<reg> 00`` on FFE9) are answered with ``55 71`` frames interleaved in the same stream; they carry
the magnetometer, quaternion, battery voltage and the magnetometer chip type that sets the
magnetometer's scale.

Framing without a checksum: a candidate frame starts at ``55 61``/``55 71``. It is accepted when
the next frame header follows it directly, when the data ends with it, or when no other header
starts inside it. A candidate that swallows the start of another header (a frame truncated by a
lost notification and glued to the next one) is rejected and counted, and the scan resumes at
the header inside it.

Structure cannot reject a truncated frame glued to junk without a header (a garbage notification)
when the junk fills it up: a frame followed by junk looks exactly like that. Its content can: a
data frame whose acceleration or rotation rate jumps from the previous sample far beyond both an
absolute limit and the stream's own recent sample-to-sample variability is rejected and counted
as ``implausible_jump`` (after a few such frames in a row the stream is believed again).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from posturewatch.ingest.protocols.base import (
    DecodedSamples,
    Decoder,
    GattWrite,
)
from posturewatch.ingest.records import GRAVITY

# WitMotion uses ...-00805f9a34fb ("9a"), not the Bluetooth SIG base ...-00805f9b34fb.
SERVICE_UUID = "0000ffe5-0000-1000-8000-00805f9a34fb"
NOTIFY_UUID = "0000ffe4-0000-1000-8000-00805f9a34fb"
WRITE_UUID = "0000ffe9-0000-1000-8000-00805f9a34fb"

FRAME_LEN = 20
HEADER = 0x55
DATA_FLAG = 0x61
REPLY_FLAG = 0x71

ACC_MS2_PER_COUNT = 16.0 / 32768.0 * GRAVITY
GYR_RADS_PER_COUNT = np.deg2rad(2000.0 / 32768.0)
ANGLE_DEG_PER_COUNT = 180.0 / 32768.0
QUAT_PER_COUNT = 1.0 / 32768.0

REG_RATE = 0x03
REG_MAG = 0x3A
REG_TEMPERATURE = 0x40
REG_QUAT = 0x51
REG_BATTERY = 0x64
REG_MAG_CHIP = 0x72

UNLOCK = bytes.fromhex("ffaa6988b5")
SAVE = bytes.fromhex("ffaa000000")
# The vendor examples pause ~100 ms between unlock, register write and save.
COMMAND_PAUSE_S = 0.1

# Return-rate register codes. 200 Hz is 0x0B in the serial WIT docs and most code, 0x0A in one
# BLE manual: callers can override with ``rate_code_200hz``.
RATE_CODES: dict[float, int] = {
    0.2: 0x01, 0.5: 0x02, 1.0: 0x03, 2.0: 0x04, 5.0: 0x05,
    10.0: 0x06, 20.0: 0x07, 50.0: 0x08, 100.0: 0x09, 200.0: 0x0B,
}

# Register 0x72 (magnetometer chip) → µT per raw count, from the vendor's mag helper.
MAG_UT_PER_COUNT: dict[int, float] = {
    2: 0.15, 3: 0.013, 4: 0.058, 5: 0.098, 6: 1.0 / 120.0, 7: 0.020,
}

# Battery voltage (0.01 V) → percent, the vendor SDK's step table: (lowest raw value, percent).
_BATTERY_STEPS: tuple[tuple[int, int], ...] = (
    (396, 100), (393, 90), (387, 75), (382, 60), (379, 50), (377, 40),
    (373, 30), (370, 20), (368, 15), (350, 10), (340, 5),
)

NOMINAL_RATE_HZ = 50.0

# A jump is implausible beyond both an absolute floor and a multiple of the stream's recent
# median jump: random bytes land anywhere in ±16 g / ±2000 °/s, real limbs change smoothly.
JUMP_FLOOR_ACC_MS2 = 5.0 * GRAVITY
JUMP_FLOOR_GYR_RADS = np.deg2rad(500.0)
JUMP_MEDIAN_FACTOR = 8.0
JUMP_HISTORY = 64
JUMP_MIN_HISTORY = 8
JUMP_REFRESH = 16  # frames between recomputations of the typical jump
JUMP_REJECTS_BEFORE_BELIEVING = 2


def register_command(reg: int, value: int) -> bytes:
    """``FF AA <reg> <lo> <hi>``: write a 16-bit value to a register (unlock first)."""
    if not (0 <= reg <= 0xFF and 0 <= value <= 0xFFFF):
        raise ValueError(f"register 0x{reg:x} / value {value} out of range")
    return bytes((0xFF, 0xAA, reg, value & 0xFF, value >> 8))


def read_register_write(reg: int) -> GattWrite:
    """Ask for 8 registers starting at ``reg``; the reply comes back as a ``55 71`` frame."""
    return GattWrite(WRITE_UUID, register_command(0x27, reg), response=False)


def rate_command_sequence(
    rate_hz: float, *, save: bool = False, rate_code_200hz: int = 0x0B
) -> tuple[GattWrite, ...]:
    """The writes that set the return rate: unlock, pause, rate, (pause, save).

    Without ``save`` the rate lasts until the sensor powers off, which spares its flash; the
    daemon sends this on every connect anyway. Raises ValueError for a rate the sensor lacks.
    """
    codes = dict(RATE_CODES)
    codes[200.0] = rate_code_200hz
    code = codes.get(float(rate_hz))
    if code is None:
        raise ValueError(f"WitMotion has no {rate_hz} Hz rate; choose one of {sorted(codes)}")
    writes = [
        GattWrite(WRITE_UUID, UNLOCK, response=False, delay_after_s=COMMAND_PAUSE_S),
        GattWrite(
            WRITE_UUID,
            register_command(REG_RATE, code),
            response=False,
            delay_after_s=COMMAND_PAUSE_S if save else 0.0,
        ),
    ]
    if save:
        writes.append(GattWrite(WRITE_UUID, SAVE, response=False))
    return tuple(writes)


def battery_percent(raw_centivolts: int) -> int:
    """The vendor's voltage → percent step table (register 0x64, 0.01 V units)."""
    for lowest, percent in _BATTERY_STEPS:
        if raw_centivolts >= lowest:
            return percent
    return 0


def _header_mask(buf: np.ndarray) -> np.ndarray:
    """True at every index where a ``55 61`` or ``55 71`` header starts."""
    mask = np.zeros(len(buf), dtype=bool)
    if len(buf) >= 2:
        mask[:-1] = (buf[:-1] == HEADER) & ((buf[1:] == DATA_FLAG) | (buf[1:] == REPLY_FLAG))
    return mask


def _whole_frames(buf: bytes) -> bool:
    """True when ``buf`` is whole frames back to back, each starting with a valid header: the
    same frames the general search would accept, found with a few byte slices instead."""
    n = len(buf)
    return (n > 0 and n % FRAME_LEN == 0 and buf[::FRAME_LEN].count(HEADER) == n // FRAME_LEN
            and set(buf[1::FRAME_LEN]) <= _FLAGS)


_FLAGS = {DATA_FLAG, REPLY_FLAG}


class WitMotionDecoder(Decoder):
    """Byte-stream decoder for WitMotion BLE 5.0 notifications.

    State between notifications: the unfinished tail of the stream, the register values seen in
    ``55 71`` replies (``registers``), and the latest magnetometer reading. Data frames decoded
    within ``mag_hold_frames`` frames of a magnetometer reply carry that reading as ``mag``
    (the sensor only reports the magnetometer when polled); a block gets ``mag`` only when all its
    frames are that fresh and the chip type (register 0x72) is known or given as ``mag_chip``.
    """

    def __init__(self, mag_chip: int | None = None, mag_hold_frames: int = 25) -> None:
        super().__init__()
        self.default_mag_chip = mag_chip
        self.mag_hold_frames = mag_hold_frames
        self.bytes_skipped = 0
        self._jumps: deque[tuple[float, float]] = deque(maxlen=JUMP_HISTORY)
        self._jumps_added = 0
        self._limits: tuple[float, float] | None = None
        self.reset()

    def reset(self) -> None:
        self._tail = b""
        self.registers: dict[int, int] = {}
        self.euler_deg: np.ndarray | None = None
        self.quaternion: np.ndarray | None = None
        self.magnetic_field_ut: np.ndarray | None = None
        self._mag_age = 1 << 30  # data frames since the last magnetometer reply
        # the wearer's typical jumps outlive a reconnect; the last sample does not
        self._last_motion: np.ndarray | None = None  # acc (m/s²) and gyro (rad/s)
        self._rejected_run = 0

    @property
    def mag_chip(self) -> int | None:
        return self.registers.get(REG_MAG_CHIP, self.default_mag_chip)

    @property
    def battery_volts(self) -> float | None:
        raw = self.registers.get(REG_BATTERY)
        return None if raw is None else (raw & 0xFFFF) / 100.0

    @property
    def temperature_c(self) -> float | None:
        raw = self.registers.get(REG_TEMPERATURE)
        return None if raw is None else raw / 100.0

    def feed(self, data: bytes, char_uuid: str | None = None) -> DecodedSamples | None:
        buf = self._tail + bytes(data)
        if _whole_frames(buf):  # the usual notification: frames back to back, nothing left over
            self._tail = b""
            return self._decode_frames(np.frombuffer(buf, dtype=np.uint8).reshape(-1, FRAME_LEN))
        starts, resume = self._frame_starts(buf)
        self._tail = buf[resume:]
        if not len(starts):
            return None
        arr = np.frombuffer(buf, dtype=np.uint8)
        frames = arr[starts[:, None] + np.arange(FRAME_LEN)]
        return self._decode_frames(frames)

    def _frame_starts(self, buf: bytes) -> tuple[np.ndarray, int]:
        """Offsets of accepted frames in ``buf`` and where the unconsumed tail begins."""
        arr = np.frombuffer(buf, dtype=np.uint8)
        n = len(arr)
        is_header = _header_mask(arr)
        header_pos = np.flatnonzero(is_header)
        accepted: list[np.ndarray] = []
        p = 0
        while p < n:
            i = np.searchsorted(header_pos, p)
            if i == len(header_pos):
                # keep a trailing lone 0x55: it may be the first byte of the next header
                keep = n - 1 if arr[-1] == HEADER and p <= n - 1 else n
                self._skip(keep - p)
                return self._joined(accepted), keep
            start = int(header_pos[i])
            self._skip(start - p)
            p = start
            if p + FRAME_LEN > n:
                break
            run_len = (n - p) // FRAME_LEN
            aligned = is_header[p + FRAME_LEN * np.arange(run_len)]
            k = run_len if aligned.all() else int(np.argmin(aligned))
            last = p + FRAME_LEN * (k - 1)
            if self._last_frame_ok(arr, is_header, last):
                accepted.append(p + FRAME_LEN * np.arange(k))
                p = last + FRAME_LEN
            else:
                if k > 1:
                    accepted.append(p + FRAME_LEN * np.arange(k - 1))
                self.stats.bad["truncated"] += 1
                # resume at the header found inside the rejected candidate
                inner = header_pos[(header_pos > last) & (header_pos < last + FRAME_LEN)]
                p = int(inner[0])
        return self._joined(accepted), p

    @staticmethod
    def _last_frame_ok(arr: np.ndarray, is_header: np.ndarray, start: int) -> bool:
        end = start + FRAME_LEN
        n = len(arr)
        if end == n or is_header[end] or (end == n - 1 and arr[end] == HEADER):
            return True
        return not is_header[start + 1 : end].any()

    def _skip(self, count: int) -> None:
        if count > 0:
            self.bytes_skipped += count
            self.stats.bad["bad_header"] += 1

    @staticmethod
    def _joined(parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.intp)

    def _decode_frames(self, frames: np.ndarray) -> DecodedSamples | None:
        is_data = frames[:, 1] == DATA_FLAG
        values = frames[:, 2:].copy().view("<i2")  # (k, 9)
        reply_rows = np.flatnonzero(~is_data)
        # data-frame ordinal at which each magnetometer reply landed, to age held readings
        mag_updates: list[tuple[int, np.ndarray]] = []
        for row in reply_rows:
            mag = self._apply_reply(frames[row])
            if mag is not None:
                mag_updates.append((int(np.count_nonzero(is_data[:row])), mag))
        raw = values[is_data]
        if len(raw) == 0:
            return None
        motion = np.concatenate([raw[:, 0:3] * ACC_MS2_PER_COUNT, raw[:, 3:6] * GYR_RADS_PER_COUNT], 1)
        keep = self._plausible(motion)
        if not keep.all():
            raw, motion = raw[keep], motion[keep]
            # magnetometer replies keep their place among the data frames that remain
            kept_before = np.concatenate([[0], np.cumsum(keep)])
            mag_updates = [(int(kept_before[o]), m) for o, m in mag_updates]
        n = len(raw)
        if n == 0:
            return None
        self.stats.frames += n
        self.stats.samples += n
        self.euler_deg = raw[-1, 6:9] * ANGLE_DEG_PER_COUNT
        return DecodedSamples(acc=motion[:, 0:3], gyr=motion[:, 3:6], mag=self._held_mag(n, mag_updates))

    def _plausible(self, motion: np.ndarray) -> np.ndarray:
        """Which data frames to keep: see the module docstring on implausible jumps."""
        previous = motion[:1] if self._last_motion is None else self._last_motion[None, :]
        steps = np.diff(np.concatenate([previous, motion]), axis=0)
        d_acc = np.sqrt(np.einsum("ij,ij->i", steps[:, 0:3], steps[:, 0:3]))
        d_gyr = np.sqrt(np.einsum("ij,ij->i", steps[:, 3:6], steps[:, 3:6]))
        keep = np.ones(len(motion), dtype=bool)
        limits = self._jump_limits()
        if limits is not None and np.any((d_acc > limits[0]) | (d_gyr > limits[1])):
            keep = self._resolve_jumps(motion, *limits)
            d_acc, d_gyr = d_acc[keep], d_gyr[keep]  # the steps of kept frames after a rejection
        else:  # are approximate: they only feed the typical jump size
            self._rejected_run = 0
        if keep.any():
            start = 0 if self._last_motion is not None else 1
            self._jumps.extend(zip(d_acc[start:].tolist(), d_gyr[start:].tolist(), strict=True))
            self._jumps_added += len(d_acc) - start
            self._last_motion = motion[keep][-1]
        return keep

    def _jump_limits(self) -> tuple[float, float] | None:
        """Absolute floor or a multiple of the recent median jump, refreshed every few frames."""
        if len(self._jumps) < JUMP_MIN_HISTORY:
            return None
        if self._limits is None or self._jumps_added >= JUMP_REFRESH:
            typical = np.median(np.asarray(self._jumps), axis=0) * JUMP_MEDIAN_FACTOR
            self._limits = (max(JUMP_FLOOR_ACC_MS2, float(typical[0])),
                            max(JUMP_FLOOR_GYR_RADS, float(typical[1])))
            self._jumps_added = 0
        return self._limits

    def _resolve_jumps(self, motion: np.ndarray, limit_acc: float, limit_gyr: float) -> np.ndarray:
        """Frame by frame (rare: only a block with a suspicious jump), each against the last kept;
        with nothing before it (a new connection) the first frame must agree with the second."""
        def jumps(a: np.ndarray, b: np.ndarray) -> bool:
            step = a - b
            return np.linalg.norm(step[0:3]) > limit_acc or np.linalg.norm(step[3:6]) > limit_gyr

        keep = np.ones(len(motion), dtype=bool)
        last, first = self._last_motion, 0
        if last is None:  # then the jump is at index ≥ 1: the block has two frames at least
            last, first = motion[0], 1
            if jumps(motion[1], motion[0]):
                keep[0], last = False, motion[1]
                self.stats.bad["implausible_jump"] += 1
        for i in range(first, len(motion)):
            if jumps(motion[i], last) and self._rejected_run < JUMP_REJECTS_BEFORE_BELIEVING:
                keep[i] = False
                self._rejected_run += 1
                self.stats.bad["implausible_jump"] += 1
            else:
                self._rejected_run, last = 0, motion[i]
        return keep

    def _apply_reply(self, frame: np.ndarray) -> np.ndarray | None:
        """Store the 8 registers of a ``55 71`` reply; the µT vector if it held the magnetometer."""
        start = int(frame[2]) | (int(frame[3]) << 8)
        if start > 0xFF:
            self.stats.bad["implausible_value"] += 1
            return None
        self.stats.frames += 1
        regs = frame[4:20].copy().view("<i2").astype(int)
        for offset, value in enumerate(regs):
            self.registers[start + offset] = int(value)
        if start <= REG_QUAT and start + 8 > REG_QUAT + 3:
            q = regs[REG_QUAT - start : REG_QUAT - start + 4] * QUAT_PER_COUNT
            self.quaternion = q.astype(float)
        if start <= REG_MAG and start + 8 > REG_MAG + 2:
            scale = MAG_UT_PER_COUNT.get(self.mag_chip) if self.mag_chip is not None else None
            if scale is not None:
                return regs[REG_MAG - start : REG_MAG - start + 3] * scale
        return None

    def _held_mag(
        self, n: int, updates: list[tuple[int, np.ndarray]]
    ) -> np.ndarray | None:
        """Sample-and-hold of the polled magnetometer, None unless every frame is fresh."""
        mag = np.empty((n, 3))
        age = np.empty(n, dtype=np.int64)
        held, held_age, since = self.magnetic_field_ut, self._mag_age, 0
        for ordinal, reading in updates:
            if ordinal > since:
                mag[since:ordinal] = held if held is not None else np.nan
                age[since:ordinal] = held_age + np.arange(ordinal - since)
                held_age += ordinal - since
            since, held, held_age = max(since, ordinal), reading, 0
        if held is not None:
            mag[since:] = held
        age[since:] = held_age + np.arange(n - since)
        self.magnetic_field_ut = held
        self._mag_age = held_age + (n - since)
        fresh = held is not None and self.mag_hold_frames > 0
        if not fresh or np.isnan(mag).any() or age.max() >= self.mag_hold_frames:
            return None
        return mag

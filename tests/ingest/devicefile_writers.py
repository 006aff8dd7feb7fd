"""Test-only writers of device files, built from the makers' public format descriptions.

- Axivity CWA: a 1024-byte "MD" header, then 512-byte "AX" data blocks whose 16-bit words sum to
  zero; AX3 samples packed 10-bit x/y/z with a shared 2-bit exponent (1/256 g), AX6 samples six
  little-endian int16 (gyroscope first, then accelerometer). Block times are packed local
  wall-clock seconds; ``timestampOffset`` names the sample that falls on that second.
- ActiGraph GT3X: a zip holding ``info.txt`` ("Key: Value" lines) and ``log.bin`` records
  (0x1E, type, local Unix seconds, payload size, payload, checksum); ACTIVITY records hold one
  second of 12-bit big-endian samples in y, x, z order, PARAMETERS give rate and scale.
- GENEActiv BIN: a text header, then pages of 9 text lines and one hex line of 6-byte samples
  (12-bit x, y, z, 10-bit light, button, reserved), calibrated as (raw·100 − offset) / gain.

Acceleration goes in as g, angular rate as deg/s, times as Unix seconds in UTC; the writers turn
them into the device's local time with the declared offset, as a device set to that zone would.
"""

from __future__ import annotations

import struct
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

CWA_RATE_CODES = {6.25: 6, 12.5: 7, 25: 8, 50: 9, 100: 10, 200: 11, 400: 12, 800: 13, 1600: 14, 3200: 15}
CWA_RANGE_CODES = {16: 0, 8: 1, 4: 2, 2: 3}


def _cwa_time(local: float) -> int:
    d = datetime.fromtimestamp(int(local), UTC)
    return ((d.year - 2000) << 26 | d.month << 22 | d.day << 17 | d.hour << 12 | d.minute << 6
            | d.second)


def _checksummed(block: bytearray) -> bytes:
    words = np.frombuffer(bytes(block[:510]), dtype="<u2")
    struct.pack_into("<H", block, 510, (-int(words.sum())) & 0xFFFF)
    return bytes(block)


def _pack_ax3(raw: np.ndarray) -> np.ndarray:
    """(N, 3) int counts of 1/256 g → packed 32-bit words with the smallest exponent that fits."""
    peak = np.abs(raw).max(axis=1)
    exp = np.zeros(len(raw), np.int64)
    for e in (1, 2, 3):
        exp[peak > (511 << (e - 1))] = e
    mant = np.right_shift(raw, exp[:, None]) & 0x3FF
    return (mant[:, 0] | mant[:, 1] << 10 | mant[:, 2] << 20 | exp << 30).astype("<u4")


def write_cwa(path: Path, t0: float, rate: float, acc_g: np.ndarray, gyro_dps: np.ndarray | None = None,
              range_g: int = 8, tz_minutes: int = 0, device_id: int = 43210, session_id: int = 7,
              corrupt_blocks: tuple[int, ...] = ()) -> dict:
    """An AX3 file (``gyro_dps`` None, packed) or an AX6 file (6-axis int16, ±2000 °/s).

    ``t0`` must fall on a whole sample of ``rate`` within its second. Returns what was stored
    (quantised acceleration in g, rate in deg/s, per-sample UTC times) for comparison.
    """
    n = len(acc_g)
    ax6 = gyro_dps is not None
    per_block = 40 if ax6 else 120
    accel_code = 3 if ax6 else 0  # 1/2048 g (AX6 16-bit) or 1/256 g (AX3 packed)
    gyro_code = 2  # 8000 / 2**2 = 2000 °/s full scale
    acc_raw = np.round(acc_g * (1 << (8 + accel_code))).astype(np.int64)
    gyr_raw = None
    if ax6:
        gyr_raw = np.clip(np.round(gyro_dps * 32768 / 2000.0), -32768, 32767).astype(np.int64)
    rate_byte = CWA_RANGE_CODES[range_g] << 6 | CWA_RATE_CODES[rate]
    header = bytearray(b"\xff" * 1024)
    struct.pack_into("<2sHBHIH", header, 0, b"MD", 1020, 0x64 if ax6 else 0x00, device_id & 0xFFFF,
                     session_id, device_id >> 16)
    struct.pack_into("<IIIB", header, 13, _cwa_time(t0 + tz_minutes * 60), 0, 0, 0)
    header[36] = rate_byte
    header[41] = 50
    struct.pack_into("<h", header, 42, tz_minutes)
    header[64:64 + 448] = b"\x00" * 448
    blocks = []
    for k, start in enumerate(range(0, n, per_block)):
        stop = min(start + per_block, n)
        s0 = t0 + start / rate + tz_minutes * 60  # local time of the block's first sample
        whole = int(np.ceil(s0 - 1e-9))
        offset = int(round((whole - s0) * rate))
        block = bytearray(512)
        light_scale = accel_code << 13 | (gyro_code << 10 if ax6 else 0) | 100
        struct.pack_into("<2sHHII", block, 0, b"AX", 508, 0, session_id, k)
        struct.pack_into("<IHHBBBBhH", block, 14, _cwa_time(whole), light_scale, 300, 0, 200,
                         rate_byte, 0x62 if ax6 else 0x30, offset, stop - start)
        if ax6:
            samples = np.column_stack([gyr_raw[start:stop], acc_raw[start:stop]]).astype("<i2")
        else:
            samples = _pack_ax3(acc_raw[start:stop])
        raw = samples.tobytes()
        block[30:30 + len(raw)] = raw
        blocks.append(_checksummed(block))
    for k in corrupt_blocks:  # a flash fault: bytes changed after the checksum was written
        b = bytearray(blocks[k])
        b[40:48] = b"\x5a" * 8
        blocks[k] = bytes(b)
    Path(path).write_bytes(bytes(header) + b"".join(blocks))
    stored_acc = acc_raw / float(1 << (8 + accel_code))
    if not ax6:
        stored_acc = np.column_stack([_unpack_ax3(_pack_ax3(acc_raw), i) for i in range(3)]) / 256.0
    return {
        "t": t0 + np.arange(n) / rate,
        "acc_g": stored_acc,
        "gyro_dps": None if gyr_raw is None else gyr_raw * 2000.0 / 32768,
        "per_block": per_block,
    }


def _unpack_ax3(words: np.ndarray, axis: int) -> np.ndarray:
    w = words.astype(np.int64)
    v = (w >> (10 * axis)) & 0x3FF
    v = np.where(v >= 512, v - 1024, v)
    return v << ((w >> 30) & 3)


def _ssp(value: float) -> int:
    """ActiGraph's float encoding: 24-bit two's-complement fraction (×2^23), 8-bit exponent."""
    if value == 0:
        return 0
    exponent = int(np.floor(np.log2(abs(value)))) + 1
    fraction = int(abs(value) / 2.0**exponent * 2**23)
    if value < 0:
        fraction = -fraction
    return (fraction & 0xFFFFFF) | (exponent & 0xFF) << 24


def _gt3x_record(kind: int, local_s: int, payload: bytes) -> bytes:
    head = struct.pack("<BBIH", 0x1E, kind, local_s, len(payload))
    x = 0
    for b in head + payload:
        x ^= b
    return head + payload + bytes([~x & 0xFF])


def _pack12(values: np.ndarray) -> bytes:
    """Signed 12-bit values, most significant bit first, a final half byte zero-padded."""
    v = (values.astype(np.int64) & 0xFFF).ravel()
    if len(v) % 2:
        v = np.append(v, 0)
    pairs = v.reshape(-1, 2)
    out = np.empty((len(pairs), 3), np.uint8)
    out[:, 0] = pairs[:, 0] >> 4
    out[:, 1] = (pairs[:, 0] & 0xF) << 4 | pairs[:, 1] >> 8
    out[:, 2] = pairs[:, 1] & 0xFF
    return out.tobytes()


def _ticks(unix_s: float) -> int:
    return int(round(unix_s * 10_000_000)) + 621355968000000000


def write_gt3x(path: Path, t0: float, rate: int, acc_g: np.ndarray, tz_hours: int = 0,
               serial: str = "MOS2E12345678", scale: float = 256.0) -> dict:
    """A wGT3X-BT style file: ``t0`` on a whole second, ``len(acc_g)`` a multiple of ``rate``."""
    n = len(acc_g) - len(acc_g) % rate
    raw = np.clip(np.round(acc_g[:n] * scale), -2048, 2047).astype(np.int64)
    local0 = int(t0) + tz_hours * 3600
    params = b"".join([
        struct.pack("<HHI", 0, 55, _ssp(scale)),  # address space 0, ACCEL_SCALE
        struct.pack("<HHI", 1, 10, rate),  # address space 1, SAMPLE_RATE
    ])
    log = [_gt3x_record(0x15, local0, params)]
    for s in range(n // rate):
        yxz = raw[s * rate:(s + 1) * rate][:, [1, 0, 2]]
        log.append(_gt3x_record(0x00, local0 + s, _pack12(yxz)))
    sign = "-" if tz_hours < 0 else ""
    info = "\r\n".join([
        f"Serial Number: {serial}", "Device Type: wGT3X-BT", "Firmware: 1.9.2",
        "Battery Voltage: 4.10", f"Sample Rate: {rate}", f"Start Date: {_ticks(local0)}",
        f"Stop Date: {_ticks(local0 + n // rate)}", f"Last Sample Time: {_ticks(local0 + n // rate)}",
        f"Download Date: {_ticks(local0 + n // rate + 60)}", "Board Revision: 4",
        "Unexpected Resets: 0", f"Acceleration Scale: {scale:.1f}", "Acceleration Min: -8.0",
        "Acceleration Max: 8.0", f"TimeZone: {sign}{abs(tz_hours):02d}:00:00", "",
    ])
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("info.txt", info)
        z.writestr("log.bin", b"".join(log))
    return {"t": t0 + np.arange(n) / rate, "acc_g": raw / scale}


GENEA_GAIN = (25600, 25500, 25700)
GENEA_OFFSET = (120, -340, 60)


def _genea_time(local: float) -> str:
    d = datetime.fromtimestamp(local, UTC)
    return d.strftime("%Y-%m-%d %H:%M:%S:") + f"{d.microsecond // 1000:03d}"


def write_geneactiv(path: Path, t0: float, rate: int, acc_g: np.ndarray, tz_hours: int = 0,
                    serial: str = "045123", per_page: int = 300) -> dict:
    """A GENEActiv .bin with ``per_page`` samples a page; times on whole milliseconds."""
    n = len(acc_g) - len(acc_g) % per_page
    gain, offset = np.array(GENEA_GAIN), np.array(GENEA_OFFSET)
    raw = np.clip(np.round((acc_g[:n] * gain + offset) / 100.0), -2048, 2047).astype(np.int64)
    pages = n // per_page
    local0 = t0 + tz_hours * 3600
    sign = "+" if tz_hours >= 0 else "-"
    header = [
        "Device Identity", f"Device Unique Serial Code:{serial}", "Device Type:GENEActiv",
        "Device Model:1.1", "Device Firmware:GENEActiv 1.1 Ver06.17 15June23",
        "Calibration Date:2024-01-01 10:00:00:000", "",
        "Device Capabilities", "Accelerometer Range:-8 to 8", "Accelerometer Resolution:0.0039",
        "Accelerometer Units:g", "Light Meter Range:0 to 3000", "Light Meter Resolution:5",
        "Light Meter Units:lux", "Temperature Sensor Range:0 to 60",
        "Temperature Sensor Resolution:0.25", "Temperature Sensor Units:deg. C", "",
        "Configuration Info", f"Measurement Frequency:{rate} Hz", "Measurement Period:168 Hours",
        f"Start Time:{_genea_time(local0)}", "Study Centre:lab", "Study Code:pw",
        "Investigator ID:x", "Exercise Type:none", "Config Operator ID:x",
        f"Config Time:{_genea_time(local0 - 60)}", "Config Notes:",
        f"Time Zone:GMT {sign}{abs(tz_hours):02d}:00",
        "", "Trial Info", "Study Centre:lab", "Study Code:pw", "Investigator ID:x",
        "Exercise Type:none", "", "Subject Info", "Device Location Code:right thigh", "",
        "Calibration Data",
        f"x gain:{GENEA_GAIN[0]}", f"x offset:{GENEA_OFFSET[0]}",
        f"y gain:{GENEA_GAIN[1]}", f"y offset:{GENEA_OFFSET[1]}",
        f"z gain:{GENEA_GAIN[2]}", f"z offset:{GENEA_OFFSET[2]}", "Volts:300", "Lux:800", "",
        "Memory Status", f"Number of Pages:{pages}", "", "Extract Notes", "Extract Operator ID:x",
    ]
    header += [""] * (59 - len(header))
    assert len(header) == 59, len(header)
    lines = list(header)
    for p in range(pages):
        chunk = raw[p * per_page:(p + 1) * per_page]
        words = ((chunk[:, 0] & 0xFFF) << 36 | (chunk[:, 1] & 0xFFF) << 24 | (chunk[:, 2] & 0xFFF) << 12
                 | 10 << 2)
        hexline = "".join(f"{int(w):012X}" for w in words)
        lines += [
            "Recorded Data", f"Device Unique Serial Code:{serial}", f"Sequence Number:{p}",
            f"Page Time:{_genea_time(local0 + p * per_page / rate)}", "Unassigned:",
            "Temperature:30.5", "Battery voltage:4.1", "Device Status:Recording",
            f"Measurement Frequency:{rate:.1f}", hexline,
        ]
    Path(path).write_text("\r\n".join(lines) + "\r\n")
    return {"t": t0 + np.arange(n) / rate, "acc_g": (raw * 100.0 - offset) / gain}

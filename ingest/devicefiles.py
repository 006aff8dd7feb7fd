"""Research-grade device files — Axivity AX3/AX6 ``.cwa``, ActiGraph ``.gt3x``, GENEActiv ``.bin``
— read through the ``actfast`` library into one SensorBlock per worn location.

actfast decodes the whole file at once (it offers no block-wise reading), in lenient mode, so a
corrupt block costs that block: it is counted and named in the read report, the rest is read.
Units become ours (g → m/s², °/s → rad/s). Devices stamp samples with their local wall clock;
the device's own time-zone field turns that into UTC unless the caller names the zone the device
was set to (then daylight saving is applied), and the report says which was used.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import actfast
import numpy as np

from posturewatch.ingest.records import GRAVITY, SensorBlock
from posturewatch.ingest.sampleclean import clean_block
from posturewatch.ingest.timestamps import check_zone, local_seconds

DEVICE_SUFFIXES = {".cwa": "Axivity", ".gt3x": "ActiGraph", ".bin": "GENEActiv"}
OFFSET = re.compile(r"([+-])?\s*(\d{1,2}):(\d{2})")


class DeviceFileError(ValueError):
    """The file cannot be read as a device recording at all."""


@dataclass
class DeviceRead:
    """One device file's samples and what reading it found."""

    block: SensorBlock | None
    counts: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)


def _flat(meta: dict[str, dict[str, str]]) -> dict[str, str]:
    return {k: v for group in meta.values() for k, v in group.items()}


def _describe(fmt: str, meta: dict[str, str]) -> tuple[dict[str, str], float | None]:
    """Serial, rate, range in our words, and the device's UTC offset in seconds (None: unknown)."""
    offset = None
    if fmt.startswith("Axivity"):
        info = {"device": meta.get("hardware_type", "Axivity"), "serial": meta.get("device_id", "?"),
                "rate_hz": meta.get("sample_rate_hz", "?"), "range_g": meta.get("accelerometer_range_g", "?")}
        tz = meta.get("time_zone", "-1")
        if tz.lstrip("-").isdigit() and int(tz) != -1:  # minutes east of UTC; -1 = not set
            offset = int(tz) * 60.0
    elif fmt.startswith("Actigraph"):
        info = {"device": meta.get("Device Type", "ActiGraph"), "serial": meta.get("Serial Number", "?"),
                "rate_hz": meta.get("Sample Rate", "?"),
                "range_g": meta.get("Acceleration Max", "?").rstrip("0").rstrip(".")}
        offset = _offset_seconds(meta.get("TimeZone", ""))
    else:
        info = {"device": meta.get("Device Type", "GENEActiv"),
                "serial": meta.get("Device Unique Serial Code", "?"),
                "rate_hz": meta.get("Measurement Frequency", "?").replace(" Hz", ""),
                "range_g": meta.get("Accelerometer Range", "?").split(" to ")[-1]}
        offset = _offset_seconds(meta.get("Time Zone", ""))
    return info, offset


def _offset_seconds(text: str) -> float | None:
    m = OFFSET.search(text)
    if not m:
        return None
    sign = -1.0 if m[1] == "-" else 1.0
    return sign * (int(m[2]) * 3600 + int(m[3]) * 60)


def _unread_tail_s(meta: dict[str, str], wall_us: np.ndarray) -> float:
    """Seconds between the last sample read and the file's own 'Last Sample Time' (GT3X only)."""
    ticks = meta.get("Last Sample Time", "")
    if not ticks.isdigit() or not len(wall_us):
        return 0.0
    last_local_s = (int(ticks) - 621_355_968_000_000_000) / 1e7  # .NET ticks → Unix seconds
    return max(0.0, last_local_s - float(wall_us[-1]) / 1e6)


def _sensor_table(timeseries: dict) -> dict | None:
    """The table holding acceleration at the sensor's own rate (the densest one)."""
    tables = [ts for ts in timeseries.values() if "acceleration" in ts and len(ts["datetime"])]
    return max(tables, key=lambda ts: len(ts["datetime"]), default=None)


def read_device_file(path: str | Path, location: str, tz: str | None = None) -> DeviceRead:
    """One device file → its SensorBlock (m/s², rad/s, Unix seconds), counters and notes.

    ``tz`` (an IANA zone) says which zone the device clock was set to; without it the file's
    own UTC offset is used, and without that the clock is taken as UTC.
    """
    path = Path(path)
    if not path.is_file():
        raise DeviceFileError(f"{path}: no such file")
    zone = check_zone(tz)
    try:
        data = actfast.read(str(path), lenient=True)
    except (ValueError, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DeviceFileError(f"{path}: not a readable {DEVICE_SUFFIXES.get(path.suffix.lower(), 'device')}"
                              f" file ({first})") from exc
    out = DeviceRead(None)
    meta = _flat(data.get("metadata", {}))
    info, offset = _describe(data["format"], meta)
    out.metadata = {"format": data["format"], **info}
    warnings = list(data.get("warnings", []))
    if warnings:
        out.counts[f"{location}_corrupt_block"] += len(warnings)
        out.notes.append(f"{location}: {len(warnings)} corrupt block(s) skipped, e.g. {warnings[0]}")
    table = _sensor_table(data["timeseries"])
    where = (f"{location}: {info['device']} ({data['format']}) serial {info['serial']}, "
             f"{info['rate_hz']} Hz, ±{info['range_g']} g")
    if table is None:
        out.notes.append(f"{where}: no acceleration samples; location ignored")
        return out
    # in place where we can: a day at 100 Hz is ~9 M samples per array
    wall = table.pop("datetime").astype(np.float64)
    wall /= 1e3  # ns → µs of device wall-clock time
    lost = _unread_tail_s(meta, wall) if warnings else 0.0
    acc = np.asarray(table.pop("acceleration"), np.float32)
    acc *= np.float32(GRAVITY)
    gyr = table.pop("gyroscope", None)
    if gyr is not None:
        gyr = np.radians(gyr, out=np.asarray(gyr, np.float32))
    del data, table  # light, temperature, … are not used
    if zone is not None:
        shifts: Counter[str] = Counter()
        t = local_seconds(wall, tz, shifts)
        out.counts.update({f"{location}_{k}": n for k, n in shifts.items()})
        clock = f"device clock read as local time in {tz}"
    else:
        t = wall
        t /= 1e6
        if offset is not None:
            t -= offset
            clock = f"device clock at UTC{offset / 3600:+g} h (from the file)"
        else:
            clock = "device clock taken as UTC (the file names no time zone)"
    out.notes.append(f"{where}; {clock}")
    if lost > 1.0:  # actfast stops at a broken GT3X record: say what the rest of the file held
        out.counts[f"{location}_unread_seconds"] += int(lost)
        out.notes.append(f"{location}: reading stopped at the broken record; the {lost / 60:.1f} min "
                         "the file holds after it could not be read")
    out.block = clean_block(location, t, acc, gyr, out.counts, out.notes)
    return out

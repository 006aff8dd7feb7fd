"""A generic CSV of one worn sensor (``thigh=phone.csv``): a time column and x, y, z, optionally
gx, gy, gz — names and units told from the header and the data, or given by the caller.

Common names are understood (time/timestamp/t, x/ax/acc_x/accel_x…, gx/gyro_x/gyr_x…), with units
in the name or brackets (``acc_x [m/s^2]``, ``gyro_x (deg/s)``, ``ax_g``). Without a unit,
acceleration is g or m/s² by its median magnitude, angular rate deg/s when it is too large to
be rad/s; the report says what was assumed. When the columns cannot be told apart, the error
lists them so the caller can name them.
"""

from __future__ import annotations

import csv as stdcsv
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv

from posturewatch.ingest.csvtext import Utf8Replacing
from posturewatch.ingest.records import GRAVITY, SensorBlock
from posturewatch.ingest.sampleclean import clean_block
from posturewatch.ingest.timestamps import TextClock, TimestampError, numeric_seconds

TIME_NAME = re.compile(r"^(time|timestamp|t|ts|datetime|date_time|unix_time|epoch|utc|time_utc|"
                       r"unix|timestamp_utc)(?:_(s|sec|ms|millis|us|micros|ns))?$")
ACC_NAME = re.compile(r"^(?:acc|accel|acceleration|accelerometer|a|linacc)?_?([xyz])(?:_(\w+))?$")
GYRO_NAME = re.compile(r"^(?:gyro|gyr|gyroscope|g|w|omega|rot|angular_velocity|rotation_rate)_?([xyz])"
                       r"(?:_(\w+))?$")
ACC_UNITS = {"g": "g", "m/s^2": "m/s2", "m/s2": "m/s2", "m/s²": "m/s2", "ms2": "m/s2", "m_s2": "m/s2",
             "m_s_2": "m/s2", "mps2": "m/s2", "ms_2": "m/s2"}
GYRO_UNITS = {"deg/s": "deg/s", "°/s": "deg/s", "dps": "deg/s", "deg_s": "deg/s", "degs": "deg/s",
              "rad/s": "rad/s", "rad_s": "rad/s", "rads": "rad/s", "rps": "rad/s"}
TIME_UNITS = {"s": "s", "sec": "s", "ms": "ms", "millis": "ms", "us": "us", "micros": "us", "ns": "ns"}
NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")
BLOCK_BYTES = 8 << 20


class ColumnError(ValueError):
    """The file's columns cannot be told apart; the message lists them."""


@dataclass
class Columns:
    """Which columns hold time, acceleration and angular rate, and the units their names give."""

    time: str
    acc: list[str]
    gyro: list[str] | None = None
    time_unit: str | None = None
    acc_unit: str | None = None
    gyro_unit: str | None = None
    notes: list[str] = field(default_factory=list)


def _split(name: str) -> tuple[str, str | None]:
    """'acc_x [m/s^2]' → ('acc_x', 'm/s^2'): the name in snake case and a bracketed unit."""
    low = name.strip().lower()
    m = re.search(r"[\(\[]([^\)\]]*)[\)\]]", low)
    unit = m[1].strip().replace(" ", "") if m else None
    base = re.sub(r"[\(\[][^\)\]]*[\)\]]", "", low)
    return re.sub(r"[^a-z0-9]+", "_", base).strip("_"), unit


def detect_columns(header: Sequence[str], given: Mapping[str, object] | None = None) -> Columns:
    """Time, acceleration and gyroscope columns from the header (or ``given``), or a ColumnError."""
    given = dict(given or {})
    time = given.get("time")
    acc = given.get("acc")
    gyro = given.get("gyro")
    found = Columns(time="", acc=[])
    acc_by_axis: dict[str, str] = {}
    gyro_by_axis: dict[str, str] = {}
    for name in header:
        base, unit = _split(name)
        if time is None and (m := TIME_NAME.match(base)):
            time = name
            found.time_unit = TIME_UNITS.get(m[2] or unit or "")
        elif (m := GYRO_NAME.match(base)) and m[1] not in gyro_by_axis:
            gyro_by_axis[m[1]] = name
            found.gyro_unit = GYRO_UNITS.get(unit or m[2] or "", found.gyro_unit)
        elif (m := ACC_NAME.match(base)) and m[1] not in acc_by_axis:
            acc_by_axis[m[1]] = name
            found.acc_unit = ACC_UNITS.get(unit or m[2] or "", found.acc_unit)
    listing = ", ".join(repr(h) for h in header)
    if time is None or time not in header:
        raise ColumnError(f"no time column among {listing}; name it 'time' or 'timestamp', or give it")
    if acc is None:
        if len(acc_by_axis) != 3:
            raise ColumnError(f"cannot tell the x, y, z acceleration columns among {listing}; "
                              "name them x,y,z (or ax,ay,az / acc_x…), or give them")
        acc = [acc_by_axis[a] for a in "xyz"]
    if gyro is None and len(gyro_by_axis) == 3:
        gyro = [gyro_by_axis[a] for a in "xyz"]
    elif gyro is None and gyro_by_axis:
        found.notes.append(f"incomplete gyroscope columns {sorted(gyro_by_axis.values())}; ignored")
    for col in [*acc, *(gyro or [])]:
        if col not in header:
            raise ColumnError(f"no column {col!r} among {listing}")
    found.time, found.acc, found.gyro = str(time), list(acc), list(gyro) if gyro else None
    return found


def _to_float(col: pa.Array, counts: Counter[str]) -> np.ndarray:
    if pa.types.is_floating(col.type) or pa.types.is_integer(col.type):
        return col.to_numpy(zero_copy_only=False).astype(np.float64)
    stripped = pc.utf8_trim_whitespace(col)
    empty = pc.fill_null(pc.equal(stripped, ""), True)
    ok = pc.fill_null(pc.match_substring_regex(stripped, NUMBER.pattern), False)
    counts["non_numeric_cell"] += pc.sum(pc.and_(pc.invert(ok), pc.invert(empty))).as_py() or 0
    return pc.cast(pc.if_else(ok, stripped, None), pa.float64()).to_numpy(zero_copy_only=False)


def _read_columns(path: Path, cols: Columns, numeric_time: bool, clock: TextClock | None,
                  delimiter: str, counts: Counter[str], text: bool) -> dict[str, np.ndarray]:
    value_cols = [*cols.acc, *(cols.gyro or [])]
    types = {c: pa.string() if text else pa.float64() for c in value_cols}
    types[cols.time] = pa.float64() if numeric_time and not text else pa.string()

    def on_invalid(row: csv.InvalidRow) -> str:
        counts["malformed_row"] += 1
        return "skip"

    # invalid UTF-8 is read as U+FFFD (as our header line was): one bad cell, counted
    reader = csv.open_csv(
        Utf8Replacing(path),
        read_options=csv.ReadOptions(block_size=BLOCK_BYTES),
        parse_options=csv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid),
        convert_options=csv.ConvertOptions(column_types=types, include_columns=[cols.time, *value_cols],
                                           strings_can_be_null=True))
    parts: dict[str, list[np.ndarray]] = {c: [] for c in [cols.time, *value_cols]}
    for batch in reader:
        for c in parts:
            col = batch.column(c)
            if c == cols.time and clock is not None:
                parts[c].append(clock.seconds(col))
            elif c == cols.time and text:
                parts[c].append(_to_float(col, Counter()))  # counted below as bad_timestamp
            else:
                v = _to_float(col, counts)
                parts[c].append(v if c == cols.time else v.astype(np.float32))
    return {c: np.concatenate(v) if v else np.zeros(0) for c, v in parts.items()}


def read_location_csv(path: str | Path, location: str, columns: Mapping[str, object] | None = None,
                      time_unit: str = "auto", tz: str | None = None, acc_unit: str = "auto",
                      gyro_unit: str = "auto") -> tuple[SensorBlock | None, Counter[str], list[str]]:
    """One sensor's CSV → its SensorBlock, counters of bad input, and notes of what was assumed."""
    path = Path(path)
    if not path.is_file():
        raise ColumnError(f"{path}: no such file")
    with path.open("r", errors="replace") as fh:
        head_line = fh.readline().rstrip("\r\n")
        first_row = fh.readline().rstrip("\r\n")
    delimiter = max((",", ";", "\t"), key=head_line.count)
    lines = list(stdcsv.reader([head_line, first_row], delimiter=delimiter))
    header = [h.strip() for h in lines[0]] if lines else []
    try:
        cols = detect_columns(header, columns)
    except ColumnError as exc:
        raise ColumnError(f"{path}: {exc}") from exc
    counts: Counter[str] = Counter()
    notes = [f"{location}: {n}" for n in cols.notes]
    cells = lines[1] if len(lines) > 1 else []
    first_time = cells[header.index(cols.time)].strip() if len(cells) == len(header) else ""
    numeric_time = NUMBER.match(first_time) is not None
    try:
        clock = None if numeric_time else TextClock(tz, counts)
        try:
            data = _read_columns(path, cols, numeric_time, clock, delimiter, counts, text=False)
        except KeyError as exc:  # Arrow split the header otherwise (quotes): say which column
            raise ColumnError(f"{path}: header columns not readable: {exc}") from None
        except pa.ArrowInvalid:  # text where a number belongs: read as text, cell by cell
            counts.clear()
            clock = None if numeric_time else TextClock(tz, counts)
            try:
                data = _read_columns(path, cols, numeric_time, clock, delimiter, counts, text=True)
            except (pa.ArrowInvalid, KeyError) as again:
                raise ColumnError(f"{path}: not readable as CSV: {str(again).splitlines()[0]}") from None
        t = data[cols.time]
        if clock is None:
            t, how = numeric_seconds(t, time_unit if time_unit != "auto" else cols.time_unit or "auto")
        else:
            how = clock.note
    except TimestampError as exc:
        raise ColumnError(f"{path}: {exc}") from exc
    counts["bad_timestamp"] += int(np.isnan(t).sum())
    notes.append(f"{location}: {how}")
    acc = np.column_stack([data[c] for c in cols.acc])
    acc = _acc_in_ms2(acc, acc_unit if acc_unit != "auto" else cols.acc_unit or "auto", location, notes)
    gyr = None
    if cols.gyro:
        gyr = np.column_stack([data[c] for c in cols.gyro])
        gyr = _gyro_in_rad_s(gyr, gyro_unit if gyro_unit != "auto" else cols.gyro_unit or "auto",
                             location, notes)
    counts = Counter({f"{location}_{k}" if not k.startswith(location) else k: v for k, v in counts.items()})
    block = clean_block(location, t, acc, gyr, counts, notes)
    return block, counts, notes


def _acc_in_ms2(acc: np.ndarray, unit: str, location: str, notes: list[str]) -> np.ndarray:
    finite = np.isfinite(acc).all(axis=1)
    median = float(np.median(np.linalg.norm(acc[finite], axis=1))) if finite.any() else float("nan")
    if unit == "auto":
        if 0.5 < median < 2.0:
            unit = "g"
            notes.append(f"{location}: acceleration read as g (median |a| = {median:.2f}); converted")
        elif 5.0 < median < 15.0:
            unit = "m/s2"
            notes.append(f"{location}: acceleration read as m/s² (median |a| = {median:.2f})")
        else:
            notes.append(f"{location}: median |a| = {median:.2f} fits neither m/s² nor g; read as m/s²,"
                         " check units")
    return acc * np.float32(GRAVITY) if unit == "g" else acc


def _gyro_in_rad_s(gyr: np.ndarray, unit: str, location: str, notes: list[str]) -> np.ndarray:
    if unit == "auto":
        finite = np.abs(gyr[np.isfinite(gyr).all(axis=1)])
        peak = float(np.quantile(finite, 0.999)) if len(finite) else 0.0
        # a body segment rarely turns faster than ~15 rad/s (860 °/s); larger numbers are degrees
        unit = "deg/s" if peak > 15.0 else "rad/s"
        notes.append(f"{location}: angular rate read as {unit} (99.9 % of |ω| ≤ {peak:.1f})"
                     + ("; converted" if unit == "deg/s" else "; give the unit if it is deg/s"))
    return np.radians(gyr) if unit == "deg/s" else gyr

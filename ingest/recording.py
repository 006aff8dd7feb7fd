"""Reading recorded sensor files (the recording CSV) into per-location sample blocks.

Fast path: pyarrow's multi-threaded streaming CSV reader with float columns. When a file holds
text where numbers belong, it is read again as text and each bad cell is counted and dropped —
a garbled line costs that line, never the file. Empty cells are legal (a sensor with no sample at
that instant); a NaN, a partial vector, a non-increasing timestamp are counted and skipped.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv

from posturewatch.ingest.csvtext import Utf8Replacing
from posturewatch.ingest.records import GRAVITY, LOCATIONS, SensorBlock
from posturewatch.ingest.timestamps import (
    TextClock,
    TimestampError,
    broken_stamps,
    check_zone,
    numeric_seconds,
)

log = logging.getLogger(__name__)

COLUMN = re.compile(rf"^({'|'.join(LOCATIONS)})_([agm])([xyz])$")
NUMBER = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"
BLOCK_BYTES = 8 << 20


class RecordingError(ValueError):
    """The file cannot be read as a recording at all (missing, no timestamp, no sensor columns)."""


@dataclass
class ReadReport:
    """What reading a file found: row counts, and every kind of bad input counted by name."""

    rows: int = 0
    samples: Counter[str] = field(default_factory=Counter)
    bad: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{self.rows} rows", ", ".join(f"{k} {v} samples" for k, v in self.samples.items())]
        if self.bad:
            parts.append("bad input: " + ", ".join(f"{k}={v}" for k, v in sorted(self.bad.items())))
        return "; ".join(p for p in parts if p)


@dataclass
class Recording:
    blocks: dict[str, SensorBlock]
    report: ReadReport


def _layout(header: list[str], report: ReadReport) -> dict[str, dict[str, list[str]]]:
    """Location → kind ('a', 'g', 'm') → its three column names, checking each is complete."""
    found: dict[str, dict[str, dict[str, str]]] = {}
    for name in header:
        m = COLUMN.match(name.strip().lower())
        if m:
            found.setdefault(m[1], {}).setdefault(m[2], {})[m[3]] = name
        elif name.strip().lower() != "timestamp":
            report.bad["unknown_column"] += 1
            report.notes.append(f"ignored unknown column {name!r}")
    layout: dict[str, dict[str, list[str]]] = {}
    for loc, kinds in found.items():
        if len(kinds.get("a", {})) != 3:
            report.notes.append(f"{loc}: no complete accelerometer columns (_ax, _ay, _az); location ignored")
            report.bad["incomplete_location"] += 1
            continue
        layout[loc] = {}
        for kind, cols in kinds.items():
            if len(cols) == 3:
                layout[loc][kind] = [cols[a] for a in "xyz"]
            else:
                report.notes.append(f"{loc}: incomplete {kind}-columns {sorted(cols.values())}; ignored")
                report.bad["incomplete_columns"] += 1
    return layout


def _to_float(col: pa.Array, report: ReadReport, dtype=np.float32) -> np.ndarray:
    """Text cells → floats; empty stays NaN (no sample), anything non-numeric is counted."""
    if pa.types.is_floating(col.type) or pa.types.is_integer(col.type):
        return col.to_numpy(zero_copy_only=False).astype(dtype, copy=False)
    stripped = pc.utf8_trim_whitespace(col)
    empty = pc.fill_null(pc.equal(stripped, ""), True)
    ok = pc.fill_null(pc.match_substring_regex(stripped, NUMBER), False)
    bad = pc.and_(pc.invert(ok), pc.invert(empty))
    report.bad["non_numeric_cell"] += pc.sum(bad).as_py() or 0
    values = pc.cast(pc.if_else(ok, stripped, None), pa.float64()).to_numpy(zero_copy_only=False)
    return values.astype(dtype, copy=False)


def _stream(path: Path, header: list[str], types: dict, report: ReadReport, progress,
            block_bytes: int = BLOCK_BYTES):
    def on_invalid(row: csv.InvalidRow) -> str:
        report.bad["malformed_row"] += 1
        return "skip"

    # invalid UTF-8 is read as U+FFFD: one bad cell, counted (Arrow would print a traceback
    # from inside its bad-row handler, or refuse the whole file)
    reader = csv.open_csv(
        Utf8Replacing(path),
        read_options=csv.ReadOptions(block_size=block_bytes),
        parse_options=csv.ParseOptions(invalid_row_handler=on_invalid),
        convert_options=csv.ConvertOptions(column_types=types, strings_can_be_null=True),
    )
    size = max(path.stat().st_size, 1)
    done = 0
    for batch in reader:
        done += batch.nbytes
        if progress:
            progress(min(done / (size * 2.2), 0.99))  # in-memory batches are ~2x the text size
        yield batch


def _collect(batches, columns: dict[str, list[np.ndarray]], ts_col: str, clock: TextClock | None,
             report: ReadReport) -> None:
    """Convert batch by batch, so only one batch of Arrow data is alive at a time."""
    for batch in batches:
        report.rows += batch.num_rows
        for c in columns:
            col = batch.column(c)
            if c == ts_col and clock is not None:
                columns[c].append(clock.seconds(col))
            else:
                columns[c].append(_to_float(col, report, np.float64 if c == ts_col else np.float32))


def read_recording(
    path: str | Path,
    acc_unit: str = "auto",
    gyro_unit: str = "rad/s",
    progress: Callable[[float], None] | None = None,
    time_unit: str = "auto",
    tz: str | None = None,
) -> Recording:
    """Read a recorded CSV into one SensorBlock per location present, with a report of bad input.

    ``acc_unit`` is ``"m/s2"``, ``"g"`` or ``"auto"`` (decided from the median magnitude, and
    reported); ``gyro_unit`` is ``"rad/s"`` or ``"deg/s"``. Numeric timestamps are Unix
    ``time_unit`` (``"s"``, ``"ms"``, ``"us"``, ``"ns"`` or ``"auto"``: told apart by size); text
    ones RFC 3339, or local date-times in the IANA zone ``tz``. The report says which was read.
    """
    path = Path(path)
    if not path.is_file():
        raise RecordingError(f"{path}: no such file")
    with path.open("r", errors="replace") as fh:
        header = [h.strip() for h in fh.readline().rstrip("\r\n").split(",")]
        first = fh.readline().split(",")[0].strip()
    if "timestamp" not in [h.lower() for h in header]:
        raise RecordingError(f"{path}: no 'timestamp' column in header {header[:6]}…")
    report = ReadReport()
    numeric_ts = re.match(NUMBER, first) is not None
    try:
        check_zone(tz)
        clock = None if numeric_ts else TextClock(tz, report.bad)
    except TimestampError as exc:
        raise RecordingError(f"{path}: {exc}") from exc
    layout = _layout(header, report)
    if not layout:
        raise RecordingError(f"{path}: no sensor columns like 'pelvis_ax' in header")
    ts_col = next(h for h in header if h.lower() == "timestamp")
    sensor_cols = [c for kinds in layout.values() for cols in kinds.values() for c in cols]
    columns: dict[str, list[np.ndarray]] = {c: [] for c in [ts_col, *sensor_cols]}
    # float32 holds a sensor's ~16-bit readings exactly and halves a long day's memory
    types = {c: pa.float32() for c in sensor_cols}
    types[ts_col] = pa.float64() if numeric_ts else pa.string()
    header_bad = Counter(report.bad)
    try:
        _collect(_stream(path, header, types, report, progress), columns, ts_col, clock, report)
    except KeyError as exc:  # Arrow split the header otherwise (quotes): not our layout
        raise RecordingError(f"{path}: header columns not readable: {exc}") from None
    except pa.ArrowInvalid as exc:  # text where a number belongs: read it all as text, cell by cell
        log.info("%s: slow path for garbled cells (%s)", path, str(exc).splitlines()[0])
        report.bad = Counter(header_bad)
        report.rows = 0
        for parts in columns.values():
            parts.clear()
        types = dict.fromkeys(types, pa.string())
        try:
            _collect(_stream(path, header, types, report, progress), columns, ts_col, clock, report)
        except (pa.ArrowInvalid, KeyError) as again:
            raise RecordingError(f"{path}: not readable as CSV: {str(again).splitlines()[0]}") from None
    data = {c: (np.concatenate(v) if v else np.zeros(0)) for c, v in columns.items()}
    report.bad["bad_timestamp"] += int(np.isnan(data[ts_col]).sum())
    data[ts_col] = _unix_seconds(data[ts_col], clock, time_unit, report, path)
    blocks = {
        loc: blk
        for loc, kinds in layout.items()
        if (blk := _block(loc, kinds, data[ts_col], data, report, acc_unit, gyro_unit)) is not None
    }
    del data, columns
    pa.default_memory_pool().release_unused()
    if progress:
        progress(1.0)
    return Recording(blocks, report)


def _unix_seconds(t: np.ndarray, clock: TextClock | None, time_unit: str, report: ReadReport,
                  path: Path) -> np.ndarray:
    """The file's stamps as Unix seconds, broken ones NaN (and counted); the reading is noted."""
    if clock is None:
        try:
            t, note = numeric_seconds(t, time_unit)
        except TimestampError as exc:
            raise RecordingError(f"{path}: {exc}") from exc
    else:
        note = clock.note
    report.notes.append(note)
    t[broken_stamps(t, report.bad)] = np.nan
    return t


def valid_samples(loc: str, kinds, t: np.ndarray, data: dict, report: ReadReport):
    """One location's columns of a batch and the indexes of its usable rows in time order:
    rows with a sample but a NaN or missing axis, and rows out of order, are counted."""
    acc = np.column_stack([data[c] for c in kinds["a"]])
    gyr = np.column_stack([data[c] for c in kinds["g"]]) if "g" in kinds else None
    mag = np.column_stack([data[c] for c in kinds["m"]]) if "m" in kinds else None
    # judged on the 1-D columns: reductions across the 3 axes of a (n, 3) array are slow
    groups = [kinds["a"], kinds["g"]] if "g" in kinds else [kinds["a"]]
    present = np.zeros(len(t), bool)
    valid = np.isfinite(t)
    for cols in groups:
        for c in cols:
            present |= ~np.isnan(data[c])
            valid &= np.isfinite(data[c])
    valid &= present
    report.bad[f"{loc}_incomplete_or_nan_sample"] += int((present & ~valid & np.isfinite(t)).sum())
    idx = np.flatnonzero(valid)
    back = np.diff(t[idx]) < 0
    if back.any():
        report.bad[f"{loc}_out_of_order"] += int(back.sum())
        idx = idx[np.argsort(t[idx], kind="stable")]
    return acc, gyr, mag, idx


def take_rows(arr: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``arr[idx]``, without the copy when ``idx`` is every row in order."""
    if len(idx) == len(arr) and (not len(idx) or (idx[0] == 0 and idx[-1] == len(arr) - 1
                                                  and bool((np.diff(idx) == 1).all()))):
        return arr
    return arr[idx]


def _block(loc, kinds, t, data, report: ReadReport, acc_unit: str, gyro_unit: str) -> SensorBlock | None:
    acc, gyr, mag, idx = valid_samples(loc, kinds, t, data, report)
    keep = np.concatenate(([True], np.diff(t[idx]) > 0)) if len(idx) else np.zeros(0, bool)
    report.bad[f"{loc}_duplicate_timestamp"] += int((~keep).sum())
    idx = idx[keep]
    if len(idx) < 2:
        report.notes.append(f"{loc}: fewer than two valid samples; location ignored")
        return None
    acc = acc[idx]
    median_g = float(np.median(np.linalg.norm(acc, axis=1)))
    if acc_unit == "g" or (acc_unit == "auto" and 0.5 < median_g < 2.0):
        acc = acc * GRAVITY
        if acc_unit == "auto":
            report.notes.append(f"{loc}: accelerometer in g (median |a| = {median_g:.2f}); converted")
    elif acc_unit == "auto" and not 5.0 < median_g < 15.0:
        report.notes.append(f"{loc}: median |a| = {median_g:.2f} fits neither m/s² nor g; check units")
    if gyr is not None:
        gyr = gyr[idx]
        if gyro_unit == "deg/s":
            gyr = np.radians(gyr)
    if mag is not None:
        mag = mag[idx]
        if not np.isfinite(mag).all():
            report.notes.append(f"{loc}: magnetometer has gaps; not used")
            mag = None
    report.samples[loc] = len(idx)
    for key in [k for k, v in report.bad.items() if v == 0]:
        del report.bad[key]
    return SensorBlock(loc, t[idx], acc, gyr, mag)

"""Reading a recorded CSV batch by batch, so a week-long file never sits in memory.

``RecordingStream(path, …)`` checks the header at once (a file that cannot be a recording is
refused before any work); each call of ``batches()`` is one pass over the file, yielding
per-location ``SensorBlock``s of a few megabytes in time order. Every pass reads the same bytes
with the same rules, so a first pass (features for clock alignment and mountings) and a second
(the analysis) see identical samples.

The cleaning is ``read_recording``'s, made incremental: broken stamps are judged with the last
kept stamps of the previous batch as context, a sample not after the last one kept for its
location is dropped and counted (out of order or duplicate), the accelerometer unit is told from
the first batch that holds samples of a location (and reported), text where a number belongs
switches the whole file to the cell-by-cell reading (``TextCellsFound`` asks the caller to
start its pass again).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa

from posturewatch.ingest.recording import (
    NUMBER,
    ReadReport,
    RecordingError,
    _layout,
    _stream,
    _to_float,
    take_rows,
    valid_samples,
)
from posturewatch.ingest.records import GRAVITY, SensorBlock
from posturewatch.ingest.timestamps import (
    TextClock,
    TimestampError,
    broken_stamps,
    check_zone,
    detect_unit,
    numeric_seconds,
)

CONTEXT_STAMPS = 2  # kept stamps of the previous batch that an isolated jump is judged against
# Arrow's reader parses a few dozen blocks ahead of its consumer: small blocks keep that small
STREAM_BLOCK_BYTES = 2 << 20


class TextCellsFound(Exception):
    """A pass met text where numbers belong; the file is read as text from now on: restart."""


class _Location:
    """What cleaning one location needs to carry from batch to batch."""

    def __init__(self) -> None:
        self.last_t = -np.inf
        self.acc_scale: float | None = None
        self.mag_noted = False


class RecordingStream:
    """One recorded CSV (combined columns ``<location>_a[xyz]`` …), read batch by batch."""

    def __init__(self, path: str | Path, acc_unit: str = "auto", gyro_unit: str = "rad/s",
                 time_unit: str = "auto", tz: str | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise RecordingError(f"{self.path}: no such file")
        with self.path.open("r", errors="replace") as fh:
            self.header = [h.strip() for h in fh.readline().rstrip("\r\n").split(",")]
            first = fh.readline().split(",")[0].strip()
        if "timestamp" not in [h.lower() for h in self.header]:
            raise RecordingError(f"{self.path}: no 'timestamp' column in header {self.header[:6]}…")
        self.acc_unit, self.gyro_unit, self.time_unit, self.tz = acc_unit, gyro_unit, time_unit, tz
        self.numeric_ts = re.match(NUMBER, first) is not None
        try:
            check_zone(tz)
        except TimestampError as exc:
            raise RecordingError(f"{self.path}: {exc}") from exc
        probe = ReadReport()
        self.layout = _layout(self.header, probe)
        if not self.layout:
            raise RecordingError(f"{self.path}: no sensor columns like 'pelvis_ax' in header")
        self._header_report = probe
        self.ts_col = next(h for h in self.header if h.lower() == "timestamp")
        self.sensor_cols = [c for kinds in self.layout.values() for cols in kinds.values() for c in cols]
        self.text_cells = False
        self.report = ReadReport()

    @property
    def locations(self) -> list[str]:
        return list(self.layout)

    def _types(self) -> dict:
        cell = pa.string() if self.text_cells else pa.float32()
        types = {c: cell for c in self.sensor_cols}
        types[self.ts_col] = pa.float64() if self.numeric_ts and not self.text_cells else pa.string()
        return types

    def batches(self, progress: Callable[[float], None] | None = None) -> Iterator[dict[str, SensorBlock]]:
        """One pass: blocks per location in time order; ``report`` describes the last pass."""
        report = ReadReport(bad=Counter(self._header_report.bad), notes=list(self._header_report.notes))
        self.report = report
        try:
            clock = None if self.numeric_ts else TextClock(self.tz, report.bad)
        except TimestampError as exc:
            raise RecordingError(f"{self.path}: {exc}") from exc
        state = {loc: _Location() for loc in self.layout}
        unit: str | None = None if self.time_unit == "auto" else self.time_unit
        context = np.zeros(0)
        columns = [self.ts_col, *self.sensor_cols]
        noted = False
        try:
            for batch in _stream(self.path, self.header, self._types(), report, progress,
                                 STREAM_BLOCK_BYTES):
                report.rows += batch.num_rows
                data = {}
                for c in columns:
                    col = batch.column(c)
                    if c != self.ts_col:
                        data[c] = _to_float(col, report)
                    elif clock is not None:
                        data[c] = clock.seconds(col)
                    else:
                        data[c] = _to_float(col, report, np.float64)
                t = data[self.ts_col]
                report.bad["bad_timestamp"] += int(np.isnan(t).sum())
                if clock is None:
                    if unit is None and np.isfinite(t).any():
                        unit = detect_unit(t)
                    try:
                        t, note = numeric_seconds(t, unit or "s")
                    except TimestampError as exc:
                        raise RecordingError(f"{self.path}: {exc}") from exc
                    if self.time_unit == "auto":
                        note = note.replace("(as declared)", "(detected from their size)")
                else:
                    note = clock.note
                if not noted and note:
                    report.notes.append(note)
                    noted = True
                both = np.concatenate((context, t))
                drop = broken_stamps(both, report.bad)[len(context):]
                t = np.where(drop, np.nan, t)
                kept = t[np.isfinite(t)]
                context = np.concatenate((context, kept))[-CONTEXT_STAMPS:]
                blocks = {}
                for loc, kinds in self.layout.items():
                    block = self._block(loc, kinds, t, data, state[loc], report)
                    if block is not None:
                        blocks[loc] = block
                if blocks:
                    yield blocks
        except pa.ArrowInvalid as exc:
            if self.text_cells:
                raise RecordingError(f"{self.path}: unreadable ({str(exc).splitlines()[0]})") from exc
            self.text_cells = True
            raise TextCellsFound(str(exc).splitlines()[0]) from exc
        for loc in self.layout:
            if report.samples[loc] < 2:
                report.notes.append(f"{loc}: fewer than two valid samples; location ignored")
        for key in [k for k, v in report.bad.items() if v == 0]:
            del report.bad[key]
        for key in [k for k, v in report.samples.items() if v == 0]:
            del report.samples[key]
        if progress:
            progress(1.0)

    def _block(self, loc: str, kinds: Mapping[str, list[str]], t: np.ndarray, data: dict,
               st: _Location, report: ReadReport) -> SensorBlock | None:
        acc, gyr, mag, idx = valid_samples(loc, kinds, t, data, report)
        if not len(idx):
            return None
        stamps = t[idx]
        keep = np.diff(np.concatenate(([st.last_t], stamps))) > 0
        if not keep.all():
            report.bad[f"{loc}_duplicate_timestamp"] += int((~keep).sum())
            idx = idx[keep]
        if not len(idx):
            return None
        acc = take_rows(acc, idx)
        if st.acc_scale is None:
            median_g = float(np.median(np.linalg.norm(acc, axis=1)))
            st.acc_scale = 1.0
            if self.acc_unit == "g" or (self.acc_unit == "auto" and 0.5 < median_g < 2.0):
                st.acc_scale = GRAVITY
                if self.acc_unit == "auto":
                    report.notes.append(f"{loc}: accelerometer in g (median |a| = {median_g:.2f}); converted")
            elif self.acc_unit == "auto" and not 5.0 < median_g < 15.0:
                report.notes.append(f"{loc}: median |a| = {median_g:.2f} fits neither m/s² nor g; "
                                    "check units")
        if st.acc_scale != 1.0:
            acc = acc * np.float32(st.acc_scale)
        if gyr is not None:
            gyr = take_rows(gyr, idx)
            if self.gyro_unit == "deg/s":
                gyr = np.radians(gyr)
        if mag is not None:
            mag = take_rows(mag, idx)
            if not np.isfinite(mag).all():
                if not st.mag_noted:
                    report.notes.append(f"{loc}: magnetometer has gaps; not used where missing")
                    st.mag_noted = True
                mag = None
        st.last_t = float(t[idx[-1]])
        report.samples[loc] += len(idx)
        return SensorBlock(loc, take_rows(t, idx), acc, gyr, mag)


def blocks_in_windows(blocks: Mapping[str, SensorBlock], window_s: float = 600.0
                      ) -> Iterator[dict[str, SensorBlock]]:
    """In-memory blocks as the same kind of batches a file gives (device files, tests)."""
    live = {loc: b for loc, b in blocks.items() if len(b)}
    if not live:
        return
    cursors = dict.fromkeys(live, 0)
    edge = np.floor(min(float(b.t[0]) for b in live.values()) / window_s) * window_s + window_s
    while any(cursors[loc] < len(b) for loc, b in live.items()):
        out = {}
        for loc, b in live.items():
            j = int(np.searchsorted(b.t, edge))
            if j > cursors[loc]:
                out[loc] = b.slice(cursors[loc], j)
                cursors[loc] = j
        if out:
            yield out
        # jump over gaps: the next window is the one holding the earliest remaining sample
        rest = [float(b.t[cursors[loc]]) for loc, b in live.items() if cursors[loc] < len(b)]
        if rest:
            edge = max(edge + window_s, np.floor(min(rest) / window_s) * window_s + window_s)

"""Timestamps of recorded files in any common form, turned into Unix seconds (float64, UTC).

Numbers are Unix seconds, milliseconds, microseconds or nanoseconds — declared, or told apart
by their size (a 2026 instant is ~1.8e9 s, ~1.8e12 ms, ~1.8e15 µs). Text is RFC 3339 / ISO 8601
with a zone, or a local date-time read in a declared IANA zone, daylight saving included: a
wall-clock time that happens twice (the autumn hour) is resolved by the file's order, one that
never happens (the spring gap) is dropped; both are counted. A broken stamp (1970, 2100, an
isolated jump) is counted and dropped, never a reason to refuse the file. Every reader of
recorded files uses this module, so each form is understood the same way everywhere.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

TIME_UNITS: tuple[str, ...] = ("auto", "s", "ms", "us", "ns")
UNIT_SECONDS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
UNIT_WORDS = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}
EARLIEST = 946_684_800.0  # 2000-01-01: no sensor of ours recorded earlier
LATEST = 4_102_444_800.0  # 2100-01-01
JUMP_S = 1.0  # a stamp this far off its neighbours' line is broken, not jitter
ZONED = re.compile(r"(Z|[+-]\d\d:?\d\d)\s*$", re.IGNORECASE)


class TimestampError(ValueError):
    """Timestamps that cannot be read as instants at all (a relative clock, an unknown zone)."""


def check_zone(tz: str | None) -> ZoneInfo | None:
    """The IANA zone named ``tz`` (None stays None), or a clear error."""
    if tz is None or tz == "":
        return None
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TimestampError(f"unknown time zone {tz!r}; use an IANA name like 'Europe/Berlin'") from exc


def detect_unit(values: np.ndarray) -> str:
    """'s', 'ms', 'us' or 'ns' from the median size of Unix timestamps."""
    finite = np.abs(values[np.isfinite(values)])
    if not len(finite):
        return "s"  # nothing to tell by; every stamp is already unusable
    median = float(np.median(finite))
    for unit, upper in (("s", 1e11), ("ms", 1e14), ("us", 1e17)):
        if median < upper:
            return unit
    return "ns"


def numeric_seconds(values: np.ndarray, unit: str = "auto") -> tuple[np.ndarray, str]:
    """Numbers → Unix seconds and a sentence saying how they were read."""
    if unit not in TIME_UNITS:
        raise TimestampError(f"time unit {unit!r}: expected one of {', '.join(TIME_UNITS)}")
    how = "as declared"
    if unit == "auto":
        unit = detect_unit(values)
        how = "detected from their size"
    seconds = values.astype(np.float64) * UNIT_SECONDS[unit]
    note = f"timestamps read as Unix {UNIT_WORDS[unit]} ({how})"
    finite = seconds[np.isfinite(seconds)]
    # (no stamp before 2000, the usual case: the median cannot be either; it costs a sort)
    if len(finite) and (finite < EARLIEST).any() and np.median(finite) < EARLIEST:
        note += ("; they lie before 2000, like a clock counting from the recording's start, "
                 "and are dropped: write Unix time or date-times")
    return seconds, note


def _epoch_us(ts: pa.Array) -> np.ndarray:
    return pc.cast(ts, pa.int64()).to_numpy(zero_copy_only=False).astype(np.float64)


def _cell_by_cell(strings: list, out: np.ndarray, missing: np.ndarray, zone: ZoneInfo | None) -> None:
    """Leftovers Arrow could not parse: ``fromisoformat`` per cell (only those cells)."""
    for i in np.flatnonzero(missing):
        text = strings[i]
        if not text:
            continue
        try:
            d = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            continue
        if d.tzinfo is None:
            d = d.replace(tzinfo=zone or UTC)
        out[i] = d.timestamp() * 1e6


class TextClock:
    """Reads the text timestamps of one file batch by batch, carrying what daylight saving needs.

    ``note`` says how the text was read once a batch has been seen.
    """

    def __init__(self, tz: str | None, counts: Counter[str]) -> None:
        self.tz = tz
        self.zone = check_zone(tz)
        self.counts = counts
        self.latest_wall = -np.inf  # latest wall-clock µs so far: tells a repeated hour's 2nd pass
        self.zoned: bool | None = None
        self.note = ""

    def seconds(self, col: pa.Array) -> np.ndarray:
        """RFC 3339 or local date-time text → Unix seconds, NaN where unreadable."""
        col = pc.utf8_trim_whitespace(col.cast(pa.string()))
        if self.zoned is None:
            sample = next((s for s in col.to_pylist()[:50] if s), "")
            self.zoned = ZONED.search(sample) is not None
        if self.zoned:
            self.note = "timestamps read as RFC 3339 date-times with their own UTC offsets"
            try:
                return _epoch_us(pc.cast(col, pa.timestamp("us", "UTC"))) / 1e6
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return self._leftovers(col, "%Y-%m-%dT%H:%M:%S%z", None) / 1e6
        try:
            wall = _epoch_us(pc.cast(col, pa.timestamp("us")))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            wall = self._leftovers(col, "%Y-%m-%dT%H:%M:%S", UTC)  # wall clock; zone applied below
        if self.zone is None:
            self.note = "timestamps read as date-times in UTC (they carry no zone; give a time zone if local)"
            return wall / 1e6
        self.note = f"timestamps read as local date-times in {self.tz}, daylight saving applied"
        out = local_seconds(wall, self.tz, self.counts, self.latest_wall)
        if np.isfinite(wall).any():
            self.latest_wall = max(self.latest_wall, float(np.nanmax(wall)))
        return out

    @staticmethod
    def _leftovers(col: pa.Array, fmt: str, zone) -> np.ndarray:
        ts = pc.strptime(col, format=fmt, unit="us", error_is_null=True)
        out = _epoch_us(pc.fill_null(pc.cast(ts, pa.int64()), -(2**62)))
        out[out == -(2**62)] = np.nan
        _cell_by_cell(col.to_pylist(), out, np.isnan(out), zone)
        return out


def local_seconds(wall_us: np.ndarray, tz: str, counts: Counter[str],
                  latest_before: float = -np.inf) -> np.ndarray:
    """Wall-clock µs of zone ``tz`` (NaN = none) → Unix seconds, daylight-saving changes resolved.

    A repeated wall-clock hour is read first with the summer offset, then, once the clock has
    gone back in the file, with the winter one. A time in the spring gap never existed: NaN.
    """
    missing = np.isnan(wall_us)
    naive = pa.array(np.where(missing, 0, wall_us).astype(np.int64), pa.timestamp("us"), mask=missing)
    early = pc.assume_timezone(naive, tz, ambiguous="earliest", nonexistent="earliest")
    late = pc.assume_timezone(naive, tz, ambiguous="latest", nonexistent="latest")
    e, lt = _epoch_us(early), _epoch_us(late)
    exists = _epoch_us(pc.local_timestamp(early)) == wall_us
    ambiguous = exists & (e != lt)
    seen = np.maximum.accumulate(np.concatenate(([latest_before], np.where(missing, -np.inf, wall_us))))
    second_pass = seen[:-1] >= wall_us  # a later wall-clock time came before: the clock went back
    out = np.where(ambiguous & second_pass, lt, e)
    out[~exists] = np.nan
    counts["nonexistent_local_time"] += int((~exists & ~missing).sum())
    counts["ambiguous_local_time"] += int(ambiguous.sum())
    return out / 1e6


def broken_stamps(t: np.ndarray, counts: Counter[str]) -> np.ndarray:
    """Mask of stamps to drop: outside 2000–2100, isolated jumps, backward jumps; each counted.

    Small disorder (jitter) is left for the caller to sort; only a stamp more than ``JUMP_S``
    behind the latest one before it is a backward jump.
    """
    finite = np.isfinite(t)
    drop = finite & ((t < EARLIEST) | (t >= LATEST))
    counts["implausible_timestamp"] += int(drop.sum())
    ok = finite & ~drop
    # the usual case, a clean file, works on views: no copies of a day's stamps
    idx = None if ok.all() else np.flatnonzero(ok)
    v = t if idx is None else t[idx]
    d = np.diff(v)
    if len(v) >= 3:
        big = np.abs(d) > JUMP_S
        cand = np.flatnonzero(big[:-1] & big[1:])  # a stamp off the line on both sides
        before, after = d[cand], d[cand + 1]
        spike = (np.sign(before) != np.sign(after)) & (
            np.abs(v[cand + 2] - v[cand]) < np.minimum(np.abs(before), np.abs(after)))
        pos = cand[spike] + 1
        if len(pos):
            counts["timestamp_jump"] += len(pos)
            drop[pos if idx is None else idx[pos]] = True
            keep = np.ones(len(v), bool)
            keep[pos] = False
            idx = np.flatnonzero(keep) if idx is None else idx[keep]
            v = t[idx]
            d = np.diff(v)
    if len(v) >= 2 and (d < 0).any():
        latest = np.maximum.accumulate(v)
        back = np.flatnonzero(v[1:] < latest[:-1] - JUMP_S) + 1
        counts["backward_jump"] += len(back)
        drop[back if idx is None else idx[back]] = True
    for key in [k for k, n in counts.items() if n == 0]:
        del counts[key]
    return drop

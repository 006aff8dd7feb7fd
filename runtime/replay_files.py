"""The replay's result files, written as the monitor's steps come (never from whole-recording
arrays): ``angles.csv`` at 1 Hz, ``episodes.csv``, ``alerts.csv`` for the whole recording, the
same three per local day under ``days/YYYY-MM-DD/`` (what ``report --replay DIR --day D`` reads)
and ``daily.csv``, one row per local day.

Every time is given twice: Unix seconds, and ISO 8601 local time with its UTC offset in the
wearer's zone (``alerts.timezone``, or ``--tz``). A day is the wearer's local calendar day.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from posturewatch.alerts.monitor import FinishedDay, MonitorStep
from posturewatch.alerts.records import Alert
from posturewatch.analytics.days import local_day, next_midnight
from posturewatch.analytics.records import EpisodeEvent, Posture
from posturewatch.ingest.records import ANGLE_NAMES
from posturewatch.runtime.session import FileOutputs
from posturewatch.store.rollup import SecondRollup, Seconds

DAYS_DIR = "days"
# local_time last: the columns before it keep the places they always had
ANGLE_FIELDS = ["timestamp", "posture", *ANGLE_NAMES, "local_time"]
EPISODE_FIELDS = ["id", "kind", "start", "end", "start_local", "end_local", "duration_s", "peak", "mean",
                  "confirmed"]
ALERT_FIELDS = ["id", "kind", "ts", "local_time", "severity", "title", "message", "episode_id",
                "episode_start"]
# what happened to the sensors' mountings: slips followed, sensors put back on, mountings learnt
MOUNTING_FIELDS = ["timestamp", "location", "note", "local_time"]
_LABELS = np.array([p.label for p in Posture])


def iso_local(ts, tz: str) -> np.ndarray:
    """ISO 8601 local date-times with offset (``2026-03-20T10:46:40+01:00``) of Unix seconds."""
    secs = np.floor(np.asarray(ts, dtype=np.float64)).astype(np.int64)
    stamps = pa.array(secs, pa.int64()).cast(pa.timestamp("s", tz=tz))
    text = pc.strftime(stamps, format="%Y-%m-%dT%H:%M:%S%z")
    return np.asarray(pc.replace_substring_regex(text, r"([+-]\d\d)(\d\d)$", r"\1:\2").to_pylist(),
                      dtype=object)


def _angle_lines(sec: Seconds, tz: str) -> list[str]:
    """``angles.csv`` lines of these seconds, as the csv writer would write the rows (no field
    needs quoting), formatted with plain string operations: the writer and numpy's string
    formatting cost more than the analysis of a second."""
    n = len(sec)
    cols = [["" if v != v else f"{v:.2f}" for v in sec.angles[a].tolist()] if a in sec.angles else [""] * n
            for a in ANGLE_NAMES]
    return [",".join(row) + "\r\n" for row in zip(
        map(str, sec.t.tolist()), _LABELS[sec.posture.astype(int)].tolist(), *cols,
        iso_local(sec.t, tz).tolist(), strict=True)]


def episode_row(e: EpisodeEvent, tz: str) -> list[str]:
    ep = e.episode
    start, end = iso_local([ep.start, ep.end], tz)
    return [ep.id, ep.kind, f"{ep.start:.1f}", f"{ep.end:.1f}", start, end, f"{ep.duration_s:.1f}",
            f"{ep.peak:.2f}", f"{ep.mean:.2f}", f"{ep.confirmed:.1f}"]


def alert_row(a: Alert, tz: str) -> list[str]:
    return [a.id, a.kind, f"{a.ts:.1f}", iso_local([a.ts], tz)[0], a.severity, a.title, a.message,
            a.episode_id, f"{a.episode_start:.1f}"]


class _Table:
    """One CSV file appended to; opened on first use, header written once."""

    def __init__(self, path: Path, fields: list[str]) -> None:
        self.path, self.fields = path, fields
        self._fh: IO[str] | None = None
        self._w = None

    def rows(self, rows) -> None:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            new = not self.path.exists()
            self._fh = self.path.open("a", newline="")
            self._w = csv.writer(self._fh)
            if new:
                self._w.writerow(self.fields)
        self._w.writerows(rows)

    def text(self, lines: str) -> None:
        """Rows already formatted as CSV lines (``\r\n`` ends, as the csv writer's)."""
        if self._fh is None:
            self.rows([])
        self._fh.write(lines)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


@dataclass
class ReplayTally:
    """What the summary says, counted as the steps go by (no arrays of the recording kept)."""

    frames: Counter[int] = field(default_factory=Counter)
    episodes: Counter[str] = field(default_factory=Counter)
    alerts: int = 0
    days: list[FinishedDay] = field(default_factory=list)
    seconds: int = 0


class ResultFiles(FileOutputs):
    """The replay's file outputs (an ``Outputs`` of the session)."""

    def __init__(self, out_dir: str | Path, tz: str) -> None:
        self.out = Path(out_dir)
        self.tz = tz
        self._zone = ZoneInfo(tz)
        self.tally = ReplayTally()
        self._rollup = SecondRollup()
        self._angles = _Table(self.out / "angles.csv", ANGLE_FIELDS)
        self._episodes = _Table(self.out / "episodes.csv", EPISODE_FIELDS)
        self._alerts = _Table(self.out / "alerts.csv", ALERT_FIELDS)
        self._day: str | None = None
        self._day_end = -np.inf
        self._day_angles: _Table | None = None

    # ---------------------------------------------------------------- Outputs protocol
    def open(self, session=None) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        for name in ("angles", "episodes", "alerts", "daily", "mountings"):
            (self.out / f"{name}.csv").unlink(missing_ok=True)
        days = self.out / DAYS_DIR
        if days.is_dir():  # results of an earlier replay into the same folder
            for old in days.glob("*/*.csv"):
                old.unlink()
        for table in (self._angles, self._episodes, self._alerts):
            table.rows([])  # every file exists, with its header, even when nothing happens

    def write(self, step: MonitorStep, now: float = 0.0) -> None:
        f = step.frames
        if len(f):
            counts = np.bincount(f.posture.astype(np.int64))
            for code in np.flatnonzero(counts):
                self.tally.frames[int(code)] += int(counts[code])
        self._seconds(self._rollup.push(f.t, f.angles, f.posture, step.complete_before))
        ended = [e for e in f.events if e.type == "end"]
        if ended:
            rows = [episode_row(e, self.tz) for e in ended]
            self._episodes.rows(rows)
            for e, row in zip(ended, rows, strict=True):
                self.tally.episodes[e.episode.kind] += 1
                self._day_table(e.episode.start, "episodes.csv", EPISODE_FIELDS).rows([row])
        if step.alerts:
            rows = [alert_row(a, self.tz) for a in step.alerts]
            self._alerts.rows(rows)
            self.tally.alerts += len(rows)
            for a, row in zip(step.alerts, rows, strict=True):
                self._day_table(a.ts, "alerts.csv", ALERT_FIELDS).rows([row])
        self.tally.days += step.days

    def close(self, session=None) -> None:
        self._seconds(self._rollup.flush())
        for table in (self._angles, self._episodes, self._alerts):
            table.close()
        if self._day_angles is not None:
            self._day_angles.close()
        self._write_daily()
        if session is not None and session.monitor is not None:
            self._write_mountings(session.monitor.pipeline.calibration_log)

    def _write_mountings(self, log: list[tuple[float, str]]) -> None:
        """``mountings.csv`` (whole recording and per day): each change to a sensor's mounting
        with its time, so the summary and the report can say when a correction was made."""
        rows = [[f"{ts:.1f}", note.split(":", 1)[0], note, str(iso_local(np.array([ts]), self.tz)[0])]
                for ts, note in sorted(log)]
        table = _Table(self.out / "mountings.csv", MOUNTING_FIELDS)
        table.rows(rows)
        table.close()
        for (ts, _), row in zip(sorted(log), rows, strict=True):
            self._day_table(ts, "mountings.csv", MOUNTING_FIELDS).rows([row])

    # ---------------------------------------------------------------- pieces
    def _seconds(self, sec: Seconds) -> None:
        if not len(sec):
            return
        self.tally.seconds += len(sec)
        lines = _angle_lines(sec, self.tz)
        self._angles.text("".join(lines))
        i = 0
        while i < len(lines):  # split at local midnight into the day folders
            if sec.t[i] >= self._day_end:
                if self._day_angles is not None:
                    self._day_angles.close()
                self._day = local_day(float(sec.t[i]), self._zone)
                self._day_end = next_midnight(float(sec.t[i]), self._zone)
                self._day_angles = _Table(self._day_dir(self._day) / "angles.csv", ANGLE_FIELDS)
            j = int(np.searchsorted(sec.t, self._day_end))
            self._day_angles.text("".join(lines[i:j]))
            i = j

    def _day_dir(self, day: str) -> Path:
        return self.out / DAYS_DIR / day

    def _day_table(self, ts: float, name: str, fields: list[str]) -> _Table:
        table = _Table(self._day_dir(local_day(ts, self._zone)) / name, fields)
        return _Closing(table)

    def _write_daily(self) -> None:
        """One row per local day: when it starts (Unix and local), its episode count and every
        figure of the day's summary (``FinishedDay.values()``: wear, postures, bouts, steps…)."""
        per_day = Counter()
        days_dir = self.out / DAYS_DIR
        for d in self.tally.days:
            path = days_dir / d.day / "episodes.csv"
            if path.exists():
                with path.open() as fh:
                    per_day[d.day] = max(0, sum(1 for _ in fh) - 1)
        rows = [(d, d.values()) for d in self.tally.days]
        names = sorted({k for _, values in rows for k in values})
        with (self.out / "daily.csv").open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["day", "start", "local_start", "episodes", *names])
            for d, values in rows:
                w.writerow([d.day, f"{d.start:.0f}", iso_local([d.start], self.tz)[0], per_day[d.day],
                            *(f"{float(values.get(k, 0.0)):.6g}" for k in names)])
        for d in self.tally.days:  # a day folder holds all three files, even if empty
            for name, flds in (("episodes.csv", EPISODE_FIELDS), ("alerts.csv", ALERT_FIELDS),
                               ("angles.csv", ANGLE_FIELDS)):
                _Closing(_Table(days_dir / d.day / name, flds)).rows([])


class _Closing:
    """A table written once and closed at once (episodes and alerts of a day are few)."""

    def __init__(self, table: _Table) -> None:
        self.table = table

    def rows(self, rows) -> None:
        self.table.rows(rows)
        self.table.close()

"""Where a daily report's data comes from: the embedded SQLite store or a replay's output folder.

Both loaders return ``analytics.report_stats.DayData`` for one local calendar day. The store gives
response times and the alert day summary; a replay folder (``angles.csv``, ``episodes.csv``,
``alerts.csv`` as ``posturewatch replay`` writes them) cannot say how the wearer responded.
Malformed CSV rows are skipped, counted and described in ``LoadReport``, never guessed at.
"""

from __future__ import annotations

import csv
import math
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from posturewatch.analytics.records import Posture
from posturewatch.analytics.report_stats import DayData, ReportAlert, ReportEpisode
from posturewatch.ingest.records import ANGLE_NAMES
from posturewatch.runtime.paths import STORE_FILE
from posturewatch.runtime.replay_files import DAYS_DIR
from posturewatch.store.sqlite import SqliteStore, day_bounds


class ReportDataError(ValueError):
    """The requested data is not there (no store, no such user or day, missing files)."""


@dataclass
class LoadReport:
    bad_rows: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    def print_to(self, stream) -> None:
        """The notes and the skipped-row counts, one line each (stderr of the report commands)."""
        for note in self.notes:
            print(f"note: {note}", file=stream)
        if self.bad_rows:
            counts = ", ".join(f"{k} {v}" for k, v in sorted(self.bad_rows.items()))
            print(f"skipped rows: {counts}", file=stream)

    def bad(self, where: str, line: int, why: str) -> None:
        self.bad_rows[where] += 1
        if self.bad_rows[where] <= 3:
            self.notes.append(f"{where} line {line}: {why}; row skipped")


def local_day(ts: float, tz: str) -> str:
    return datetime.fromtimestamp(ts, ZoneInfo(tz)).date().isoformat()


# ---- embedded store --------------------------------------------------------------------------

def _latest_ts(path: Path, user: str) -> float | None:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        row = db.execute("SELECT MAX(ts) FROM angles WHERE user = ?", (user,)).fetchone()
    return None if row is None or row[0] is None else float(row[0])


def load_store(data_dir: Path, user: str | None, day: str | None, tz: str = "UTC",
               reminder_budget: int | None = None) -> DayData:
    """One user's day from ``data_dir/store.db``; user and day default to the only user / latest day.
    ``reminder_budget``: the configured daily cap, for a day whose stored summary does not say it
    (the running day)."""
    path = Path(data_dir) / STORE_FILE
    if not path.exists():
        raise ReportDataError(f"no embedded store at {path} (run `posturewatch demo` or pass --replay)")
    store = SqliteStore(path)
    try:
        users = store.users()
        if user is None:
            if len(users) != 1:
                raise ReportDataError(
                    f"{path} holds {len(users)} users ({', '.join(users) or 'none'}): choose one with --user")
            user = users[0]
        elif user not in users:
            known = ", ".join(users) or "none"
            raise ReportDataError(f"{path} has no data of user {user!r} (users: {known})")
        if day is None:
            latest = _latest_ts(path, user)
            day = local_day(latest, tz) if latest is not None else None
        if day is None:
            raise ReportDataError(f"{path} has no angle data of user {user!r}")
        seconds = store.angles_on(user, day, tz)
        if not len(seconds):
            raise ReportDataError(f"{path}: user {user!r} has no data on {day} ({tz})")
        episodes = [
            ReportEpisode(r["kind"], float(r["start"]), _opt(r["end"]), _num(r["peak"]), _num(r["mean"]))
            for r in store.episodes_on(user, day, tz)
        ]
        alerts = [
            ReportAlert(float(r["ts"]), r["kind"], r["title"], r["severity"], _opt(r["response_s"]))
            for r in store.alerts_on(user, day, tz)
        ]
        summary = store.daily_summary(user, day)
        mountings = store.mountings_on(user, day, tz)
    finally:
        store.close()
    return DayData(user, day, tz, seconds.t.astype(np.int64), seconds.posture.astype(np.int8),
                   dict(seconds.angles), episodes, alerts, summary, True, f"embedded store {path}",
                   reminder_budget, mountings=mountings)


def _opt(value) -> float | None:
    return None if value is None else float(value)


def _num(value) -> float:
    return math.nan if value is None else float(value)


# ---- replay output folder --------------------------------------------------------------------

def _rows(path: Path, required: tuple[str, ...]):
    if not path.exists():
        raise ReportDataError(f"{path} is missing (expected `posturewatch replay --out` output)")
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise ReportDataError(f"{path}: missing column(s) {', '.join(missing)}")
        yield from enumerate(reader, start=2)


def _float(text: str | None) -> float:
    if text is None or text.strip() == "":
        return math.nan
    value = float(text)  # ValueError names the text
    return value


def replay_days(folder: Path) -> list[str]:
    """The local days a replay folder holds results for (``days/YYYY-MM-DD/``), in order."""
    days = Path(folder) / DAYS_DIR
    if not days.is_dir():
        return []
    return sorted(d.name for d in days.iterdir() if (d / "angles.csv").is_file())


def load_replay(folder: Path, day: str | None, tz: str = "UTC", user: str = "replay",
                report: LoadReport | None = None) -> DayData:
    """One local day of a replay's results (default: the latest day; the others are noted)."""
    folder = Path(folder)
    report = report if report is not None else LoadReport()
    days = replay_days(folder)
    if days:
        if day is None:
            day = days[-1]
            if len(days) > 1:
                report.notes.append(f"showing {day}, the latest day; {folder} also holds "
                                    f"{', '.join(days[:-1])} (choose with --day)")
        elif day not in days:
            raise ReportDataError(f"{folder} has no results for {day}; it holds {', '.join(days)}")
        return _load_replay_files(folder / DAYS_DIR / day, folder, day, tz, user, report)
    return _load_replay_files(folder, folder, day, tz, user, report)


def _load_replay_files(folder: Path, shown: Path, day: str | None, tz: str, user: str,
                       report: LoadReport) -> DayData:
    labels = {p.label: int(p) for p in Posture}
    ts, codes, values = [], [], []
    for line, row in _rows(folder / "angles.csv", ("timestamp", "posture")):
        try:
            t = _float(row["timestamp"])
            code = labels[row["posture"].strip()]
            angle_row = [_float(row.get(a)) for a in ANGLE_NAMES]
        except (KeyError, ValueError, AttributeError) as exc:
            report.bad("angles.csv", line, f"unreadable ({exc})")
            continue
        if not math.isfinite(t):
            report.bad("angles.csv", line, "no timestamp")
            continue
        ts.append(t)
        codes.append(code)
        values.append(angle_row)
    if not ts:
        raise ReportDataError(f"{folder / 'angles.csv'} holds no usable rows")
    t = np.floor(np.asarray(ts)).astype(np.int64)
    matrix = np.asarray(values, dtype=float).reshape(len(ts), len(ANGLE_NAMES))
    order = np.argsort(t, kind="stable")
    t, matrix, posture = t[order], matrix[order], np.asarray(codes, np.int8)[order]
    keep = np.concatenate(([True], np.diff(t) > 0))  # one row per second
    if not keep.all():
        report.bad_rows["angles.csv duplicate seconds"] += int((~keep).sum())
    t, matrix, posture = t[keep], matrix[keep], posture[keep]
    day = day or local_day(float(t[-1]), tz)
    # a day folder holds that day as the replay's zone cut it: all of it belongs to the report
    lo, hi = (-math.inf, math.inf) if folder != shown else day_bounds(day, tz)
    inside = (t >= lo) & (t < hi)
    if not inside.any():
        raise ReportDataError(f"{folder}: no rows on {day} ({tz})")
    episodes = []
    for line, row in _rows(folder / "episodes.csv", ("kind", "start", "end")):
        try:
            ep = ReportEpisode(row["kind"], _float(row["start"]), _float(row["end"]),
                               _float(row.get("peak")), _float(row.get("mean")))
        except (ValueError, TypeError) as exc:
            report.bad("episodes.csv", line, f"unreadable ({exc})")
            continue
        if not math.isfinite(ep.start):
            report.bad("episodes.csv", line, "no start")
            continue
        if lo <= ep.start < hi:
            episodes.append(ep if math.isfinite(ep.end or math.nan) else
                            ReportEpisode(ep.kind, ep.start, None, ep.peak, ep.mean))
    alerts = []
    for line, row in _rows(folder / "alerts.csv", ("kind", "ts")):
        try:
            alert = ReportAlert(_float(row["ts"]), row["kind"], row.get("title") or row["kind"],
                                row.get("severity") or "info")
        except (ValueError, TypeError) as exc:
            report.bad("alerts.csv", line, f"unreadable ({exc})")
            continue
        if lo <= alert.ts < hi:
            alerts.append(alert)
    mountings = []
    if (folder / "mountings.csv").exists():  # older replays have none
        for line, row in _rows(folder / "mountings.csv", ("timestamp", "note")):
            ts = _float(row["timestamp"])
            if not math.isfinite(ts):
                report.bad("mountings.csv", line, "no timestamp")
            elif lo <= ts < hi:
                mountings.append((ts, row["note"]))
    angles = {a: matrix[inside, i] for i, a in enumerate(ANGLE_NAMES)}
    return DayData(user, day, tz, t[inside], posture[inside], angles, episodes, alerts, {},
                   responses_known=False, source=f"replay {shown}", mountings=mountings)

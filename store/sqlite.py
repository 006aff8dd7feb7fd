"""Embedded store: the schema of docs/architecture.md §4 in SQLite, plus the texts InfluxDB cannot hold.

Used when no InfluxDB is configured and by the daily report. Every table is keyed by the record's
identity (angles: user + second; episodes: user + kind + start; alerts: user + id; sensor status:
user + location + ts; mounting changes: user + ts + note; daily summary: user + day + name), and
every write is an upsert, so a replay or a redelivery overwrites instead of duplicating.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from posturewatch.alerts.records import Alert
from posturewatch.analytics.records import Episode, Posture
from posturewatch.ingest.records import ANGLE_NAMES
from posturewatch.store.rollup import Seconds

_ANGLE_COLS = ", ".join(f"{n} REAL" for n in ANGLE_NAMES)
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS angles (
    user TEXT NOT NULL, ts INTEGER NOT NULL, posture TEXT NOT NULL, posture_code INTEGER NOT NULL,
    {_ANGLE_COLS}, PRIMARY KEY (user, ts));
CREATE TABLE IF NOT EXISTS episodes (
    user TEXT NOT NULL, kind TEXT NOT NULL, start REAL NOT NULL, id TEXT NOT NULL,
    confirmed REAL NOT NULL, "end" REAL, duration_s REAL, peak REAL, mean REAL,
    PRIMARY KEY (user, kind, start));
CREATE TABLE IF NOT EXISTS alerts (
    user TEXT NOT NULL, id TEXT NOT NULL, kind TEXT NOT NULL, ts REAL NOT NULL,
    title TEXT NOT NULL, message TEXT NOT NULL, severity TEXT NOT NULL, episode_id TEXT NOT NULL,
    episode_start REAL NOT NULL, episode_end REAL, repeat INTEGER NOT NULL, response_s REAL,
    PRIMARY KEY (user, id));
CREATE TABLE IF NOT EXISTS sensor_status (
    user TEXT NOT NULL, location TEXT NOT NULL, ts REAL NOT NULL, connected INTEGER NOT NULL,
    battery_pct REAL, rate_hz REAL, loss_pct REAL, PRIMARY KEY (user, location, ts));
CREATE TABLE IF NOT EXISTS mountings (
    user TEXT NOT NULL, ts REAL NOT NULL, location TEXT NOT NULL, note TEXT NOT NULL,
    PRIMARY KEY (user, ts, note));
CREATE TABLE IF NOT EXISTS daily_summary (
    user TEXT NOT NULL, day TEXT NOT NULL, name TEXT NOT NULL, value REAL NOT NULL,
    PRIMARY KEY (user, day, name));
"""


def day_bounds(day: date | str, tz: str = "UTC") -> tuple[float, float]:
    """[start, end) Unix seconds of a local calendar day."""
    d = date.fromisoformat(day) if isinstance(day, str) else day
    zone = ZoneInfo(tz)
    start = datetime.combine(d, time(0), zone).timestamp()
    end = datetime.combine(d + timedelta(days=1), time(0), zone).timestamp()
    return start, end


def _nan_to_none(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


class SqliteStore:
    """One SQLite file (WAL) holding every user's records; safe to share between threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ---- writes (upserts) ---------------------------------------------------------------

    def write_angles(self, user: str, seconds: Seconds) -> int:
        cols = ["user", "ts", "posture", "posture_code", *ANGLE_NAMES]
        n = len(seconds)
        nan = np.full(n, np.nan)
        columns = [np.asarray(seconds.angles.get(name, nan), dtype=np.float64) for name in ANGLE_NAMES]
        matrix = np.column_stack(columns) if n else np.zeros((0, len(ANGLE_NAMES)))
        labels = [p.label for p in Posture]
        codes = np.asarray(seconds.posture, dtype=np.int64)
        # sqlite takes NULL for a missing angle; object array keeps None alongside floats
        values = matrix.astype(object)
        values[~np.isfinite(matrix)] = None
        rows = [
            (user, int(t), labels[c], int(c), *vals)
            for t, c, vals in zip(
                np.asarray(seconds.t).tolist(), codes.tolist(), values.tolist(), strict=True
            )
        ]
        marks = ", ".join("?" * len(cols))
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols[2:])
        with self._lock, self._db:
            self._db.executemany(
                f"INSERT INTO angles ({', '.join(cols)}) VALUES ({marks})"
                f" ON CONFLICT (user, ts) DO UPDATE SET {updates}",
                rows,
            )
        return len(rows)

    def write_episode(self, user: str, episode: Episode) -> None:
        row = (
            user, episode.kind, episode.start, episode.id, episode.confirmed, episode.end,
            episode.duration_s, _nan_to_none(episode.peak), _nan_to_none(episode.mean),
        )
        with self._lock, self._db:
            self._db.execute(
                'INSERT INTO episodes (user, kind, start, id, confirmed, "end", duration_s, peak,'
                " mean) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (user, kind, start) DO UPDATE"
                ' SET confirmed = excluded.confirmed, "end" = COALESCE(excluded."end", "end"),'
                " duration_s = COALESCE(excluded.duration_s, duration_s),"
                " peak = COALESCE(excluded.peak, peak), mean = COALESCE(excluded.mean, mean)",
                row,
            )

    def write_alert(self, user: str, alert: Alert, response_s: float | None = None) -> None:
        row = (
            user, alert.id, alert.kind, alert.ts, alert.title, alert.message, alert.severity,
            alert.episode_id, alert.episode_start, alert.episode_end, alert.repeat, response_s,
        )
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO alerts (user, id, kind, ts, title, message, severity, episode_id,"
                " episode_start, episode_end, repeat, response_s)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (user, id) DO UPDATE SET"
                " episode_end = COALESCE(excluded.episode_end, episode_end),"
                " response_s = COALESCE(excluded.response_s, response_s)",
                row,
            )

    def record_response(self, user: str, alert_id: str, response_s: float) -> None:
        with self._lock, self._db:
            self._db.execute(
                "UPDATE alerts SET response_s = ? WHERE user = ? AND id = ?",
                (response_s, user, alert_id),
            )

    def write_sensor_status(
        self, user: str, location: str, ts: float, *, connected: bool,
        battery_pct: float | None = None, rate_hz: float | None = None,
        loss_pct: float | None = None,
    ) -> None:
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO sensor_status VALUES (?, ?, ?, ?, ?, ?, ?)",
                (user, location, ts, int(connected), battery_pct, rate_hz, loss_pct),
            )

    def write_mountings(self, user: str, notes: Iterable[tuple[float, str]]) -> int:
        """Changes to the sensors' mountings: (time, note), the note led by its location
        ("thorax: slip followed …")."""
        rows = [(user, float(ts), note.split(":", 1)[0].strip(), note) for ts, note in notes]
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO mountings VALUES (?, ?, ?, ?)", rows)
        return len(rows)

    def write_daily_summary(self, user: str, day: str, values: Mapping[str, float]) -> None:
        with self._lock, self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO daily_summary VALUES (?, ?, ?, ?)",
                [(user, day, k, float(v)) for k, v in values.items()],
            )

    # ---- reads --------------------------------------------------------------------------

    def angles_between(self, user: str, t0: float, t1: float) -> Seconds:
        """1 Hz rows with t0 ≤ ts < t1 as arrays (NaN where an angle was missing)."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT ts, posture_code, {', '.join(ANGLE_NAMES)} FROM angles"
                " WHERE user = ? AND ts >= ? AND ts < ? ORDER BY ts",
                (user, t0, t1),
            ).fetchall()
        data = np.array(rows, dtype=np.float64).reshape(len(rows), 2 + len(ANGLE_NAMES))
        return Seconds(
            data[:, 0].astype(np.int64),
            {n: data[:, 2 + i] for i, n in enumerate(ANGLE_NAMES)},
            data[:, 1].astype(np.int8),
        )

    def angles_on(self, user: str, day: date | str, tz: str = "UTC") -> Seconds:
        return self.angles_between(user, *day_bounds(day, tz))

    def episodes_on(self, user: str, day: date | str, tz: str = "UTC") -> list[dict]:
        """Episodes that started on the local day, oldest first, as dicts of the columns."""
        return self._dicts(
            'SELECT id, kind, start, confirmed, "end", duration_s, peak, mean FROM episodes'
            " WHERE user = ? AND start >= ? AND start < ? ORDER BY start",
            (user, *day_bounds(day, tz)),
        )

    def alerts_on(self, user: str, day: date | str, tz: str = "UTC") -> list[dict]:
        return self._dicts(
            "SELECT id, kind, ts, title, message, severity, episode_id, episode_start,"
            " episode_end, repeat, response_s FROM alerts"
            " WHERE user = ? AND ts >= ? AND ts < ? ORDER BY ts",
            (user, *day_bounds(day, tz)),
        )

    def mountings_on(self, user: str, day: date | str, tz: str = "UTC") -> list[tuple[float, str]]:
        """(time, note) of the mounting changes on the local day, oldest first."""
        with self._lock:
            return [(float(ts), note) for ts, note in self._db.execute(
                "SELECT ts, note FROM mountings WHERE user = ? AND ts >= ? AND ts < ? ORDER BY ts",
                (user, *day_bounds(day, tz)))]

    def daily_summary(self, user: str, day: date | str) -> dict[str, float]:
        key = day if isinstance(day, str) else day.isoformat()
        with self._lock:
            return dict(
                self._db.execute(
                    "SELECT name, value FROM daily_summary WHERE user = ? AND day = ?", (user, key)
                )
            )

    def daily_summaries(self, user: str, first: str, last: str) -> dict[str, dict[str, float]]:
        """Day (ISO) → the day's summary, for first ≤ day ≤ last; days without one are absent."""
        out: dict[str, dict[str, float]] = {}
        with self._lock:
            rows = self._db.execute(
                "SELECT day, name, value FROM daily_summary WHERE user = ? AND day >= ? AND day <= ?"
                " ORDER BY day", (user, first, last)).fetchall()
        for day, name, value in rows:
            out.setdefault(day, {})[name] = float(value)
        return out

    def users(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT DISTINCT user FROM angles ORDER BY 1")]

    def _dicts(self, sql: str, params: Iterable) -> list[dict]:
        with self._lock:
            cur = self._db.execute(sql, tuple(params))
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

"""Where a trends report's days come from: the embedded store or a replay's output folder.

Both give ``analytics.trends.TrendData`` for a period of local days plus the period of the same
length before it (for "25 minutes less than the week before"). Each day is reduced to its figures
on its own: from the store one day of 1 Hz rows is read at a time; from a replay folder only the
period's times and posture codes are kept (9 bytes a second), never the angles. Figures the monitor
stored for a day (``daily_summary``, a replay's ``daily.csv``) take precedence over recomputed ones.
Training goals (``[alerts.training]``) are followed from their start date to the period's end.
"""

from __future__ import annotations

import csv
import math
import sqlite3
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from posturewatch.alerts.training import TrainingSettings, streak, training_goal
from posturewatch.analytics.records import Posture
from posturewatch.analytics.report_stats import ReportAlert, ReportEpisode
from posturewatch.analytics.trends import (
    MIN_WEAR_MIN,
    GoalDay,
    Goals,
    GoalStreak,
    TrendData,
    day_figures,
    with_summary,
)
from posturewatch.app.report_data import LoadReport, ReportDataError, _float, _rows, local_day
from posturewatch.runtime.paths import STORE_FILE
from posturewatch.store.sqlite import SqliteStore, day_bounds

_NUMBER = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"
DayFigures = Callable[[str], tuple[dict[str, float], int]]  # day → (figures, reminders sent)


def with_budget(figures: dict[str, float], summary: dict[str, float]) -> dict[str, float]:
    """The day's reminder budget (``reminder_budget``) alongside its figures, when it was stored."""
    if "reminder_budget" in summary:
        figures["reminder_budget"] = float(summary["reminder_budget"])
    return figures


def period(first: str | None, last: str | None, days: int | None, latest: str) -> list[str]:
    """The local days of the report: ``--from``/``--to``, or ``--days`` ending at ``--to`` or the
    latest day with data."""
    end = date.fromisoformat(last) if last else date.fromisoformat(latest)
    start = date.fromisoformat(first) if first else end - timedelta(days=(days or 7) - 1)
    if start > end:
        raise ReportDataError(f"the period starts ({start}) after it ends ({end})")
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def _days_before(days: list[str]) -> list[str]:
    first = date.fromisoformat(days[0])
    return [(first - timedelta(days=len(days) - i)).isoformat() for i in range(len(days))]


def assemble(user: str, tz: str, days: list[str], figures_of: DayFigures, training: TrainingSettings,
             responses_known: bool, source_kind: str) -> TrendData:
    figures, reminders = {}, {}
    for day in days:
        figures[day], reminders[day] = figures_of(day)
    before = {day: figures_of(day)[0] for day in _days_before(days)}
    trend = TrendData(user, tz, days, figures, before, reminders, responses_known, source_kind)
    trend.goals = follow_goals(training, days, figures, figures_of)
    return trend


def _met(figures: dict[str, float], bout_max: float, slumped_max: float) -> tuple[bool, bool] | None:
    """(sitting spells kept under the goal, slumping kept under it); None: too little wear."""
    if figures.get("wear_min", 0.0) < MIN_WEAR_MIN or "longest_bout_min" not in figures:
        return None
    slumped = figures.get("slumped_pct", 0.0)
    return figures["longest_bout_min"] <= bout_max, slumped <= slumped_max


STREAK_LABELS = (("sitting_bout", "sitting spells under the goal"), ("slumped", "slumping under the goal"),
                 ("both", "the whole day's goal"))


def follow_goals(settings: TrainingSettings, days: list[str], known: dict[str, dict[str, float]],
                 figures_of: DayFigures) -> Goals | None:
    """Each day's training goal from the start date on (``training_goal``) and whether it was met."""
    if not settings.enabled or not settings.start_date:
        return None
    start, end = date.fromisoformat(settings.start_date), date.fromisoformat(days[-1])
    if start > end:
        return None
    met_per_week: list[int] = []
    shown: list[GoalDay] = []
    history: dict[str, list[bool | None]] = {name: [] for name, _ in STREAK_LABELS}
    goal = None
    for i in range((end - start).days + 1):
        day = start + timedelta(days=i)
        goal = training_goal(settings, day, met_per_week)
        if goal is None:
            continue
        iso = day.isoformat()
        figures = known[iso] if iso in known else figures_of(iso)[0]
        each = _met(figures, goal.sitting_bout_max_min, goal.slumped_max_pct)
        bout_met, slumped_met = each if each is not None else (None, None)
        met = None if each is None else all(each)
        for name, value in zip(history, (bout_met, slumped_met, met), strict=True):
            history[name].append(value)
        while len(met_per_week) <= goal.week:
            met_per_week.append(0)
        met_per_week[goal.week] += bool(met)
        if iso in known:
            shown.append(GoalDay(iso, goal.week, goal.sitting_bout_max_min, goal.slumped_max_pct, met,
                                 bout_met, slumped_met))
    if goal is None:
        return None
    streaks = [GoalStreak(name, label, (s := streak(history[name])).current, s.best)
               for name, label in STREAK_LABELS]
    return Goals(shown, goal.week, goal.step, goal.steps, settings.days_to_advance,
                 met_per_week[goal.week] if met_per_week else 0, streaks)


# ---- embedded store --------------------------------------------------------------------------

def _postures(db: sqlite3.Connection, user: str, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    rows = db.execute("SELECT ts, posture_code FROM angles WHERE user = ? AND ts >= ? AND ts < ?"
                      " ORDER BY ts", (user, lo, hi)).fetchall()
    data = np.array(rows, dtype=np.int64).reshape(len(rows), 2)
    return data[:, 0], data[:, 1].astype(np.int8)


def trend_from_store(data_dir: Path, user: str | None, first: str | None, last: str | None,
                     days: int | None, tz: str, training: TrainingSettings) -> TrendData:
    path = Path(data_dir) / STORE_FILE
    if not path.exists():
        raise ReportDataError(f"no embedded store in {data_dir} (run `posturewatch demo` or pass --replay)")
    store = SqliteStore(path)
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        users = store.users()
        if user is None:
            if len(users) != 1:
                raise ReportDataError(f"the store holds {len(users)} users ({', '.join(users) or 'none'}): "
                                      "choose one with --user")
            user = users[0]
        elif user not in users:
            known = ", ".join(users) or "none"
            raise ReportDataError(f"the store has no data of user {user!r} (users: {known})")
        latest = db.execute("SELECT MAX(ts) FROM angles WHERE user = ?", (user,)).fetchone()[0]
        span = period(first, last, days, local_day(float(latest), tz))

        def figures_of(day: str) -> tuple[dict[str, float], int]:
            lo, hi = day_bounds(day, tz)
            t, codes = _postures(db, user, lo, hi)
            episodes = [ReportEpisode(r["kind"], float(r["start"]),
                                      None if r["end"] is None else float(r["end"]))
                        for r in store.episodes_on(user, day, tz)]
            alerts = [ReportAlert(float(r["ts"]), r["kind"], r["title"], r["severity"],
                                  None if r["response_s"] is None else float(r["response_s"]))
                      for r in store.alerts_on(user, day, tz)]
            figures = day_figures(t, codes, episodes, alerts, True)
            return with_budget(with_summary(figures, summary := store.daily_summary(user, day)),
                               summary), len(alerts)

        return assemble(user, tz, span, figures_of, training, True, "embedded store")
    finally:
        db.close()
        store.close()


# ---- replay output folder --------------------------------------------------------------------

def _angle_batches(path: Path, report: LoadReport) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(whole seconds, posture codes) of ``angles.csv`` block by block; unreadable rows counted."""
    if not path.exists():
        raise ReportDataError(f"{path.name} is missing from the replay folder "
                              "(expected `posturewatch replay --out` output)")
    labels = {p.label: int(p) for p in Posture}
    options = pacsv.ConvertOptions(include_columns=["timestamp", "posture"],
                                   column_types={"timestamp": pa.string(), "posture": pa.string()})
    def skip(row) -> str:  # a row with the wrong number of cells
        report.bad_rows["angles.csv"] += 1
        return "skip"

    try:
        reader = pacsv.open_csv(path, convert_options=options,
                                read_options=pacsv.ReadOptions(block_size=4 << 20),
                                parse_options=pacsv.ParseOptions(invalid_row_handler=skip))
    except (pa.ArrowInvalid, KeyError) as exc:
        raise ReportDataError(f"{path.name}: unreadable ({str(exc).splitlines()[0]})") from None
    for batch in reader:
        stamps, names = batch.column("timestamp"), batch.column("posture")
        numeric = pc.fill_null(pc.match_substring_regex(stamps, _NUMBER), False)
        numeric = numeric.to_numpy(zero_copy_only=False)
        t = np.full(len(batch), np.nan)
        if numeric.any():
            t[numeric] = pc.cast(pc.utf8_trim_whitespace(pc.filter(stamps, numeric)), pa.float64()).to_numpy()
        encoded = pc.dictionary_encode(names).combine_chunks() if isinstance(names, pa.ChunkedArray) \
            else pc.dictionary_encode(names)
        lookup = np.array([labels.get(n, -1) for n in encoded.dictionary.to_pylist()] + [-1], np.int16)
        index = pc.fill_null(encoded.indices, len(lookup) - 1).to_numpy(zero_copy_only=False)
        codes = lookup[index]
        good = np.isfinite(t) & (codes >= 0)
        if (~good).any():
            report.bad_rows["angles.csv"] += int((~good).sum())
        yield np.floor(t[good]).astype(np.int64), codes[good].astype(np.int8)


def _daily_csv(folder: Path, report: LoadReport) -> dict[str, dict[str, float]]:
    """A replay's stored day figures by name (``daily.csv``: a ``day`` column and numbers)."""
    path = folder / "daily.csv"
    if not path.exists():
        return {}
    out: dict[str, dict[str, float]] = {}
    with path.open(newline="") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            day = (row.get("day") or "").strip()
            try:
                date.fromisoformat(day)
            except ValueError:
                report.bad("daily.csv", line, f"no valid day ({day!r})")
                continue
            values = {}
            for name, text in row.items():
                try:
                    value = float(text) if name not in ("day", "start") and text else math.nan
                except (TypeError, ValueError):
                    continue
                if math.isfinite(value):
                    values[name] = value
            out[day] = values
    return out


def trend_from_replay(folder: Path, first: str | None, last: str | None, days: int | None, tz: str,
                      user: str, training: TrainingSettings, report: LoadReport) -> TrendData:
    folder = Path(folder)
    latest = None
    for t, _ in _angle_batches(folder / "angles.csv", report):
        if len(t):
            latest = max(latest or t.max(), t.max())
    if latest is None:
        raise ReportDataError("angles.csv of the replay folder holds no usable rows")
    span = period(first, last, days, local_day(float(latest), tz))
    before = _days_before(span)
    goal_start = training.start_date if training.enabled and training.start_date else span[0]
    lo = day_bounds(min(before[0], goal_start), tz)[0]
    hi = day_bounds(span[-1], tz)[1]
    report.bad_rows.pop("angles.csv", None)  # counted again below
    per_day: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for t, codes in _angle_batches(folder / "angles.csv", report):
        keep = (t >= lo) & (t < hi)
        if keep.any():
            t, codes = t[keep], codes[keep]
            cuts = _day_index(t, tz)
            for day in np.unique(cuts):
                inside = cuts == day
                per_day.setdefault(str(day), []).append((t[inside], codes[inside]))
    episodes = _replay_episodes(folder, report)
    alerts = _replay_alerts(folder, report)
    stored = _daily_csv(folder, report)

    def figures_of(day: str) -> tuple[dict[str, float], int]:
        parts = per_day.get(day, [])
        t = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
        codes = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int8)
        order = np.argsort(t, kind="stable")
        t, codes = t[order], codes[order]
        unique = np.concatenate(([True], np.diff(t) > 0)) if len(t) else np.zeros(0, bool)
        d_lo, d_hi = day_bounds(day, tz)
        eps = [e for e in episodes if d_lo <= e.start < d_hi]
        sent = [a for a in alerts if d_lo <= a.ts < d_hi]
        figures = with_budget(with_summary(day_figures(t[unique], codes[unique], eps, sent, False),
                                           stored.get(day, {})), stored.get(day, {}))
        return figures, int(stored.get(day, {}).get("alerts", len(sent)))

    return assemble(user, tz, span, figures_of, training, False, "replay")


def _day_index(t: np.ndarray, tz: str) -> np.ndarray:
    """The local day (ISO text) of each second, by midnights rather than per-row conversion."""
    first, last = local_day(float(t[0]), tz), local_day(float(t[-1]), tz)
    n = (date.fromisoformat(last) - date.fromisoformat(first)).days + 1
    names = [(date.fromisoformat(first) + timedelta(days=i)).isoformat() for i in range(n)]
    midnights = np.array([day_bounds(d, tz)[0] for d in names[1:]], float)
    return np.asarray(names, dtype=object)[np.searchsorted(midnights, t, side="right")]


def _replay_episodes(folder: Path, report: LoadReport) -> list[ReportEpisode]:
    out = []
    for line, row in _rows(folder / "episodes.csv", ("kind", "start", "end")):
        try:
            start, end = _float(row["start"]), _float(row["end"])
        except (ValueError, TypeError) as exc:
            report.bad("episodes.csv", line, f"unreadable ({exc})")
            continue
        if not math.isfinite(start):
            report.bad("episodes.csv", line, "no start")
            continue
        out.append(ReportEpisode(row["kind"], start, end if math.isfinite(end) else None))
    return out


def _replay_alerts(folder: Path, report: LoadReport) -> list[ReportAlert]:
    out = []
    for line, row in _rows(folder / "alerts.csv", ("kind", "ts")):
        try:
            ts = _float(row["ts"])
        except (ValueError, TypeError) as exc:
            report.bad("alerts.csv", line, f"unreadable ({exc})")
            continue
        if math.isfinite(ts):
            out.append(ReportAlert(ts, row["kind"], row.get("title") or row["kind"]))
    return out

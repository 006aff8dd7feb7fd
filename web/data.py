"""What the Today, Trends and patient pages read from a wearer's embedded store.

*Today* reuses the daily report's loader and numbers (``app.report_data.load_store``,
``analytics.report_stats.day_stats``). *Trends* are the trends report's own figures
(``app.trends_data.trend_from_store``: the same days, the same values, the same words for the
training goals and streaks), so the page and a printed report never disagree. Week-over-week
compares the mean of the last 7 days with the 7 days before them, over the days worn long
enough to count (as the report averages).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from posturewatch.alerts.training import TrainingSettings
from posturewatch.analytics.report_stats import DayData, DayStats, day_stats, hm
from posturewatch.analytics.trends import Figure as TrendFigure
from posturewatch.analytics.trends import Goals, TrendData, format_value, goal_sentences
from posturewatch.app.report_data import ReportDataError, load_store
from posturewatch.app.trends_data import trend_from_store
from posturewatch.store.sqlite import SqliteStore

RANGES = (7, 28, 90)
# reminders sent per day: not a habit figure of the report, but the report counts them the same way
REMINDERS = TrendFigure("reminders", "Reminders sent", "count", None)


def format_change(unit: str, now: float | None, before: float | None) -> str:
    """"+12 min", "−3 points", "±0" — the week-over-week difference in the figure's unit."""
    if now is None or before is None:
        return "–"
    diff = now - before
    if unit == "pct":
        text, zero = f"{abs(diff):.0f} points", abs(diff) < 0.5
    elif unit == "min":
        text, zero = hm(abs(diff) * 60.0), abs(diff) < 0.5
    else:
        text, zero = f"{abs(diff):.1f}", abs(diff) < 0.05
    return "±0" if zero else ("+" if diff > 0 else "−") + text


@dataclass
class Figure:
    spec: TrendFigure
    values: list[float | None]  # one per day of the range, oldest first
    this_week: float | None
    last_week: float | None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def label(self) -> str:
        return self.spec.label

    @property
    def change(self) -> str:
        return format_change(self.spec.unit, self.this_week, self.last_week)

    def shown(self, value: float | None) -> str:
        return "–" if value is None else format_value(self.spec, value)


@dataclass
class Trends:
    """``with_data``: days of the range worn long enough to count; ``goals``/``goal_text``: the
    training progress and streaks, as the trends report words them (None/[] without training)."""

    days: list[str]
    figures: list[Figure]
    with_data: int
    goals: Goals | None = None
    goal_text: list[str] = field(default_factory=list)


def _present(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _week_mean(trend: TrendData, name: str, days: list[str],
               figures: dict[str, dict[str, float]]) -> float | None:
    """The mean over the worn days among ``days`` (the report's averaging)."""
    period = {d: figures[d] for d in days if d in figures}
    return _present(trend.average(name, period)) if period else None


def trend_figures(trend: TrendData) -> list[Figure]:
    """The report's figures of ``trend`` (same days, same values) with week-over-week means: the
    last 7 days of the range against the 7 before them (from the period before for a week)."""
    every = {**trend.before, **trend.figures}
    ordered = sorted(every)
    this, last = ordered[-7:], ordered[-14:-7]
    out = [Figure(spec, [_present(trend.figures[d].get(spec.name)) for d in trend.days],
                  _week_mean(trend, spec.name, this, every), _week_mean(trend, spec.name, last, every))
           for spec in trend.present()]
    sent = [float(trend.reminders.get(d, 0)) for d in trend.days]
    if any(sent):
        recent = [float(trend.reminders.get(d, 0)) for d in this]
        out.append(Figure(REMINDERS, sent, sum(recent) / len(recent) if recent else None, None))
    return out


class StoreReader:
    """Reads wearers' stores; ``store_of(user)`` says where each one's ``store.db`` is."""

    def __init__(self, store_of: Callable[[str], Path], tz: str = "UTC",
                 training: TrainingSettings | None = None) -> None:
        self.store_of = store_of
        self.tz = tz
        self.training = training or TrainingSettings()

    def today_iso(self) -> str:
        return datetime.now(ZoneInfo(self.tz)).date().isoformat()

    def _open(self, user: str) -> SqliteStore | None:
        path = self.store_of(user)
        return SqliteStore(path) if path.is_file() else None

    def day(self, user: str, day: str | None) -> tuple[DayData, DayStats] | str:
        """The day's data and numbers, or a sentence saying why there are none."""
        try:
            data = load_store(self.store_of(user).parent, user, day, self.tz)
        except ReportDataError as exc:
            return str(exc)
        return data, day_stats(data)

    def trends(self, user: str, days: int, end: str | None = None) -> Trends:
        """The trends report's figures for the ``days`` ending today (or ``end``)."""
        last = date.fromisoformat(end or self.today_iso())
        first = last - timedelta(days=days - 1)
        try:
            trend = trend_from_store(self.store_of(user).parent, user, first.isoformat(), last.isoformat(),
                                     None, self.tz, self.training)
        except ReportDataError:
            shown = [(first + timedelta(days=i)).isoformat() for i in range(days)]
            return Trends(shown, [], 0)
        return Trends(trend.days, trend_figures(trend), len(trend.worn_days()), trend.goals,
                      goal_sentences(trend.goals))

    def open_episodes(self, user: str) -> list[dict]:
        """Today's episodes the store has not seen end (a page opened after they began)."""
        store = self._open(user)
        if store is None:
            return []
        try:
            rows = store.episodes_on(user, self.today_iso(), self.tz)
        finally:
            store.close()
        return [{"id": r["id"], "kind": r["kind"], "start_ms": round(float(r["start"]) * 1000)}
                for r in rows if r["end"] is None]

    def recent_alerts(self, user: str, limit: int = 5) -> list[dict]:
        """Today's latest reminders from the store (pages opened after they were sent)."""
        store = self._open(user)
        if store is None:
            return []
        try:
            rows = store.alerts_on(user, self.today_iso(), self.tz)
        finally:
            store.close()
        return [{"id": r["id"], "kind": r["kind"], "title": r["title"], "message": r["message"],
                 "ts_ms": round(float(r["ts"]) * 1000)} for r in rows[::-1][:limit]]

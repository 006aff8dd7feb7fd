"""What the Today, Trends and patient pages read from a wearer's embedded store.

*Today* reuses the daily report's loader and numbers (``app.report_data.load_store``,
``analytics.report_stats.day_stats``). *Trends* read the ``daily_summary`` table and render every
figure found there generically by name: ``FIGURE_LABELS`` names the known ones, the name's ending
tells the unit of the rest (``_min`` minutes, ``_s`` seconds, ``response_rate_`` a share), so a
figure added to the day summary later shows up without a change here. Week-over-week compares
the mean of the last 7 days that have a summary with the 7 calendar days before them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from posturewatch.analytics.report_stats import DayData, DayStats, day_stats, hm
from posturewatch.app.report_data import ReportDataError, load_store
from posturewatch.store.sqlite import SqliteStore

FIGURE_LABELS = {
    "sitting_min": "Sitting",
    "monitored_min": "Worn and monitored",
    "alerts": "Reminders",
    "alerts_prolonged_sitting": "Reminders: long sitting",
    "alerts_posterior_tilt": "Reminders: pelvis tilted back",
    "alerts_forward_head": "Reminders: head forward",
    "alerts_lumbar_bend": "Reminders: bending with the back",
    "response_rate_300s": "Acted on within 5 min",
    "sitting_s": "Time sitting",
    "standing_s": "Time standing",
    "walking_s": "Time walking",
    "lying_s": "Time lying",
    "unknown_s": "Time not classified",
    "not_worn_s": "Time not worn",
}
# shown first, in this order; every other figure follows by name
FIGURE_ORDER = ("sitting_min", "monitored_min", "alerts", "response_rate_300s")
RANGES = (7, 28, 90)


def figure_label(name: str) -> str:
    if name in FIGURE_LABELS:
        return FIGURE_LABELS[name]
    if name.startswith("suppressed_"):
        return "Reminders held back: " + name.removeprefix("suppressed_").replace("_", " ")
    if name.startswith("response_rate_") and name.endswith("s"):
        seconds = name.removeprefix("response_rate_").removesuffix("s")
        if seconds.isdigit():
            return f"Acted on within {hm(float(seconds))}"
    return name.replace("_", " ").capitalize()


def format_figure(name: str, value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    if name.startswith("response_rate_") or name.endswith("_rate"):
        return f"{value * 100:.0f} %"
    if name.endswith("_min"):
        return hm(value * 60.0)
    if name.endswith("_s"):
        return hm(value)
    return f"{value:.0f}" if abs(value - round(value)) < 1e-9 else f"{value:.1f}"


def format_change(name: str, now: float | None, before: float | None) -> str:
    """"+12 min", "−3 %-points", "±0" — the week-over-week difference in the figure's unit."""
    if now is None or before is None:
        return "–"
    diff = now - before
    if name.startswith("response_rate_") or name.endswith("_rate"):
        text, zero = f"{abs(diff) * 100:.0f} points", abs(diff) < 0.005
    elif name.endswith("_min") or name.endswith("_s"):
        seconds = abs(diff) * (60.0 if name.endswith("_min") else 1.0)
        text, zero = hm(seconds), seconds < 30
    else:
        text, zero = f"{abs(diff):.1f}", abs(diff) < 0.05
    return "±0" if zero else ("+" if diff > 0 else "−") + text


@dataclass
class Figure:
    name: str
    label: str
    values: list[float | None]  # one per day of the range, oldest first
    this_week: float | None
    last_week: float | None

    @property
    def change(self) -> str:
        return format_change(self.name, self.this_week, self.last_week)

    def shown(self, value: float | None) -> str:
        return format_figure(self.name, value)


@dataclass
class Trends:
    days: list[str]
    figures: list[Figure]
    with_data: int


def _value(summary: dict[str, float], name: str) -> float | None:
    """A day's figure; a response rate of a day without reminders is no rate at all."""
    if name.startswith("response_rate_") and not summary.get("alerts"):
        return None
    return summary.get(name)


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None and math.isfinite(v)]
    return sum(present) / len(present) if present else None


class StoreReader:
    """Reads wearers' stores; ``store_of(user)`` says where each one's ``store.db`` is."""

    def __init__(self, store_of: Callable[[str], Path], tz: str = "UTC") -> None:
        self.store_of = store_of
        self.tz = tz

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

    def summaries(self, user: str, days: int, end: str | None = None) -> dict[str, dict[str, float]]:
        last = date.fromisoformat(end or self.today_iso())
        first = last - timedelta(days=days - 1)
        store = self._open(user)
        if store is None:
            return {}
        try:
            return store.daily_summaries(user, first.isoformat(), last.isoformat())
        finally:
            store.close()

    def trends(self, user: str, days: int, end: str | None = None) -> Trends:
        last = date.fromisoformat(end or self.today_iso())
        span = max(days, 14)
        rows = self.summaries(user, span, last.isoformat())
        all_days = [(last - timedelta(days=span - 1 - i)).isoformat() for i in range(span)]
        shown = all_days[-days:]
        names = {n for values in rows.values() for n in values}
        ordered = [n for n in FIGURE_ORDER if n in names] + sorted(names - set(FIGURE_ORDER))
        figures = []
        for name in ordered:
            series = [_value(rows.get(d, {}), name) for d in all_days]
            figures.append(Figure(name, figure_label(name), series[-days:],
                                  _mean(series[-7:]), _mean(series[-14:-7])))
        return Trends(shown, figures, sum(d in rows for d in shown))

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

"""The reminder budget in the daily report (PNG and HTML) and the trends report, against the store.

A real ``AlertPolicy`` (budget of 4) lives two days of forward-head episodes; its reminders and
episodes go into an embedded store with a day of sitting, the first day also with the summary
the monitor writes at midnight (``FinishedDay.values``), the second left running. Every budget
figure the reports print is then read back from the store's tables with SQL and compared.
"""

from __future__ import annotations

import html
import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from policy_days import forward_head_day

from posturewatch.alerts.monitor import FinishedDay
from posturewatch.alerts.settings import AlertSettings
from posturewatch.alerts.training import TrainingSettings
from posturewatch.analytics import report_charts as charts
from posturewatch.analytics.days import DayTally
from posturewatch.analytics.records import Posture
from posturewatch.analytics.report import write_report
from posturewatch.analytics.report_stats import day_stats, headline_facts
from posturewatch.analytics.trends import habit_sentences
from posturewatch.app.report_data import STORE_FILE, load_store
from posturewatch.app.trends_data import trend_from_store
from posturewatch.store.rollup import Seconds
from posturewatch.store.sqlite import SqliteStore, day_bounds

FINISHED, RUNNING = "2026-03-04", "2026-03-05"
SETTINGS = AlertSettings.from_mapping({"daily_cap": 4, "daily_burst": 1, "quiet_hours": {"enabled": False}})


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("budget")
    store = SqliteStore(folder / STORE_FILE)
    for day, hours in ((FINISHED, 13.0), (RUNNING, 4.0)):
        lived = forward_head_day(day, SETTINGS, hours)
        start = day_bounds(day)[0] + 8 * 3600
        t = np.arange(start, start + hours * 3600, dtype=np.int64)
        store.write_angles("ann", Seconds(t, {}, np.full(len(t), int(Posture.SITTING), np.int8)))
        for episode in lived.episodes:
            store.write_episode("ann", episode)
        for alert in lived.alerts:
            store.write_alert("ann", alert, 120.0)
        if day == FINISHED:
            tally = DayTally(day, day_bounds(day)[0])
            tally.add(np.full(len(t), int(Posture.SITTING), np.int8), 1.0)
            values = FinishedDay(day, tally.start, tally, lived.policy.daily_summary(day)).values()
            store.write_daily_summary("ann", day, values)
    store.close()
    return folder


def sql(folder: Path, query: str, *params) -> list[tuple]:
    with sqlite3.connect(folder / STORE_FILE) as db:
        return db.execute(query, params).fetchall()


def stored_budget(folder: Path, day: str) -> tuple[int, str | None, dict[str, float]]:
    """(reminders sent, the clock time of the budget's last one, the day's summary) by SQL."""
    lo, hi = day_bounds(day)
    sent = [ts for (ts,) in sql(folder, "SELECT ts FROM alerts WHERE ts >= ? AND ts < ? ORDER BY ts", lo, hi)]
    summary = dict(sql(folder, "SELECT name, value FROM daily_summary WHERE day = ?", day))
    last = datetime.fromtimestamp(sent[3], UTC).strftime("%H:%M") if len(sent) >= 4 else None
    return len(sent), last, summary


def test_a_finished_day_reports_the_budget_it_was_given(store_dir: Path, tmp_path: Path) -> None:
    sent, last, summary = stored_budget(store_dir, FINISHED)
    paced, spent = int(summary["suppressed_budget_paced"]), int(summary["suppressed_daily_cap"])
    assert sent == 4 and summary["reminder_budget"] == 4 and last is not None and paced > 0 and spent > 0
    data = load_store(store_dir, "ann", FINISHED, "UTC")  # no cap given: the summary says it
    words = (f"Reminders 4 of 4 (all used by {last}; {paced} held back to spread them over the day; "
             f"{spent} more held back after that)")
    stats = day_stats(data)
    assert headline_facts(stats, "UTC")[2].startswith(words + ", acted on")
    # the PNG draws exactly these facts on its page
    figure = charts.page_figure(data, stats, "headline")
    drawn = "\n".join(t.get_text() for ax in figure.axes for t in ax.texts)
    charts.to_bytes(figure, "png")
    assert words in drawn
    page = html.unescape(write_report(data, tmp_path).html.read_text())
    tile = re.search(r'<div class="k">Reminder budget</div><div class="v">([^<]*)</div>'
                     r'<div class="n">([^<]*)</div>', page)
    assert tile is not None
    assert tile.group(1) == f"all used by {last}"
    assert tile.group(2) == (f"4 of 4 sent; {paced} held back to spread them over the day; "
                             f"{spent} more held back after that")
    assert '<div class="k">Reminders sent</div><div class="v">4 of 4</div>' in page


def test_the_running_day_takes_the_configured_budget(store_dir: Path, tmp_path: Path) -> None:
    sent, last, summary = stored_budget(store_dir, RUNNING)
    assert summary == {} and 0 < sent < 4 and last is None
    data = load_store(store_dir, "ann", RUNNING, "UTC", reminder_budget=4)
    assert headline_facts(day_stats(data), "UTC")[2].startswith(f"Reminders {sent} of 4 ({4 - sent} left)")
    page = html.unescape(write_report(data, tmp_path).html.read_text())
    assert (f'<div class="v">{4 - sent} left</div><div class="n">{sent} of 4 sent; the day is still running'
            in page)
    # without a known cap the report says only what was sent
    plain = load_store(store_dir, "ann", RUNNING, "UTC")
    assert headline_facts(day_stats(plain), "UTC")[2].startswith(f"Reminders {sent}, acted on")


def test_the_trends_report_says_on_how_many_days_the_budget_ran_out(store_dir: Path) -> None:
    trend = trend_from_store(store_dir, "ann", FINISHED, RUNNING, None, "UTC", TrainingSettings())
    sent = {d: stored_budget(store_dir, d)[0] for d in trend.days}
    assert trend.reminders == sent
    # only the finished day has a stored budget; it was all used
    assert "Your daily budget of 4 reminders was all used on 1 of the 1 day with reminders on." in \
        habit_sentences(trend)


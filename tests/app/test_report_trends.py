"""`posturewatch report --days N`: the trends report's numbers against the store's own tables
(ten synthetic days written through SqliteStore, plus a simulated hour through Monitor → OutputHub),
training goals followed day by day, the page rendered in headless Chromium, the PDF turned into
PNG pages with pdftoppm, the replay-folder source, and no machine paths in any output."""

from __future__ import annotations

import csv
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pytest
from servers import require_binary
from test_report_day import _rgb, render
from trends_store import FIRST, SHORT_DAY, TILT_MIN, day_name, sit_min, write_store

from posturewatch.alerts.monitor import Monitor
from posturewatch.alerts.training import TrainingSettings
from posturewatch.analytics.report import write_report
from posturewatch.analytics.report_stats import hm
from posturewatch.analytics.report_trends import write_trends_report
from posturewatch.analytics.trends import habit_sentences
from posturewatch.app import cli
from posturewatch.app.report_data import LoadReport, load_store
from posturewatch.app.trends_data import trend_from_replay, trend_from_store
from posturewatch.runtime.config import Config
from posturewatch.runtime.replay import run_replay, write_results
from posturewatch.simulators.config import WearerConfig, parse_start
from posturewatch.simulators.wearer import iter_blocks, simulate
from posturewatch.store.hub import OutputHub
from posturewatch.store.outbox import Outbox
from posturewatch.store.sqlite import SqliteStore, day_bounds

LAST = day_name(9)
SIM_T0 = parse_start("2026-03-12T09:00:00Z")  # the day after the synthetic ten
SITTING_RGB = _rgb("#E3A857")


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("trends-store")
    write_store(folder)
    return folder


@pytest.fixture(scope="module")
def simulated_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One simulated hour through Monitor → OutputHub into an embedded store, as `demo` writes it."""
    folder = tmp_path_factory.mktemp("trends-sim")
    store = SqliteStore(folder / "store.db")
    monitor = Monitor()
    hub = OutputHub("bob", Outbox(folder / "outbox.db", synchronous="NORMAL"), mqtt=False, influx=False,
                    sqlite=store)
    for blocks in iter_blocks(WearerConfig(hours=1.0, seed=3, start=SIM_T0), chunk_s=60.0):
        hub.process(monitor.push([b for b in blocks.values() if len(b)]))
    hub.process(monitor.close())
    hub.finish()
    store.close()
    return folder


def _per_day(db: sqlite3.Connection, sql: str, day: str) -> float:
    lo, hi = day_bounds(day, "UTC")
    return float(db.execute(sql, (lo, hi)).fetchone()[0] or 0.0)


def test_figures_match_the_store_tables(store_dir: Path) -> None:
    trend = trend_from_store(store_dir, None, None, None, 7, "UTC", TrainingSettings())
    assert trend.days == [day_name(i) for i in range(3, 10)]
    assert trend.worn_days() == [day_name(i) for i in range(4, 10)]  # day 3: 30 min of wear only
    assert sorted(trend.before) == [day_name(i) for i in range(-4, 3)]
    with sqlite3.connect(store_dir / "store.db") as db:
        summary = {(d, n): v for d, n, v in db.execute("SELECT day, name, value FROM daily_summary")}
        for day in trend.days:
            f = trend.figures[day]
            # stored figures, read by name
            assert f["sitting_min"] == summary[(day, "sitting_min")]
            assert f["wear_min"] == summary[(day, "monitored_min")]
            assert f["steps"] == summary[(day, "steps")]
            # recomputed figures, against SQL over the raw tables
            sitting_s = _per_day(db, "SELECT COUNT(*) FROM angles WHERE posture = 'sitting' AND ts >= ?"
                                     " AND ts < ?", day)
            long_bouts = _per_day(db, "SELECT COUNT(*) FROM episodes WHERE kind = 'prolonged_sitting'"
                                      " AND start >= ? AND start < ?", day)
            assert f["long_bouts"] == long_bouts
            tilt_s = _per_day(db, "SELECT SUM(duration_s) FROM episodes WHERE kind = 'posterior_tilt'"
                                  " AND start >= ? AND start < ?", day)
            assert f["slumped_pct"] == pytest.approx(tilt_s / sitting_s * 100)
            head_s = _per_day(db, "SELECT SUM(duration_s) FROM episodes WHERE kind = 'forward_head'"
                                  " AND start >= ? AND start < ?", day)
            assert f["forward_head_min"] == pytest.approx(head_s / 60)
            assert f["lumbar_bends"] == _per_day(db, "SELECT COUNT(*) FROM episodes WHERE kind ="
                                                     " 'lumbar_bend' AND start >= ? AND start < ?", day)
            changes = ("SELECT COUNT(*) FROM (SELECT posture, LAG(posture) OVER (ORDER BY ts) AS prev FROM"
                       " angles WHERE ts >= ? AND ts < ?) WHERE prev = '{}' AND posture = '{}'")
            stood = _per_day(db, changes.format("sitting", "standing"), day)
            sat_down_again = _per_day(db, changes.format("walking", "sitting"), day)
            assert f["sit_to_stand"] == stood
            if day != day_name(SHORT_DAY):
                assert stood > 0
                assert f["breaks_per_sitting_h"] == pytest.approx(sat_down_again / (sitting_s / 3600))
            responses = [r for (r,) in db.execute("SELECT response_s FROM alerts WHERE ts >= ? AND ts < ?",
                                                  day_bounds(day, "UTC"))]
            if responses:
                rate = sum(r <= 300 for r in responses) / len(responses) * 100
                assert f["response_rate_pct"] == pytest.approx(rate)
                assert f["response_rate_pct"] == pytest.approx(summary[(day, "response_rate_300s")] * 100)
            assert trend.reminders[day] == len(responses)
    # what the builder meant: a day's longest spell is its sitting length, slumped its tilt share
    # (a little more: the day's last spell is cut short at 18:00 after its slumped start)
    assert trend.figures[LAST]["longest_bout_min"] == sit_min(9)
    assert trend.figures[LAST]["slumped_pct"] == pytest.approx(TILT_MIN / sit_min(9) * 100, rel=0.06)


def test_habits_in_plain_words_match_the_averages(store_dir: Path) -> None:
    trend = trend_from_store(store_dir, None, None, LAST, 7, "UTC", TrainingSettings())
    habits = habit_sentences(trend)
    text = " ".join(habits)
    assert habits[0].startswith("You wore the sensors on 6 of the 7 days")
    worn = trend.worn_days()
    sitting = np.mean([trend.figures[d]["sitting_min"] for d in worn])
    before = np.mean([trend.before[d]["sitting_min"] for d in trend.worn_days(trend.before)])
    assert f"You sat for {hm(sitting * 60)} a day on average, {hm((sitting - before) * 60)} more than the" \
           " week before." in habits
    assert f"the longest was {hm(sit_min(9) * 60)}, on Wednesday 11 March" in text
    sent = sum(trend.reminders[d] for d in trend.days)
    assert f"Your phone reminded you {sent} times" in text
    # no jargon: no degrees, no detector names, no "x of y" chain counts
    assert not re.search(r"°|tilt|posterior|lumbar|episode|kinetic|pelvis back|\d+ of \d+ (fore|head)",
                         text, re.I)


def test_training_goals_are_followed_day_by_day(store_dir: Path) -> None:
    training = TrainingSettings(enabled=True, start_date=FIRST.isoformat(), weeks=6, days_to_advance=4)
    trend = trend_from_store(store_dir, None, day_name(4), LAST, None, "UTC", training)
    goals = trend.goals
    assert goals is not None and [g.day for g in goals.days] == trend.days
    # week 0 (days 0–6): goal 60 min spells, 40 % slumped; met on every worn day (day 3 too short)
    week0 = {g.day: g for g in goals.days if g.week == 0}
    assert all(g.sitting_bout_max_min == 60.0 and g.slumped_max_pct == 40.0 for g in week0.values())
    assert [g.met for g in week0.values()] == [True, True, True]  # days 4, 5, 6 are in the period
    # 6 days met in week 0 (≥ 4): week 1 tightens one step of five, to 57 min and 36 %
    week1 = [g for g in goals.days if g.week == 1]
    assert [(g.sitting_bout_max_min, g.slumped_max_pct) for g in week1] == [(57.0, 36.0)] * 3
    assert [g.met for g in week1] == [sit_min(i) <= 57 for i in (7, 8, 9)] == [True, False, False]
    assert (goals.week, goals.step, goals.met_this_week) == (1, 1, 1)
    files = write_trends_report(trend, store_dir / "goals")
    html = files.html.read_text()
    assert "keep every sitting spell under 57 minutes" in html and "less than 36 %" in html
    assert "3 more days this week and the goal moves one step further" in html


@pytest.mark.slow
def test_trends_page_renders_in_headless_chromium(store_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert cli.main(["report", "--data-dir", str(store_dir), "--days", "7", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "worn on 6 of 7 days" in printed
    html_path = Path(re.search(r"wrote (\S+\.html)", printed).group(1))
    html = html_path.read_text()
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", html, re.I)
    for folder in (str(store_dir), str(tmp_path), str(Path.home()), "/tmp/"):
        assert folder not in html
    shot, log = render(html_path, tmp_path)
    assert shot.exists(), log[-2000:]
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert pixels.std() > 20
    assert (np.abs(pixels - SITTING_RGB).sum(axis=2) < 30).sum() > 2000  # the sitting bars were drawn
    assert not re.search(r"CONSOLE|Uncaught|net::ERR_|Not allowed to load", log), log[-2000:]
    png = np.asarray(Image.open(html_path.with_suffix(".png")).convert("RGB")).astype(int)
    assert png.std() > 20 and (np.abs(png - SITTING_RGB).sum(axis=2) < 30).sum() > 2000


def test_pdf_pages_are_printable(store_dir: Path, tmp_path: Path) -> None:
    pdftoppm = require_binary("/usr/bin/pdftoppm", "poppler-utils")
    trend = trend_from_store(store_dir, None, None, None, 7, "UTC", TrainingSettings())
    files = write_trends_report(trend, tmp_path)
    assert files.pages == 2
    subprocess.run([pdftoppm, "-r", "50", "-png", str(files.pdf), str(tmp_path / "page")], check=True,
                   capture_output=True, timeout=120)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == files.pages
    from PIL import Image

    for page in pages:
        pixels = np.asarray(Image.open(page).convert("RGB")).astype(int)
        assert pixels.shape[0] > pixels.shape[1]  # A4 portrait
        assert (pixels.sum(axis=2) < 600).mean() > 0.01  # ink on it: not a blank page
    charts = np.asarray(Image.open(pages[1]).convert("RGB")).astype(int)
    assert (np.abs(charts - SITTING_RGB).sum(axis=2) < 30).sum() > 500
    text = subprocess.run([shutil.which("pdftotext") or "/usr/bin/pdftotext", str(files.pdf), "-"],
                          capture_output=True, text=True, check=True).stdout
    assert "You sat for" in text and str(tmp_path) not in text and str(store_dir) not in text


def test_a_simulated_day_through_the_monitor(simulated_dir: Path, tmp_path: Path) -> None:
    trend = trend_from_store(simulated_dir, "bob", None, None, 1, "UTC", TrainingSettings())
    day = trend.days[0]
    f = trend.figures[day]
    with sqlite3.connect(simulated_dir / "store.db") as db:
        summary = dict(db.execute("SELECT name, value FROM daily_summary WHERE day = ?", (day,)))
        heads = _per_day(db, "SELECT SUM(duration_s) FROM episodes WHERE kind = 'forward_head' AND start"
                             " >= ? AND start < ?", day)
        alerts = _per_day(db, "SELECT COUNT(*) FROM alerts WHERE ts >= ? AND ts < ?", day)
    assert f["sitting_min"] == pytest.approx(summary["sitting_min"]) and f["sitting_min"] > 10
    assert f["wear_min"] == pytest.approx(summary["monitored_min"])
    # open episodes are counted to the end of the data, so at least the closed ones' time
    assert f["forward_head_min"] >= heads / 60
    assert trend.reminders[day] == alerts
    if alerts:
        assert f["response_rate_pct"] == pytest.approx(summary["response_rate_300s"] * 100)
    # the daily report of the same store names no path either
    html = write_report(load_store(simulated_dir, "bob", day), tmp_path).html.read_text()
    assert str(simulated_dir) not in html and "embedded store" in html


@pytest.mark.slow
def test_trends_from_a_replay_folder(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "replay"
    write_results(run_replay(simulate(WearerConfig(hours=1.0, seed=3, start=SIM_T0)).blocks, Config()),
                  folder)
    day = "2026-03-12"
    (folder / "daily.csv").write_text(f"day,start,steps,sitting_min\n{day},0,4321,\nnot-a-day,0,1,1\n")
    with (folder / "angles.csv").open(newline="") as fh:
        reader = csv.DictReader(fh)
        sitting_rows = sum(row["posture"] == "sitting" for row in reader)
        width = len(reader.fieldnames)
    with (folder / "angles.csv").open("a") as fh:  # short rows, then a full one with a bad posture
        fh.write("not-a-time,sitting,1,2,3\n1773306000,teleporting,1,2,3\n")
        fh.write(",".join(["1773306001", "teleporting"] + [""] * (width - 2)) + "\n")
    report = LoadReport()
    trend = trend_from_replay(folder, None, None, 7, "UTC", "replay", TrainingSettings(), report)
    assert report.bad_rows["angles.csv"] == 3 and report.bad_rows["daily.csv"] == 1
    f = trend.figures[day]
    assert f["sitting_min"] == pytest.approx(sitting_rows / 60) and sitting_rows > 600
    assert f["steps"] == 4321  # read by name from daily.csv; the empty sitting_min cell ignored
    assert "response_rate_pct" not in f  # a replay cannot know responses
    assert cli.main(["report", "--replay", str(folder), "--days", "7", "--out", str(tmp_path / "o")]) == 0
    captured = capsys.readouterr()
    assert "skipped rows: angles.csv 3" in captured.err
    html = Path(re.search(r"wrote (\S+\.html)", captured.out).group(1)).read_text()
    assert "a replayed recording" in html and str(folder) not in html


@pytest.mark.parametrize("argv", [["--days", "0"], ["--days", "7", "--day", "2026-03-02"],
                                  ["--days", "7", "--from", "2026-03-02"], ["--from", "2026-13-01"]])
def test_bad_periods_are_refused_in_one_line(argv: list[str], store_dir: Path, capsys) -> None:
    assert cli.main(["report", "--data-dir", str(store_dir), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("posturewatch report:") and "\n" not in err


def test_the_command_takes_training_goals_from_the_config(store_dir: Path, tmp_path: Path, capsys) -> None:
    config = tmp_path / "ann.toml"
    config.write_text(f'user = "ann"\n\n[alerts.training]\nenabled = true\nstart_date = "{FIRST}"\n')
    out = tmp_path / "out"
    assert cli.main(["report", "--config", str(config), "--data-dir", str(store_dir), "--from", day_name(4),
                     "--to", LAST, "--out", str(out)]) == 0
    html = Path(re.search(r"wrote (\S+\.html)", capsys.readouterr().out).group(1)).read_text()
    assert "Your goals" in html and "under 57 minutes" in html
    assert "Your goals" not in write_trends_report(
        trend_from_store(store_dir, None, day_name(4), LAST, None, "UTC", TrainingSettings()), tmp_path / "no"
    ).html.read_text()

"""`posturewatch report`: numbers checked against the store they came from, the page checked for
self-containment and rendered in headless Chromium (screenshot not blank, charts drawn, no page
errors), the replay-folder source, and the building blocks (sitting bouts, kinetic chain)."""

from __future__ import annotations

import math
import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pytest

from posturewatch.alerts.monitor import Monitor
from posturewatch.analytics.records import Posture
from posturewatch.analytics.report import write_report
from posturewatch.analytics.report_stats import ReportEpisode, kinetic_chain, sitting_bouts
from posturewatch.app import cli
from posturewatch.app.report_data import STORE_FILE, load_replay, load_store
from posturewatch.runtime.config import Config
from posturewatch.runtime.replay import run_replay, write_results
from posturewatch.simulators.config import WearerConfig, parse_start
from posturewatch.simulators.wearer import iter_blocks, simulate
from posturewatch.store.hub import OutputHub
from posturewatch.store.outbox import Outbox
from posturewatch.store.sqlite import SqliteStore

pytestmark = pytest.mark.slow  # simulated mornings and a browser; `-m 'not slow'` skips it

CHROMIUM = os.environ.get("POSTUREWATCH_CHROMIUM", "/usr/bin/chromium")
T0 = parse_start("2026-03-02T08:00:00Z")
DAY = "2026-03-02"
HOURS = 2.0


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated morning through Monitor → OutputHub into the embedded store, as the demo does."""
    folder = tmp_path_factory.mktemp("store")
    store = SqliteStore(folder / STORE_FILE)
    monitor = Monitor()
    hub = OutputHub("ann", Outbox(folder / "outbox.db", synchronous="NORMAL"),
                    mqtt=False, influx=False, sqlite=store)
    for blocks in iter_blocks(WearerConfig(hours=HOURS, seed=1, start=T0), chunk_s=60.0):
        hub.process(monitor.push([b for b in blocks.values() if len(b)]))
    hub.process(monitor.close())  # the last step carries the finished day's summary
    hub.finish()
    store.close()
    return folder


@pytest.fixture(scope="module")
def replay_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same morning through `replay`'s code path, written as angles/episodes/alerts CSV."""
    folder = tmp_path_factory.mktemp("replay")
    day = simulate(WearerConfig(hours=HOURS, seed=1, start=T0))
    write_results(run_replay(day.blocks, Config()), folder)
    return folder


def _chromium() -> str:
    found = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    if found:
        return found
    message = f"{CHROMIUM} not found: install the Debian package 'chromium' (`make system-deps`)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
    raise AssertionError("unreachable")


def render(html: Path, tmp_path: Path) -> tuple[Path, str]:
    """Screenshot of the page and chromium's log (console messages included)."""
    shot = tmp_path / "shot.png"
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
           f"--screenshot={shot}", "--window-size=1280,2400", html.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    return shot, proc.stdout + proc.stderr


def _rgb(hex_color: str) -> np.ndarray:
    return np.array([int(hex_color[i : i + 2], 16) for i in (1, 3, 5)])


def test_store_report_numbers_match_the_store(store_dir: Path, tmp_path: Path) -> None:
    data = load_store(store_dir, None, None)
    assert (data.user, data.day) == ("ann", DAY)
    files = write_report(data, tmp_path)
    s = files.stats
    with sqlite3.connect(store_dir / STORE_FILE) as db:
        sitting = db.execute("SELECT COUNT(*) FROM angles WHERE posture = 'sitting'").fetchone()[0]
        known = db.execute("SELECT COUNT(*) FROM angles WHERE posture != 'unknown'").fetchone()[0]
        kinds = dict(db.execute("SELECT kind, COUNT(*) FROM episodes GROUP BY kind"))
        alerts = db.execute("SELECT COUNT(*) FROM alerts").fetchone()[0]
        rate = db.execute("SELECT value FROM daily_summary WHERE name = 'response_rate_300s'").fetchone()[0]
        responses = [r[0] for r in db.execute("SELECT response_s FROM alerts")]
    assert s.sitting_s == sitting and s.monitored_s == known
    assert {k: n for k, n in s.episodes_by_kind.items() if n} == kinds
    assert s.alerts_total == alerts > 0
    assert s.response_rate == pytest.approx(rate)
    # each alert row knows its own response, and they add up to the policy's day summary
    assert None not in responses
    assert sum(r <= 300 for r in responses) == s.responded == round(rate * alerts)
    # bouts: every sitting second lies in a bout; a bout spans no more than its sitting plus bridged gaps
    assert sum(b.duration_s for b in s.bouts) >= s.sitting_s
    assert all(b.duration_s >= 60 for b in s.breaks)
    html = files.html.read_text()
    assert f"{s.alerts_total}</div>" in html and "Reminders acted on" in html
    assert f"{s.chained} of {len(s.chain)}" in html


def test_html_is_self_contained(store_dir: Path, tmp_path: Path) -> None:
    html = write_report(load_store(store_dir, "ann", DAY), tmp_path).html.read_text()
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", html, re.I)
    assert not re.search(r"url\(\s*['\"]?(https?:|//)", html, re.I)
    sources = re.findall(r'<img src="([^"]+)"', html)
    assert len(sources) == 3 and all(s.startswith("data:image/svg+xml;base64,") for s in sources)


def test_report_renders_in_headless_chromium(store_dir: Path, tmp_path: Path) -> None:
    files = write_report(load_store(store_dir, "ann", DAY), tmp_path / "out")
    shot, log = render(files.html, tmp_path)
    assert shot.exists(), log[-2000:]
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert pixels.shape[:2] == (2400, 1280)
    assert pixels.std() > 20  # not a blank page
    # the embedded charts were drawn: the sitting colour of the timeline shows up
    sitting = np.abs(pixels - _rgb("#E3A857")).sum(axis=2) < 30
    assert sitting.sum() > 2000
    assert not re.search(r"CONSOLE|Uncaught|net::ERR_|Not allowed to load", log), log[-2000:]
    png = np.asarray(Image.open(files.png).convert("RGB")).astype(int)
    assert png.std() > 20 and (np.abs(png - _rgb("#E3A857")).sum(axis=2) < 30).sum() > 2000


def test_report_from_a_replay_folder_via_the_command(replay_dir: Path, tmp_path: Path, capsys) -> None:
    assert cli.main(["report", "--replay", str(replay_dir), "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    html_path = Path(re.search(r"wrote (\S+\.html)", printed).group(1))
    html = html_path.read_text()
    assert "n/a" in html and "not known from a replay" in html
    data = load_replay(replay_dir, None)
    episodes = sum(1 for _ in (replay_dir / "episodes.csv").open()) - 1
    assert len(data.episodes) == episodes > 0
    assert f"{len(data.episodes)} episodes" in printed


def test_garbled_replay_rows_are_counted_not_fatal(replay_dir: Path, tmp_path: Path, capsys) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(replay_dir, broken)
    (day,) = (broken / "days").iterdir()  # the report reads the day's own files
    with (day / "angles.csv").open("a") as fh:
        fh.write("not-a-time,sitting,1,2,3\n1772438400,teleporting,1,2,3\n")
    assert cli.main(["report", "--replay", str(broken), "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "skipped rows: angles.csv 2" in err
    assert cli.main(["report", "--replay", str(tmp_path / "missing")]) == 1
    assert "missing" in capsys.readouterr().err


def test_sitting_bouts_bridge_short_interruptions_only() -> None:
    sit, stand = int(Posture.SITTING), int(Posture.STANDING)
    grid = np.array([sit] * 600 + [stand] * 30 + [sit] * 300 + [stand] * 90 + [sit] * 100, np.int8)
    bouts, breaks = sitting_bouts(1000.0, grid)
    assert [(b.start, b.end) for b in bouts] == [(1000.0, 1930.0), (2020.0, 2120.0)]
    assert [(b.start, b.end) for b in breaks] == [(1930.0, 2020.0)]


def test_kinetic_chain_window() -> None:
    tilt = ReportEpisode("posterior_tilt", 0.0, 300.0)
    near = ReportEpisode("forward_head", 300.0 + 14 * 60, 2000.0)
    far = ReportEpisode("forward_head", 300.0 + 16 * 60 + 5000, 9000.0)
    during = ReportEpisode("forward_head", 100.0, 200.0)
    links = kinetic_chain([tilt, near, far, during], minutes=15)
    assert [(link.forward_head.start, link.tilt is not None) for link in links] == [
        (100.0, True), (near.start, True), (far.start, False)]
    assert links[1].lead_s == near.start
    assert all(link.tilt is None for link in kinetic_chain([tilt, near], minutes=10))
    assert math.isnan(links[2].lead_s)


def test_report_shows_the_days_activity_figures(store_dir: Path, tmp_path: Path) -> None:
    data = load_store(store_dir, None, None)
    steps, rises = data.summary["steps"], data.summary["sit_to_stand"]
    assert steps > 100 and rises >= 1
    html = write_report(data, tmp_path).html.read_text()
    tiles = dict(re.findall(r'<div class="k">([^<]+)</div><div class="v">([^<]+)</div>', html))
    assert tiles["Steps"] == f"{steps:.0f}"
    assert tiles["Sit-to-stand"] == f"{rises:.0f}"
    assert tiles["Posterior tilt"] == f"{data.summary['posterior_tilt_share'] * 100:.0f} %"

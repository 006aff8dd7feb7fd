"""Training progress and streaks from a store of known days (tests/app/trends_store.py).

Day ``i`` sits in spells of ``20 + 5 i`` minutes, slumped for the first 5 of each; day 3 is worn
for 30 minutes only (not a valid day). With training from the first day: week 0's goal (spells
≤ 60 min, slumped < 40 %) is met on days 0–6 except the short day 3; week 1 tightens to 57 min
and 36 %: day 7 (55 min spells) meets it, days 8 and 9 (60, 65 min) do not. So the spell goal's
streak is 7 valid days at best and 0 at the end; the slumping goal (≤ 25 %) holds on all 9 valid
days in a row.
"""

from __future__ import annotations

import contextlib
import html
import re
from pathlib import Path

import httpx
import pytest
from trends_store import FIRST, SHORT_DAY, day_name, sit_min, write_store

from posturewatch.alerts.training import TrainingSettings
from posturewatch.analytics.report_trends import write_trends_report
from posturewatch.analytics.trends import goal_sentences
from posturewatch.app.demo_broker import free_port
from posturewatch.app.trends_data import trend_from_store
from posturewatch.runtime.config import WebSettings
from posturewatch.web.accounts import Accounts
from posturewatch.web.app import WebApp
from posturewatch.web.data import StoreReader
from posturewatch.web.live import LiveFeed
from posturewatch.web.server import WebServer

pytestmark = pytest.mark.slow  # ten 10-hour days read back a few times

TRAINING = TrainingSettings(enabled=True, start_date=FIRST.isoformat(), weeks=6, days_to_advance=4)


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("streaks")
    write_store(folder)
    return folder


def streaks_until(store_dir: Path, last: int) -> dict[str, tuple[int, int]]:
    trend = trend_from_store(store_dir, None, day_name(max(0, last - 6)), day_name(last), None, "UTC",
                             TRAINING)
    assert trend.goals is not None
    return {s.name: (s.current, s.best) for s in trend.goals.streaks}


def test_streaks_over_known_days(store_dir: Path) -> None:
    assert sit_min(7) <= 57 < sit_min(8)
    # after day 2: three valid days met in a row
    assert streaks_until(store_dir, 2) == {"sitting_bout": (3, 3), "slumped": (3, 3), "both": (3, 3)}
    # the short day 3 is skipped: day 4 extends the streak to 4
    assert streaks_until(store_dir, SHORT_DAY + 1) == {"sitting_bout": (4, 4), "slumped": (4, 4),
                                                       "both": (4, 4)}
    # day 7 meets week 1's tighter goal (7 valid days), day 8 breaks it; slumping holds throughout
    assert streaks_until(store_dir, 7) == {"sitting_bout": (7, 7), "slumped": (7, 7), "both": (7, 7)}
    assert streaks_until(store_dir, 9) == {"sitting_bout": (0, 7), "slumped": (9, 9), "both": (0, 7)}


def test_progress_and_streaks_in_the_trends_report(store_dir: Path, tmp_path: Path) -> None:
    trend = trend_from_store(store_dir, None, day_name(3), day_name(9), None, "UTC", TRAINING)
    goals = trend.goals
    assert (goals.step, goals.steps) == (1, 5) and goals.progress_pct == 20.0
    days = {g.day: (g.bout_met, g.slumped_met, g.met) for g in goals.days}
    assert days[day_name(SHORT_DAY)] == (None, None, None)
    assert days[day_name(8)] == (False, True, False)
    sentence = ("Streaks, counting the days you wore the sensors: sitting spells under the goal: 0 days in a "
                "row (best 7 days); slumping under the goal: 9 days in a row (best 9 days); the whole day's "
                "goal: 0 days in a row (best 7 days).")
    assert sentence in goal_sentences(goals)
    files = write_trends_report(trend, tmp_path)
    assert sentence.replace("'", "&#x27;") in files.html.read_text()


class ReaderOn(StoreReader):
    """The web app's store reader with "today" on the last known day of the store."""

    def today_iso(self) -> str:
        return day_name(9)


def test_the_web_trends_page_shows_the_same_progress_and_streaks(store_dir: Path, tmp_path: Path) -> None:
    accounts = Accounts(tmp_path / "accounts.db")
    accounts.put("ann", "wearer", "ann-password-1")
    reader = ReaderOn(lambda user: store_dir / "store.db", "UTC", TRAINING)
    app = WebApp(accounts, LiveFeed(None), reader, secret="s" * 40)
    server = WebServer(app, WebSettings(port=free_port())).start()
    with contextlib.ExitStack() as stack:
        stack.callback(server.stop)
        client = stack.enter_context(httpx.Client(base_url=server.url, timeout=10))
        page = client.get("/login").text
        token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
        client.post("/login", data={"csrf": token, "name": "ann", "password": "ann-password-1"})
        data = client.get("/api/w/ann/trends", params={"days": 7}).json()
        page = html.unescape(client.get("/w/ann/trends", params={"days": 7}).text)
    assert {s["name"]: (s["current"], s["best"]) for s in data["goals"]["streaks"]} == {
        "sitting_bout": (0, 7), "slumped": (9, 9), "both": (0, 7)}
    assert data["goals"]["progress_pct"] == 20.0 and data["goals"]["step"] == 1
    trend = trend_from_store(store_dir, None, day_name(3), day_name(9), None, "UTC", TRAINING)
    for sentence in goal_sentences(trend.goals):
        assert sentence in page
    rows = re.findall(r'<tr><th scope="row">([^<]+)</th><td class="num">(\d+)</td><td class="num">(\d+)</td>',
                      page)
    assert rows == [("Sitting spells under the goal", "0", "7"), ("Slumping under the goal", "9", "9"),
                    ("The whole day's goal", "0", "7")]

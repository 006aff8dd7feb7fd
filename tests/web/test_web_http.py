"""The web app over plain HTTP against the real server: who sees what, CSRF and Origin checks,
cookie flags, the base path, and the Today/Trends numbers against the store they come from."""

from __future__ import annotations

import contextlib
import html
import math
import re
from collections.abc import Iterator
from datetime import date, timedelta

import httpx
import pytest
from web_env import PASSWORDS, start, today

from posturewatch.alerts.training import TrainingSettings
from posturewatch.analytics.report_stats import day_stats, hm
from posturewatch.app import cli
from posturewatch.app.report_data import load_store
from posturewatch.app.trends_data import trend_from_store


def client(web) -> httpx.Client:
    return httpx.Client(base_url=web.url, timeout=10)


def csrf(page: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


@contextlib.contextmanager
def login(web, name: str) -> Iterator[httpx.Client]:
    with client(web) as c:
        token = csrf(c.get("/login").text)
        r = c.post("/login", data={"csrf": token, "name": name, "password": PASSWORDS[name]})
        assert r.status_code == 303, r.text
        yield c


def test_pages_need_a_login_and_api_answers_401(web):
    with client(web) as c:
        r = c.get("/w/ann/now")
        assert r.status_code == 303 and r.headers["location"] == "/login?next=/w/ann/now"
        assert c.get("/api/w/ann/state").status_code == 401
        assert c.get("/api/w/ann/events").status_code == 401
        # the shell is public (installable before the login), data is not
        assert c.get("/manifest.webmanifest").status_code == 200
        assert c.get("/static/app.js").status_code == 200


def test_wrong_password_is_refused_and_the_cookie_is_hardened(web):
    with client(web) as c:
        page = c.get("/login")
        cookie = page.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
        r = c.post("/login", data={"csrf": csrf(page.text), "name": "ann", "password": "wrong-password"})
        assert r.status_code == 401 and "Wrong name or password" in r.text
        r = c.post("/login", data={"csrf": csrf(page.text), "name": "nobody", "password": "wrong-password"})
        assert r.status_code == 401
        assert c.get("/api/w/ann/state").status_code == 401
        assert "content-security-policy" in page.headers and "script-src 'self'" in page.headers[
            "content-security-policy"]


def test_a_wearer_sees_only_their_own_data(web):
    with login(web, "ann") as c:
        assert c.get("/").headers["location"] == "/w/ann/now"
        for path in ("/w/ann/now", "/w/ann/today", "/w/ann/trends", "/api/w/ann/state", "/api/w/ann/trends"):
            assert c.get(path).status_code == 200, path
        for path in ("/w/bob/now", "/w/bob/today", "/w/bob/trends", "/api/w/bob/state",
                     "/api/w/bob/trends", "/api/w/bob/events"):
            assert c.get(path).status_code == 403, path
        assert c.get("/patients").headers["location"] == "/w/ann/now"


def test_a_clinician_sees_the_assigned_wearers_only(web):
    with login(web, "drlee") as c:
        assert c.get("/").headers["location"] == "/patients"
        patients = c.get("/patients").text
        assert 'href="/w/ann/now"' in patients and "/w/bob/" not in patients
        assert c.get("/w/ann/trends").status_code == 200
        assert c.get("/w/bob/now").status_code == 403
        token = csrf(c.get("/w/ann/now").text)
        # reading yes, pausing the wearer's reminders no
        r = c.post("/api/w/ann/snooze", json={"minutes": 15}, headers={"X-CSRF-Token": token})
        assert r.status_code == 403
    with login(web, "drkim") as c:
        patients = c.get("/patients").text
        assert 'href="/w/bob/now"' in patients and "/w/ann/" not in patients


def test_posts_without_the_token_or_from_another_site_are_refused(web):
    with login(web, "ann") as c:
        token = csrf(c.get("/w/ann/now").text)
        assert c.post("/api/w/ann/snooze", json={"minutes": 30}).status_code == 403
        assert c.post("/api/w/ann/snooze", json={"minutes": 30},
                      headers={"X-CSRF-Token": token + "x"}).status_code == 403
        r = c.post("/api/w/ann/snooze", json={"minutes": 30},
                   headers={"X-CSRF-Token": token, "Origin": "http://evil.example"})
        assert r.status_code == 403 and "cross-site" in r.text
        r = c.post("/api/w/ann/snooze", json={"minutes": 30},
                   headers={"X-CSRF-Token": token, "Sec-Fetch-Site": "cross-site"})
        assert r.status_code == 403
        assert c.post("/logout", data={}).status_code == 403  # still signed in afterwards
        assert c.get("/api/w/ann/state").status_code == 200
        # a malformed snooze never reaches the broker
        r = c.post("/api/w/ann/snooze", json={"minutes": 7}, headers={"X-CSRF-Token": token})
        assert r.status_code == 400
        r = c.post("/api/w/ann/snooze", json={"minutes": 30}, headers={"X-CSRF-Token": token})
        assert r.status_code == 202 and r.json()["sent"]["minutes"] == 30
        r = c.post("/logout", data={"csrf": token})
        assert r.status_code == 303 and c.get("/api/w/ann/state").status_code == 401


def test_login_cannot_redirect_to_another_site(web):
    with client(web) as c:
        token = csrf(c.get("/login").text)
        r = c.post("/login", data={"csrf": token, "name": "ann", "password": PASSWORDS["ann"],
                                   "next": "//evil.example/x"})
        assert r.headers["location"] == "/"


def _rows(page: str, heading: str) -> list[list[str]]:
    """The cells of the table under ``heading`` (header row first), tags stripped."""
    table = page[page.index(heading):]
    table = table[:table.index("</table>")]
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)
    cells = [re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S) for row in rows]
    return [[html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in row] for row in cells]


def test_the_trends_page_shows_the_trends_reports_figures(web, tmp_path):
    """Same store, same days: the page's day-by-day table and its JSON equal the trends report's
    daily table (rendered by `posturewatch report --from --to`) and its TrendData."""
    end = today()
    first = (end - timedelta(days=27)).isoformat()
    trend = trend_from_store(web.stores / "ann", "ann", first, end.isoformat(), None, "UTC",
                             TrainingSettings())
    with login(web, "ann") as c:
        data = c.get("/api/w/ann/trends", params={"days": 28}).json()
        page = c.get("/w/ann/trends", params={"days": 28}).text
        assert c.get("/api/w/ann/trends", params={"days": 5}).status_code == 400
    assert data["days"] == trend.days and len(trend.days) == 28 and trend.days[-1] == end.isoformat()
    figures = {f["name"]: f for f in data["figures"]}
    present = [f.name for f in trend.present()]
    assert [f["name"] for f in data["figures"]][:len(present)] == present and len(present) >= 6
    for name in present:
        expected = [trend.figures[d].get(name) for d in trend.days]
        assert figures[name]["values"] == [None if v is None or math.isnan(v) else v for v in expected], name
    assert figures["reminders"]["values"] == [float(trend.reminders[d]) for d in trend.days]
    assert data["worn_days"] == len(trend.worn_days()) < 28  # the gap days do not count
    worn = trend.worn_days()
    sitting = figures["sitting_min"]
    assert sitting["this_week"] == pytest.approx(trend.average("sitting_min", {d: trend.figures[d] for d in
                                                                              trend.days[-7:]}))
    assert any(d not in worn for d in trend.days[-14:])  # a gap inside the compared weeks
    # the report's own table, rendered from the same store
    out = tmp_path / "report"
    assert cli.main(["report", "--data-dir", str(web.stores / "ann"), "--user", "ann", "--from", first,
                     "--to", end.isoformat(), "--tz", "UTC", "--out", str(out)]) == 0
    report = _rows(next(out.glob("*.html")).read_text(), "<table class=days>")
    shown = _rows(page, 'id="days-h"')
    labels = [f.label for f in trend.present()]
    assert report[0] == ["Day", *labels] and shown[0] == ["Day", *labels, "Reminders sent"]
    by_day = {row[0]: row[1:1 + len(labels)] for row in shown[1:]}
    assert len(report) - 1 == len(by_day) == 28
    for day, row in zip(trend.days, report[1:], strict=True):
        assert row[0].removesuffix(" ✓") == date.fromisoformat(day).strftime("%a %-d %b")
        # the report's table leaves the unit of a rate to its column head
        assert row[1:] == [cell.removesuffix(" an hour") for cell in by_day[day]], day


def test_today_page_shows_the_reports_numbers(web):
    data = load_store(web.stores / "ann", "ann", None, "UTC")
    stats = day_stats(data)
    with login(web, "ann") as c:
        page = c.get("/w/ann/today").text
        assert c.get("/w/ann/today", params={"day": "yesterday"}).status_code == 400
        empty = c.get("/w/ann/today", params={"day": "2001-01-01"}).text
    assert f"Sitting {hm(stats.sitting_s)} of {hm(stats.monitored_s)}" in page
    assert page.count("<tr><td>") >= len(stats.bouts) + len(data.episodes) + len(data.alerts)
    assert f"{len(data.alerts)} reminders" in page  # the timeline's text alternative
    assert "No data for this day" in empty


def test_under_a_base_path_every_link_and_the_cookie_use_it(tmp_path, stores, mosquitto):
    web = start(tmp_path, stores, mosquitto, base_path="/posture")
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{web.server.settings.port}", timeout=10) as c:
            # the proxy strips /posture before passing the request on
            r = c.get("/w/ann/now")
            assert r.headers["location"] == "/posture/login?next=/posture/w/ann/now"
            page = c.get("/login")
            assert "path=/posture" in page.headers["set-cookie"]
            links = re.findall(r'(?:href|src|action)="([^"]+)"', page.text)
            assert links and all(link.startswith("/posture/") for link in links), links
            manifest = c.get("/manifest.webmanifest").json()
            assert manifest["start_url"] == "/posture/" and manifest["scope"] == "/posture/"
            assert 'const BASE = "/posture";' in c.get("/sw.js").text
    finally:
        web.server.stop()


def test_guessing_a_password_is_slowed_down(tmp_path, stores, mosquitto):
    web = start(tmp_path, stores, mosquitto)
    try:
        with client(web) as c:
            token = csrf(c.get("/login").text)
            guesses = [{"csrf": token, "name": "bob", "password": f"guess-{i}"} for i in range(6)]
            codes = [c.post("/login", data=guess).status_code for guess in guesses]
            assert codes == [401] * 5 + [429]
            # even the right password waits now; another account does not
            r = c.post("/login", data={"csrf": token, "name": "BOB", "password": PASSWORDS["bob"]})
            assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
            r = c.post("/login", data={"csrf": token, "name": "ann", "password": PASSWORDS["ann"]})
            assert r.status_code == 303
    finally:
        web.server.stop()

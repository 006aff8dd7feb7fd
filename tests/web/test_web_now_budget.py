"""The Now page's reminder budget and its data clock, in real headless Chromium.

A real ``AlertPolicy`` (budget of 4 over the waking hours) is fed a simulated day of
forward-head episodes; the budget it reports mid-morning and after the day's last reminder goes
to the broker the way the daemon sends it (the status payload's ``reminders``, the
"no more reminders today" notice on the alerts topic), and the page must show the policy's
numbers: used of budget, when the next one may come, and "out for today" said once; the same for
the status a real Session (the demo's assembly) publishes after spending a budget of 2. The posture
duration is measured on the data clock (the latest frame's time), not the browser's clock.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from browser import publish, wait_for_stream
from ha_payloads import run_session
from playwright.sync_api import expect
from policy_days import forward_head_day

from posturewatch.alerts.mqtt.payloads import (
    budget_exhausted_payload,
    posture_payload,
    reminders_status,
    status_payload,
)
from posturewatch.alerts.records import BudgetExhausted, BudgetState
from posturewatch.alerts.settings import AlertSettings

pytestmark = pytest.mark.slow

LIVE_S = 2.0
DAY = "2026-03-04"


def hhmm(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M")


def simulated_day() -> tuple[BudgetState, BudgetState, list[BudgetExhausted]]:
    """The policy's budget at 09:30 and at 21:00 of a day of ignored-then-corrected episodes."""
    settings = AlertSettings.from_mapping({"daily_cap": 4, "daily_burst": 1,
                                           "quiet_hours": {"enabled": False}})
    day = forward_head_day(DAY, settings, 13.0, at=(5400.0,))
    return day.states[0], day.states[-1], day.notices


def test_the_now_page_shows_the_budget_the_policy_produced(tab, web):
    mid, evening, notices = simulated_day()
    # the day as the policy lived it: paced in the morning, spent by the evening, said once
    assert 0 < mid.used < mid.budget == 4 and mid.next_allowance_ts > mid.ts
    assert evening.exhausted and evening.used == 4 and len(notices) == 1
    t = tab()
    t.sign_in("ann", "/w/ann/now")
    wait_for_stream(t)
    publish(web, "status", status_payload(mid.ts, True, reminders=reminders_status(mid)), retain=True)
    use = t.page.locator("#budget-use")
    expect(use).to_have_text(f"Reminders today: {mid.used} of 4 used · the next one not before "
                             f"{hhmm(mid.next_allowance_ts)}", timeout=LIVE_S * 1000)
    expect(t.page.locator("#budget-out")).to_be_hidden()
    # the evening: the notice arrives (twice: a redelivery) and the status says spent
    for _ in range(2):
        publish(web, "alerts", budget_exhausted_payload(notices[0]))
    publish(web, "status", status_payload(evening.ts, True, reminders=reminders_status(evening)),
            retain=True)
    expect(use).to_have_text("Reminders today: 4 of 4 used", timeout=LIVE_S * 1000)
    out = t.page.locator("#budget-out")
    expect(out).to_have_text(f"No more reminders today. They start again at {hhmm(evening.resumes_ts)}.")
    assert hhmm(evening.resumes_ts) == "08:00"
    expect(t.page.get_by_text("No more reminders today")).to_have_count(1)  # said once
    expect(t.page.locator("#alerts")).not_to_contain_text("No more reminders")
    # a page opened now renders the same from the server
    t.page.reload()
    expect(t.page.locator("#budget-use")).to_have_text("Reminders today: 4 of 4 used")
    expect(t.page.get_by_text("No more reminders today")).to_have_count(1)
    assert t.errors == []


def test_the_posture_duration_runs_on_the_data_clock(tab, web):
    t = tab()
    t.sign_in("ann", "/w/ann/now")
    wait_for_stream(t)
    # a demo ahead of the wall clock: the latest frame is 2 h 05 min after the posture began,
    # while on the wall clock the posture began only 10 minutes ago
    since = time.time() - 600
    publish(web, "posture", posture_payload(since + 7500, "sitting", since, 30.0), retain=True)
    expected = f"since {hhmm(since)} (2 h 05 min)"
    expect(t.page.locator("#posture-since")).to_have_text(expected, timeout=LIVE_S * 1000)
    t.page.reload()  # the server's rendering uses the same clock
    expect(t.page.locator("#posture-since")).to_have_text(expected)
    assert t.errors == []


def test_the_now_page_shows_a_sessions_budget(tab, web):
    """The status and notice a real Session (the demo's assembly: simulated wearer → monitor →
    policy) publishes, budget 2: both used, and the day's "no more reminders" said once."""
    # on a thread of its own: Playwright's sync API keeps an event loop running on this one
    with ThreadPoolExecutor(1) as pool:
        published = pool.submit(run_session, 2).result()
    reminders = published.status["reminders"]
    assert reminders["used"] == reminders["budget"] == 2 and reminders["exhausted"]
    assert len(published.notices) == 1
    t = tab()
    t.sign_in("ann", "/w/ann/now")
    wait_for_stream(t)
    publish(web, "alerts", published.notices[0])
    publish(web, "status", published.status, retain=True)
    expect(t.page.locator("#budget-use")).to_have_text("Reminders today: 2 of 2 used", timeout=LIVE_S * 1000)
    resumes = hhmm(reminders["resumes_ms"] / 1000)
    assert resumes == hhmm(published.notices[0]["resumes_ms"] / 1000) == "08:00"
    said = f"No more reminders today. They start again at {resumes}."
    expect(t.page.locator("#budget-out")).to_have_text(said)
    expect(t.page.get_by_text("No more reminders today")).to_have_count(1)
    assert t.errors == []

"""Escalation per context over simulated office weeks, through a real ``AlertPolicy``.

Five days, 09:00–17:00 UTC; a slumped-pelvis (posterior tilt) episode starts every 15 min. In
the daily 10:00–12:00 meeting the wearer ignores every reminder (the episode runs until just
before the next one); at every other time they sit up 60 s after the reminder. Context =
(kind, 2 h block of the local clock), the default. Measured: the meeting's reminders are spaced
out (from day 2 at most one per meeting, never closer than the stretched cooldown), while the
12:00–14:00 block right after it keeps a reminder for every episode at the base spacing. The same
week under the per-kind rule (one context a day) shows why the context matters: there the
ignored meeting also silences the block after it.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from posturewatch.alerts.policy import AlertPolicy
from posturewatch.alerts.records import Alert
from posturewatch.alerts.settings import AlertSettings
from posturewatch.analytics.records import Episode, EpisodeEvent
from posturewatch.simulators.config import parse_start

MONDAY = parse_start("2026-03-02T00:00:00Z")
DAYS = 5
SLOT_S = 900.0
BASE_COOLDOWN_S = 900.0  # posterior_tilt's default cooldown
MEETING, AFTER = (10, 12), (12, 14)


def hour(ts: float) -> float:
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.hour + moment.minute / 60


def in_block(ts: float, block: tuple[int, int]) -> bool:
    return block[0] <= hour(ts) < block[1]


def office_week(settings: AlertSettings) -> tuple[AlertPolicy, list[Alert]]:
    policy = AlertPolicy(settings)
    sent: list[Alert] = []
    for day in range(DAYS):
        nine = MONDAY + day * 86400 + 9 * 3600
        for slot in range(int(8 * 3600 / SLOT_S)):
            start = nine + slot * SLOT_S
            episode = Episode("posterior_tilt", start, start + 30)
            alerts = policy.on_events([EpisodeEvent("start", episode, start + 30)], "sitting")
            end = start + SLOT_S - 60  # ignored: it goes on until just before the next one
            t = start + 30
            while t < end:
                t += 5.0
                alerts += policy.tick(t, "sitting")
                if alerts and not in_block(alerts[0].ts, MEETING):
                    end = min(end, alerts[0].ts + 60)  # acted on: sat up a minute later
            policy.on_events([EpisodeEvent("end", Episode("posterior_tilt", start, start + 30, end),
                                           end + 5)], "sitting")
            sent += alerts
    return policy, sent


@pytest.fixture(scope="module")
def weeks() -> dict[str, tuple[AlertPolicy, list[Alert]]]:
    base = {"daily_cap": 0}
    return {
        "context": office_week(AlertSettings.from_mapping(base)),
        "per_kind": office_week(AlertSettings.from_mapping(
            {**base, "escalation": {"context_block_min": 1440}})),
        "off": office_week(AlertSettings.from_mapping({**base, "escalation": {"enabled": False}})),
    }


def per_day(alerts: list[Alert], block: tuple[int, int]) -> list[list[float]]:
    days: list[list[float]] = [[] for _ in range(DAYS)]
    for a in alerts:
        if in_block(a.ts, block):
            days[int((a.ts - MONDAY) // 86400)].append(a.ts)
    return days


def test_the_ignored_meeting_is_spaced_out_and_the_block_after_it_is_not(weeks):
    policy, alerts = weeks["context"]
    _, unescalated = weeks["off"]
    slots_per_block = int(2 * 3600 / SLOT_S)
    # without escalation every episode of the meeting gets its reminder
    assert [len(d) for d in per_day(unescalated, MEETING)] == [slots_per_block] * DAYS
    meeting = per_day(alerts, MEETING)
    assert len(meeting[0]) == 3  # day 1: at base, then after 2× and 4× the cooldown
    assert all(len(d) <= 1 for d in meeting[1:])  # later days: at most one per meeting
    assert sum(map(len, meeting)) < DAYS * slots_per_block / 4
    day1 = meeting[0]
    assert [b - a for a, b in itertools.pairwise(day1)] == [2 * BASE_COOLDOWN_S, 4 * BASE_COOLDOWN_S]
    # the block after the meeting, acted on: every episode reminded, at the base spacing
    after = per_day(alerts, AFTER)
    assert [len(d) for d in after] == [slots_per_block] * DAYS
    for stamps in after:
        assert [b - a for a, b in itertools.pairwise(stamps)] == [SLOT_S] * (slots_per_block - 1)
    streaks = policy.ignored_in_a_row()
    assert set(streaks) == {"posterior_tilt@10:00"} and streaks["posterior_tilt@10:00"] >= 3 + DAYS - 1
    assert policy.cooldown_s("posterior_tilt", MONDAY + 10.5 * 3600) == 7200.0
    assert policy.cooldown_s("posterior_tilt", MONDAY + 12.5 * 3600) == BASE_COOLDOWN_S


def test_per_kind_escalation_lets_the_meeting_silence_the_next_block(weeks):
    _, context_alerts = weeks["context"]
    _, per_kind = weeks["per_kind"]
    spared = sum(map(len, per_day(context_alerts, AFTER)))
    silenced = sum(map(len, per_day(per_kind, AFTER)))
    assert silenced < spared
    # the first reminder after the meeting waits for the meeting's stretched cooldown
    first_after = [d[0] for d in per_day(per_kind, AFTER) if d]
    assert all(hour(ts) >= 12.5 for ts in first_after)


def test_the_contexts_survive_a_restart(weeks):
    policy, _ = weeks["context"]
    again = AlertPolicy(policy.settings)
    again.restore(policy.snapshot())
    assert again.ignored_in_a_row() == policy.ignored_in_a_row()
    assert again.cooldown_s("posterior_tilt", MONDAY + 10.5 * 3600) == 7200.0


@pytest.mark.parametrize(("block", "clock", "context"), [
    (120, "10:59", "posterior_tilt@10:00"), (120, "12:00", "posterior_tilt@12:00"),
    (90, "10:29", "posterior_tilt@09:00"), (90, "10:30", "posterior_tilt@10:30"),
    (1440, "10:30", "posterior_tilt"),
])
def test_context_names(block: int, clock: str, context: str) -> None:
    policy = AlertPolicy(AlertSettings.from_mapping({"escalation": {"context_block_min": block}}))
    assert policy.context("posterior_tilt", parse_start(f"2026-03-02T{clock}:00Z")) == context


def test_a_bad_block_length_is_refused() -> None:
    with pytest.raises(ValueError, match=r"escalation.context_block_min must be within 1…1440 minutes"):
        AlertSettings.from_mapping({"escalation": {"context_block_min": 0}})

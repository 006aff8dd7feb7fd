"""The daily budget: spread over the waking hours, visible, and said once when it runs out."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from posturewatch.alerts.policy import AlertPolicy
from posturewatch.alerts.settings import AlertSettings, SettingsError
from posturewatch.analytics.records import Episode, EpisodeEvent

BERLIN = ZoneInfo("Europe/Berlin")


def local(hour: float, day: int = 4) -> float:
    """Unix time of ``hour`` o'clock on 2024-03-``day`` in Berlin."""
    return datetime(2024, 3, day, tzinfo=BERLIN).timestamp() + hour * 3600


def flood(policy: AlertPolicy, t0: float, t1: float, every_s: float = 120.0) -> list[float]:
    """A tilt episode every ``every_s`` (each lasting until the next) while ticking every 5 s:
    far more reminders due than the budget allows."""
    sent, t, k, episode = [], t0, 0, None
    while t < t1:
        if t >= t0 + k * every_s:
            events = []
            if episode is not None:
                ended = Episode(episode.kind, episode.start, episode.confirmed, t - 10)
                events.append(EpisodeEvent("end", ended, t))
            episode = Episode("posterior_tilt", t - 60, t)
            events.append(EpisodeEvent("start", episode, t))
            sent += [a.ts for a in policy.on_events(events, "sitting")]
            k += 1
        sent += [a.ts for a in policy.tick(t, "sitting")]
        t += 5.0
    return sent


def settings(**extra) -> AlertSettings:
    return AlertSettings.from_mapping(
        {"timezone": "Europe/Berlin", "posterior_tilt": {"cooldown_s": 0},
         "escalation": {"enabled": False}, **extra}
    )


def test_the_default_budget_lasts_the_waking_day():
    policy = AlertPolicy(settings())
    sent = flood(policy, local(7), local(22))
    hours = [datetime.fromtimestamp(ts, BERLIN).hour + datetime.fromtimestamp(ts, BERLIN).minute / 60
             for ts in sent]
    assert len(sent) == 12
    assert sum(h < 11 for h in hours) <= 12 // 3
    assert sum(h >= 15 for h in hours) >= 4  # the afternoon and evening still get reminders
    assert max(hours) < 22
    # never ahead of budget × elapsed waking share + burst
    for i, h in enumerate(hours, start=1):
        assert i <= 12 * min(1.0, max(0.0, (h - 8) / 14)) + 2
    assert policy.suppressed["budget_paced"] > 0 and policy.suppressed["daily_cap"] > 0


def test_budget_state_and_the_once_said_exhaustion():
    policy = AlertPolicy(settings())
    state = policy.budget(local(9))
    assert (state.used, state.remaining, state.allowed_now, state.exhausted) == (0, 12, 2, False)
    assert state.next_allowance_ts == local(9)
    flood(policy, local(9), local(9.2))
    state = policy.budget(local(9.2))
    assert state.used == 2 and state.remaining == 10 and not state.exhausted
    # one more after 08:00 + 14 h / 11 (the third of the 11 spread steps)
    assert state.next_allowance_ts == pytest.approx(local(8 + 14 / 11))
    assert policy.take_notices() == []
    flood(policy, local(9.2), local(23))
    (notice,) = policy.take_notices()
    assert notice.type == "budget_exhausted" and notice.used == notice.budget == 12
    assert notice.day == "2024-03-04" and notice.resumes_ts == local(8, day=5)
    assert "tomorrow at 08:00" in notice.message
    state = policy.budget(local(23))
    assert state.exhausted and state.remaining == 0 and state.next_allowance_ts is None
    flood(policy, local(23), local(23.5))
    assert policy.take_notices() == []  # said once
    assert policy.budget(local(9, day=5)).used == 0  # a new day, a new budget


def test_no_cap_means_no_pacing_and_no_notice():
    policy = AlertPolicy(settings(daily_cap=0))
    assert len(flood(policy, local(8), local(10))) == 60
    state = policy.budget(local(10))
    assert state.budget == 0 and state.remaining is None and not state.exhausted
    assert policy.take_notices() == []


def test_waking_hours_and_burst_shape_the_spread():
    policy = AlertPolicy(settings(daily_cap=6, daily_burst=0,
                                  waking_hours={"start": "10:00", "end": "16:00"}))
    sent = flood(policy, local(7), local(20))
    hours = [round((ts - local(0)) / 3600, 2) for ts in sent]
    assert hours == [11.0, 12.0, 13.0, 14.0, 15.0, 16.0]


@pytest.mark.parametrize(("mapping", "message"), [
    ({"waking_hours": {"start": "22:00", "end": "08:00"}}, "must be before end"),
    ({"waking_hours": {"start": "8"}}, "waking_hours.start"),
    ({"waking_hours": {"begin": "08:00"}}, "unknown key.*begin"),
    ({"daily_burst": -1}, "daily_burst must be ≥ 0"),
    ({"daily_burst": 1.5}, "daily_burst: expected int"),
])
def test_bad_budget_settings_are_refused(mapping, message):
    with pytest.raises(SettingsError, match=message):
        AlertSettings.from_mapping(mapping)


def test_budget_payloads_are_plain_json():
    import json

    from posturewatch.alerts.mqtt.payloads import budget_exhausted_payload, budget_payload, encode

    policy = AlertPolicy(settings())
    flood(policy, local(7), local(22))
    (notice,) = policy.take_notices()
    state = json.loads(encode(budget_payload(policy.budget(local(12)))))
    assert state["used"] == 12 and state["remaining"] == 0 and state["exhausted"] is True
    assert state["next_allowance"] is None and state["day"] == "2024-03-04"
    early = json.loads(encode(budget_payload(AlertPolicy(settings()).budget(local(9)))))
    assert early["next_allowance_ms"] == round(local(9) * 1000) and early["allowed_now"] == 2
    said = json.loads(encode(budget_exhausted_payload(notice)))
    assert said["id"] == "budget_exhausted-2024-03-04" and said["resumes"] == "2024-03-05T07:00:00.000Z"

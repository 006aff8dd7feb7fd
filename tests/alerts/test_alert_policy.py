"""Alert policy: timing per kind, repeats, cooldown, snooze, quiet hours, gating, cap, follow-up."""

from __future__ import annotations

from datetime import date

import pytest

from posturewatch.alerts.policy import AlertPolicy
from posturewatch.alerts.settings import AlertSettings
from posturewatch.analytics.records import Episode, EpisodeEvent, Posture

NOON = 1709553600.0  # 2024-03-04 12:00 UTC, a Monday, outside default quiet hours


def start(kind: str, t0: float, sustain: float = 60.0) -> EpisodeEvent:
    return EpisodeEvent("start", Episode(kind, t0, t0 + sustain), t0 + sustain)


def end(kind: str, t0: float, t_end: float, sustain: float = 60.0) -> EpisodeEvent:
    return EpisodeEvent("end", Episode(kind, t0, t0 + sustain, t_end, -20.0, -18.0), t_end + 10)


def test_tilt_alerts_at_confirmation_once_with_stable_id_and_both_bounds():
    policy = AlertPolicy()
    alerts = policy.on_events([start("posterior_tilt", NOON)], Posture.SITTING)
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.ts == NOON + 60 and alert.kind == "posterior_tilt"
    assert alert.id == f"posterior_tilt-{int(NOON * 1000)}-a0"
    assert alert.episode_start == NOON and alert.episode_end is None
    assert alert.severity == "warning" and alert.title and alert.message
    assert policy.tick(NOON + 3600, Posture.SITTING) == []  # no repeat for tilt
    # a replay of the same event gives the same id; a redelivered start adds nothing
    assert policy.on_events([start("posterior_tilt", NOON)], Posture.SITTING) == []
    assert AlertPolicy().on_events([start("posterior_tilt", NOON)], "sitting")[0].id == alert.id


def test_prolonged_sitting_alerts_at_30_min_and_every_30_min_while_open():
    policy = AlertPolicy(AlertSettings.from_mapping({"escalation": {"enabled": False}}))
    first = policy.on_events([start("prolonged_sitting", NOON, sustain=1800)], "sitting")
    assert [a.ts for a in first] == [NOON + 1800]
    emitted = list(first)
    for t in range(int(NOON) + 1800, int(NOON) + 7300, 10):
        emitted += policy.tick(float(t), "sitting")
    assert [a.ts - NOON for a in emitted] == [1800, 3600, 5400, 7200]
    assert [a.repeat for a in emitted] == [0, 1, 2, 3]
    assert "90 min" in emitted[2].title
    policy.on_events([end("prolonged_sitting", NOON, NOON + 7250, sustain=1800)], "standing")
    assert policy.tick(NOON + 9000, "sitting") == []


def test_posture_gating_holds_alert_until_posture_allows_while_open():
    policy = AlertPolicy()
    assert policy.on_events([start("posterior_tilt", NOON)], Posture.STANDING) == []
    assert policy.suppressed["posture"] == 1
    assert policy.tick(NOON + 70, Posture.STANDING) == []
    assert policy.suppressed["posture"] == 1  # counted once per alert and reason
    late = policy.tick(NOON + 80, Posture.SITTING)
    assert [a.ts for a in late] == [NOON + 80]
    # an episode that ends while still blocked never alerts
    policy2 = AlertPolicy()
    policy2.on_events([start("posterior_tilt", NOON)], "walking")
    policy2.on_events([end("posterior_tilt", NOON, NOON + 90)], "walking")
    assert policy2.tick(NOON + 200, "sitting") == []


def test_cooldown_per_kind_and_independent_kinds():
    policy = AlertPolicy()
    a1 = policy.on_events([start("posterior_tilt", NOON)], "sitting")
    policy.on_events([end("posterior_tilt", NOON, NOON + 100)], "sitting")
    # a second tilt episode 5 min later is inside the 15-min cooldown
    t2 = NOON + 300
    assert policy.on_events([start("posterior_tilt", t2)], "sitting") == []
    assert policy.suppressed["cooldown"] == 1
    # another kind is not affected
    assert len(policy.on_events([start("forward_head", t2)], "sitting")) == 1
    # the held tilt alert goes out when the cooldown is over and the episode is still open
    assert policy.tick(NOON + 60 + 899, "sitting") == []
    released = policy.tick(NOON + 60 + 900, "sitting")
    assert [a.kind for a in released] == ["posterior_tilt"] and len(a1) == 1


def test_snooze_for_minutes_and_until_tomorrow_in_local_zone():
    policy = AlertPolicy(AlertSettings(timezone="Europe/Berlin"))
    until = policy.snooze(NOON, minutes=30)
    assert until == NOON + 1800
    assert policy.on_events([start("forward_head", NOON)], "sitting") == []
    assert policy.suppressed["snoozed"] == 1
    assert [a.kind for a in policy.tick(NOON + 1800, "sitting")] == ["forward_head"]

    until = policy.snooze(NOON, until_tomorrow=True)
    # 12:00 UTC is 13:00 in Berlin (CET); the next local midnight is 23:00 UTC
    assert until == NOON + 11 * 3600
    with pytest.raises(ValueError):
        policy.snooze(NOON, minutes=5, until_tomorrow=True)
    with pytest.raises(ValueError):
        policy.snooze(NOON, minutes=-1)


def test_snooze_limited_to_kinds():
    policy = AlertPolicy()
    policy.snooze(NOON, minutes=60, kinds=["forward_head"])
    assert policy.on_events([start("forward_head", NOON)], "sitting") == []
    assert len(policy.on_events([start("posterior_tilt", NOON)], "sitting")) == 1


def test_quiet_hours_wrap_midnight_in_local_time():
    settings = AlertSettings.from_mapping(
        {"timezone": "America/New_York", "quiet_hours": {"start": "22:00", "end": "07:00"}}
    )
    policy = AlertPolicy(settings)
    # 03:00 UTC on Mar 5 is 22:00 in New York (EST): inside quiet hours
    night = NOON + 15 * 3600 - 60
    assert policy.on_events([start("posterior_tilt", night)], "sitting") == []
    assert policy.suppressed["quiet_hours"] == 1
    # 12:00 UTC the next day is 07:00 local: the still-open episode alerts then
    assert policy.tick(NOON + 86400 - 1, "sitting") == []
    assert len(policy.tick(NOON + 86400, "sitting")) == 1


def test_daily_cap_counts_per_local_day():
    settings = AlertSettings.from_mapping(
        {"daily_cap": 2, "posterior_tilt": {"cooldown_s": 0}, "quiet_hours": {"enabled": False}}
    )
    policy = AlertPolicy(settings)
    sent = []
    for i in range(4):
        sent += policy.on_events([start("posterior_tilt", NOON + 600 * i)], "sitting")
    assert len(sent) == 2 and policy.suppressed["daily_cap"] == 2
    sent_next_day = policy.on_events([start("posterior_tilt", NOON + 86400)], "sitting")
    assert len(sent_next_day) == 1


def test_lumbar_bend_off_by_default_and_counted_as_disabled():
    bend = Episode("lumbar_bend", NOON, NOON + 3, NOON + 3, 60.0, 50.0)
    events = [EpisodeEvent("start", bend, NOON + 3), EpisodeEvent("end", bend, NOON + 3)]
    policy = AlertPolicy()
    assert policy.on_events(events, "standing") == []
    assert policy.suppressed["disabled"] == 1
    enabled = AlertPolicy(AlertSettings.from_mapping({"lumbar_bend": {"enabled": True}}))
    assert [a.kind for a in enabled.on_events(events, "standing")] == ["lumbar_bend"]


def test_follow_up_windows_and_daily_response_rate():
    settings = AlertSettings.from_mapping({"posterior_tilt": {"cooldown_s": 0}})
    policy = AlertPolicy(settings)
    # three alerts; the wearer reacts after 30 s, 150 s, and not within 5 min
    reaction = [30.0, 150.0, 1000.0]
    for i, delay in enumerate(reaction):
        t0 = NOON + 3600 * i
        (alert,) = policy.on_events([start("posterior_tilt", t0)], "sitting")
        policy.on_events([end("posterior_tilt", t0, alert.ts + delay)], "sitting")
    responses = [f.response_s for f in policy.follow_ups()]
    assert responses == reaction
    summary = policy.daily_summary(date(2024, 3, 4))
    assert summary.alerts == 3 and summary.by_kind == {"posterior_tilt": 3}
    assert summary.broke_within == {60.0: 1, 180.0: 2, 300.0: 2}
    assert summary.response_rate[180.0] == pytest.approx(2 / 3)
    assert policy.daily_summary("2024-03-05").alerts == 0


def test_missed_reminders_are_skipped_not_burst():
    policy = AlertPolicy()
    policy.snooze(NOON, minutes=100)
    policy.on_events([start("prolonged_sitting", NOON, sustain=1800)], "sitting")
    # the snooze covers the 30- and 60-min reminders and runs out at 100 min
    burst = policy.tick(NOON + 6000, "sitting")
    assert [a.repeat for a in burst] == [2]
    assert [a.repeat for a in policy.tick(NOON + 7200, "sitting")] == [3]


def test_unknown_event_type_is_rejected_clearly():
    bad = EpisodeEvent("middle", Episode("posterior_tilt", NOON, NOON + 60), NOON + 60)
    with pytest.raises(ValueError, match="middle"):
        AlertPolicy().on_events([bad], "sitting")

"""Escalation in its per-kind mode (one context a day): a kind ignored in a row gets a longer
cooldown; acting on one resets it. Per-context escalation: test_alert_context_escalation.py."""

from __future__ import annotations

from posturewatch.alerts.policy import AlertPolicy
from posturewatch.alerts.settings import AlertSettings
from posturewatch.analytics.records import Episode, EpisodeEvent

NOON = 1709553600.0  # 2024-03-04 12:00 UTC
PER_KIND = AlertSettings.from_mapping({"escalation": {"context_block_min": 1440}})


def test_ignored_reminders_double_the_cooldown_up_to_the_maximum():
    policy = AlertPolicy(PER_KIND)
    assert policy.cooldown_s("posterior_tilt") == 900.0
    for streak in range(1, 5):
        t0 = NOON + 8000 * (streak - 1)
        policy.on_events([EpisodeEvent("start", Episode("posterior_tilt", t0, t0 + 60), t0 + 60)],
                         "sitting")
        policy.tick(t0 + 60 + 301, "sitting")  # five minutes without a correction: ignored
        assert policy.ignored_in_a_row() == {"posterior_tilt": streak}
        assert policy.cooldown_s("posterior_tilt") == min(7200.0, 900.0 * 2**streak)
        policy.on_events([EpisodeEvent("end", Episode("posterior_tilt", t0, t0 + 60, t0 + 2000),
                                       t0 + 2010)], "sitting")
    assert policy.cooldown_s("forward_head") == 900.0  # other kinds keep their own


def test_acting_on_a_reminder_resets_the_spacing_to_base():
    policy = AlertPolicy(PER_KIND)
    for i in range(2):
        t0 = NOON + 8000 * i
        policy.on_events([EpisodeEvent("start", Episode("posterior_tilt", t0, t0 + 60), t0 + 60)],
                         "sitting")
        policy.tick(t0 + 400, "sitting")
        policy.on_events([EpisodeEvent("end", Episode("posterior_tilt", t0, t0 + 60, t0 + 2000),
                                       t0 + 2010)], "sitting")
    assert policy.cooldown_s("posterior_tilt") == 3600.0
    t0 = NOON + 24000
    (alert,) = policy.on_events(
        [EpisodeEvent("start", Episode("posterior_tilt", t0, t0 + 60), t0 + 60)], "sitting")
    # sat up 40 s after the reminder
    policy.on_events([EpisodeEvent("end", Episode("posterior_tilt", t0, t0 + 60, alert.ts + 40),
                                   alert.ts + 50)], "sitting")
    assert policy.ignored_in_a_row() == {} and policy.cooldown_s("posterior_tilt") == 900.0
    # and the next tilt 15 minutes later is reminded at once again
    t1 = alert.ts + 900 - 60
    assert len(policy.on_events(
        [EpisodeEvent("start", Episode("posterior_tilt", t1, t1 + 60), t1 + 60)], "sitting")) == 1


def test_a_spaced_out_kind_is_held_for_the_longer_cooldown():
    policy = AlertPolicy(PER_KIND)
    t0 = NOON
    policy.on_events([EpisodeEvent("start", Episode("posterior_tilt", t0, t0 + 60), t0 + 60)], "sitting")
    policy.tick(t0 + 400, "sitting")  # ignored: cooldown now 1800 s
    policy.on_events([EpisodeEvent("end", Episode("posterior_tilt", t0, t0 + 60, t0 + 500), t0 + 510)],
                     "sitting")
    t1 = t0 + 1000
    assert policy.on_events(
        [EpisodeEvent("start", Episode("posterior_tilt", t1, t1 + 60), t1 + 60)], "sitting") == []
    assert policy.tick(t0 + 60 + 1795, "sitting") == []
    assert [a.kind for a in policy.tick(t0 + 60 + 1800, "sitting")] == ["posterior_tilt"]

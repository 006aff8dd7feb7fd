"""No reminder about an episode that may already be over; responses only after the reminder."""

from __future__ import annotations

import math

from posturewatch.alerts.policy import AlertPolicy
from posturewatch.alerts.settings import AlertSettings
from posturewatch.analytics.records import Episode, EpisodeEvent

NOON = 1709553600.0  # 2024-03-04 12:00 UTC


def tilt(t0: float, end: float | None = None) -> Episode:
    return Episode("posterior_tilt", t0, t0 + 60, end, -20.0, -18.0)


def test_a_held_reminder_is_not_released_inside_the_stop_that_ends_the_episode():
    policy = AlertPolicy()
    policy.snooze(NOON, minutes=2)  # holds the reminder due at NOON + 60
    policy.on_events([EpisodeEvent("start", tilt(NOON), NOON + 60)], "sitting")
    # the wearer sits up at NOON + 117; the detector confirms the end 10 s later
    policy.episodes_ending([(tilt(NOON).id, NOON + 117, math.inf)])
    assert policy.tick(NOON + 120, "sitting") == []  # snooze over, but the episode is stopping
    assert policy.suppressed["ending"] == 1
    policy.on_events([EpisodeEvent("end", tilt(NOON, NOON + 117), NOON + 127)], "sitting")
    assert policy.tick(NOON + 130, "sitting") == [] and policy.follow_ups() == []


def test_a_bridged_pause_only_delays_the_reminder():
    policy = AlertPolicy()
    policy.snooze(NOON, minutes=2)
    policy.on_events([EpisodeEvent("start", tilt(NOON), NOON + 60)], "sitting")
    # a 4-s dip that the detector bridged again: held inside it, sent right after it
    policy.episodes_ending([(tilt(NOON).id, NOON + 118, NOON + 122)])
    assert policy.tick(NOON + 120, "sitting") == []
    (alert,) = policy.tick(NOON + 122, "sitting")
    assert alert.ts == NOON + 122
    # the next block no longer lists the pause: nothing holds, nothing is repeated
    policy.episodes_ending([])
    assert policy.tick(NOON + 125, "sitting") == []


def test_response_counts_only_when_the_end_follows_the_reminder():
    settings = AlertSettings.from_mapping({"posterior_tilt": {"cooldown_s": 0}})
    policy = AlertPolicy(settings)
    (alert,) = policy.on_events([EpisodeEvent("start", tilt(NOON), NOON + 60)], "sitting")
    # a caller that never says where episodes stopped: the end turns out to lie before the alert
    policy.on_events([EpisodeEvent("end", tilt(NOON, NOON + 57), NOON + 67)], "sitting")
    (follow,) = policy.follow_ups()
    assert follow.response_s is None and follow.ended_before and policy.sent_after_end == 1
    assert not follow.broke_within(60.0)
    later = NOON + 3600
    policy.on_events([EpisodeEvent("start", tilt(later), later + 60)], "sitting")
    policy.on_events([EpisodeEvent("end", tilt(later, later + 100), later + 110)], "sitting")
    summary = policy.daily_summary("2024-03-04")
    assert summary.alerts == 2 and summary.broke_within[60.0] == 1
    assert summary.response_rate[60.0] == 0.5
    assert [f.response_s for f in policy.follow_ups()] == [None, 40.0]


def test_feedback_on_a_finished_bend_is_sent_but_is_no_response():
    bend = Episode("lumbar_bend", NOON, NOON + 3, NOON + 3, 60.0, 50.0)
    policy = AlertPolicy(AlertSettings.from_mapping({"lumbar_bend": {"enabled": True}}))
    policy.episodes_ending([(bend.id, NOON + 3, math.inf)])
    events = [EpisodeEvent("start", bend, NOON + 3.5), EpisodeEvent("end", bend, NOON + 3.5)]
    assert [a.kind for a in policy.on_events(events, "standing")] == ["lumbar_bend"]
    (follow,) = policy.follow_ups()
    assert follow.feedback and follow.response_s is None and policy.sent_after_end == 0
    assert policy.ignored_in_a_row() == {}

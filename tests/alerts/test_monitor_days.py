"""Reminders over simulated days, driven through the Monitor (simulator → Pipeline → policy).

Measured against the episodes the same run detected: no reminder goes out once its episode has
ended, responses count only after the reminder, the daily budget lasts the waking day and its
end is said once, and a kind the wearer keeps ignoring is spaced out while acted-on ones are not.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from datetime import UTC, datetime

import pytest

from posturewatch.alerts.monitor import Monitor
from posturewatch.alerts.records import Alert, BudgetExhausted
from posturewatch.alerts.settings import AlertSettings
from posturewatch.simulators.config import WearerConfig, parse_start
from posturewatch.simulators.wearer import iter_blocks

pytestmark = pytest.mark.slow

DAY1 = parse_start("2026-01-05T08:00:00Z")
UNCAPPED = {"daily_cap": 0, "escalation": {"enabled": False}}


@dataclasses.dataclass
class Run:
    monitor: Monitor
    alerts: list[Alert] = dataclasses.field(default_factory=list)
    notices: list[BudgetExhausted] = dataclasses.field(default_factory=list)
    ends: dict[str, float] = dataclasses.field(default_factory=dict)

    def take(self, out) -> None:
        self.alerts += out.alerts
        self.notices += out.notices
        self.ends.update({e.episode.id: float(e.episode.end) for e in out.frames.events
                          if e.type == "end"})

    def late(self) -> list[tuple[str, float]]:
        """Reminders (not bend feedback) sent at or after their episode's detected end."""
        return [(a.id, a.ts - self.ends[a.episode_id]) for a in self.alerts
                if a.kind != "lumbar_bend" and self.ends.get(a.episode_id, math.inf) <= a.ts]


def drive(streams, runs: dict[str, Run]) -> dict[str, Run]:
    for blocks in streams:
        present = [b for b in blocks.values() if len(b)]
        for run in runs.values():
            run.take(run.monitor.push(present))
    for run in runs.values():
        run.take(run.monitor.close())
    return runs


@pytest.fixture(scope="module")
def office_day() -> dict[str, Run]:
    """8 h of a desk day with several policies side by side on the same frames."""
    def monitor(**mapping) -> Run:
        return Run(Monitor(alerts=AlertSettings.from_mapping({**UNCAPPED, **mapping})))

    runs = {
        "base": monitor(),
        # the same policy, but never told where episodes stopped: how it used to be driven
        "blind": monitor(),
        # per kind (one context a day): every reminder of the day stretches the next one's wait
        "ignored": monitor(escalation={"enabled": True, "ignored_after_s": 1.0, "context_block_min": 1440}),
        "acted": monitor(escalation={"enabled": True, "ignored_after_s": 86400.0}),
    }
    runs["blind"].monitor.policy.episodes_ending = lambda stops: None
    stream = iter_blocks(WearerConfig(hours=8, seed=1, rate=10, start=DAY1), chunk_s=30.0)
    return drive(stream, runs)


@pytest.fixture(scope="module")
def two_days() -> Run:
    """A full day and night, then a second waking day, with the default alert settings."""
    streams = itertools.chain(
        iter_blocks(WearerConfig(hours=24, seed=3, rate=10, start=DAY1), chunk_s=60.0),
        iter_blocks(WearerConfig(hours=14, seed=4, rate=10, start=DAY1 + 86400), chunk_s=60.0),
    )
    return drive(streams, {"default": Run(Monitor())})["default"]


def test_no_reminder_after_its_episode_ended(office_day):
    blind, base = office_day["blind"], office_day["base"]
    # the data has the problem: driven blind, some reminders land seconds after the end
    assert blind.late() and all(0 <= lag < 15 for _, lag in blind.late())
    assert blind.monitor.policy.sent_after_end == len(blind.late())
    assert base.late() == [] and base.monitor.policy.sent_after_end == 0
    assert base.monitor.policy.suppressed["ending"] > 0
    assert len(base.alerts) >= 30


def test_responses_only_after_the_reminder(office_day, two_days):
    for run in (office_day["base"], two_days):
        follow_ups = run.monitor.policy.follow_ups()
        assert follow_ups
        for follow in follow_ups:
            end = run.ends.get(follow.alert.episode_id)
            if follow.response_s is not None:
                assert follow.response_s > 0
                assert follow.response_s == pytest.approx(end - follow.alert.ts)
            assert not follow.ended_before
    blind = office_day["blind"].monitor.policy.follow_ups()
    assert sum(f.ended_before for f in blind) == len(office_day["blind"].late())
    assert all(f.response_s is None for f in blind if f.ended_before)


def local_hour(ts: float) -> float:
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.hour + moment.minute / 60 + moment.second / 3600


def test_budget_is_spread_over_the_waking_day_and_its_end_said_once(two_days):
    assert two_days.late() == []
    by_day: dict[str, list[float]] = {}
    for alert in two_days.alerts:
        by_day.setdefault(datetime.fromtimestamp(alert.ts, UTC).date().isoformat(), []).append(alert.ts)
    assert sorted(by_day) == ["2026-01-05", "2026-01-06"]
    for day, stamps in by_day.items():
        hours = [local_hour(ts) for ts in stamps]
        assert len(hours) == 12, day  # the whole budget is used …
        assert sum(h < 11 for h in hours) <= 4, day  # … no more than a third before 11:00 …
        assert sum(h >= 15 for h in hours) >= 3, day  # … and reminders still in the afternoon
        for used, hour in enumerate(hours, start=1):
            assert used <= 12 * min(1.0, max(0.0, (hour - 8) / 14)) + 2, (day, used, hour)
    notices = two_days.notices
    assert [n.day for n in notices] == sorted(by_day)  # once per day, not per held reminder
    for notice in notices:
        assert notice.ts == by_day[notice.day][-1] and notice.used == notice.budget == 12
    policy = two_days.monitor.policy
    assert policy.suppressed["daily_cap"] > 0 and policy.suppressed["budget_paced"] > 0
    state = policy.budget(by_day["2026-01-06"][-1])
    assert state.exhausted and state.remaining == 0 and state.next_allowance_ts is None


def gaps(alerts: list[Alert], kind: str) -> list[float]:
    stamps = [a.ts for a in alerts if a.kind == kind]
    return [b - a for a, b in itertools.pairwise(stamps)]


def test_ignored_reminders_are_spaced_out_acted_on_ones_are_not(office_day):
    base, ignored, acted = office_day["base"], office_day["ignored"], office_day["acted"]
    # acting on every reminder keeps the base schedule exactly
    assert [(a.id, a.ts) for a in acted.alerts] == [(a.id, a.ts) for a in base.alerts]
    assert acted.monitor.policy.ignored_in_a_row() == {}
    assert len(ignored.alerts) < len(base.alerts)
    settings = ignored.monitor.policy.settings
    for kind in ("posterior_tilt", "forward_head"):
        base_cooldown = settings.for_kind(kind).cooldown_s
        spaced = gaps(ignored.alerts, kind)
        # each reminder was ignored, so the k-th gap is at least base × 2^k (at most 2 h)
        for k, gap in enumerate(spaced, start=1):
            assert gap >= min(settings.escalation.max_cooldown_s, base_cooldown * 2**k) - 1e-6
        assert max(spaced) >= settings.escalation.max_cooldown_s
        assert min(gaps(base.alerts, kind)) < 2 * base_cooldown

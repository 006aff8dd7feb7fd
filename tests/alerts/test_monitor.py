"""The monitor's one record per step: frames, events, alerts, responses and finished days."""

from __future__ import annotations

import numpy as np
import pytest

from posturewatch.alerts.monitor import Monitor
from posturewatch.alerts.settings import AlertSettings
from posturewatch.simulators.config import WearerConfig
from posturewatch.simulators.wearer import iter_blocks

START = 1_780_272_000.0 - 2 * 3600  # 2026-05-31 22:00 UTC, two hours before a midnight


@pytest.mark.slow
def test_steps_carry_responses_for_their_alerts_and_the_day_that_ended() -> None:
    settings = AlertSettings.from_mapping({"quiet_hours": {"enabled": False}, "timezone": "UTC"})
    monitor = Monitor(alerts=settings)
    steps = [monitor.push([b for b in blocks.values() if len(b)])
             for blocks in iter_blocks(WearerConfig(hours=3.0, seed=4, start=START), chunk_s=60.0)]
    steps.append(monitor.close())
    alerts = [a for s in steps for a in s.alerts]
    responses = [r for s in steps for r in s.responses]
    assert alerts, "a simulated evening has reminders"
    alerted = {a.id for a in alerts}
    assert responses and {r.alert_id for r in responses} <= alerted
    assert all(r.response_s >= 0 for r in responses)
    # every response belongs to an episode that ended in the same step
    for step in steps:
        ended = {e.episode.id for e in step.events if e.type == "end"}
        assert {r.episode_id for r in step.responses} <= ended
    days = [d for s in steps for d in s.days]
    assert [d.day for d in days] == ["2026-05-31", "2026-06-01"]  # one at midnight, one at the end
    frames = sum(len(s.frames) for s in steps)
    assert sum(d.tally.seconds.sum() for d in days) == np.float64(frames) / 10
    assert days[0].values()["alerts"] == sum(1 for a in alerts if a.ts < START + 2 * 3600)
    # complete_before never runs ahead of the frames it covers
    for step in steps:
        if len(step.frames):
            assert step.complete_before == float(step.frames.t[-1]) + 0.1

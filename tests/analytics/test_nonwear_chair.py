"""The issue's case: sensors left on a chair (trunk sensors against the backrest, thigh on the seat)
read as sitting. Live they are recognised ``confirm_s`` after being put down; replayed (frames held
back) from the put-down moment. Either way no reminder goes out while they lie there."""

from __future__ import annotations

import numpy as np
import pytest
from recording_chunks import recording_chunks

from posturewatch.alerts.monitor import Monitor
from posturewatch.analytics.pipeline import PipelineSettings
from posturewatch.analytics.records import Posture
from posturewatch.simulators.config import Wear, WearerConfig
from posturewatch.simulators.wearer import simulate

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]  # 3 h of three sensors, twice


@pytest.fixture(scope="module")
def chair_day():
    day = simulate(WearerConfig(hours=3, seed=1, rate=25.0, wear=Wear(nonwear=True, breathing=True)))
    (span,) = day.plan.nonwear
    assert span["placement"] == "chair" and span["location"] == "all"
    out = {}
    for mode, settings in (("live", PipelineSettings()), ("replay", PipelineSettings().offline())):
        monitor = Monitor(settings)
        t, posture, alerts = [], [], []
        for part in recording_chunks(day.blocks, 1.0 if mode == "live" else 10.0):
            step = monitor.push(part)
            t.append(step.frames.t), posture.append(step.frames.posture)
            alerts += step.alerts
        step = monitor.close()
        t.append(step.frames.t), posture.append(step.frames.posture)
        alerts += step.alerts
        out[mode] = (np.concatenate(t), np.concatenate(posture), alerts)
    return span, out


@pytest.mark.parametrize("mode", ["live", "replay"])
def test_chair_is_not_worn_and_gives_no_reminder(chair_day, mode):
    span, out = chair_day
    t, posture, alerts = out[mode]
    inside = (t >= span["start"]) & (t < span["end"])
    off = posture == Posture.NOT_WORN
    recall = (off & inside).sum() / inside.sum()
    print(f"{mode}: chair {inside.sum() / 600:.1f} min, not worn {recall:.3f} of it, "
          f"{(off & ~inside).sum() / 10:.0f} s outside, {len(alerts)} alerts")
    assert (off & ~inside).sum() <= 0.005 * (~inside).sum()
    assert not [a for a in alerts if span["start"] <= a.ts < span["end"] + 60]
    if mode == "replay":
        assert recall >= 0.95
    else:  # live: from confirm_s after the put-down (plus the stillness window's edge)
        span_s = span["end"] - span["start"]
        assert recall >= (span_s - 600.0 - 90.0) / span_s

"""A recording's steps handed to the monitor ten at a time (``Monitor.push_steps``, what replay
does) give exactly what pushing them one by one gives: the same frames, posture, angles, episode
events, alerts, finished days and mounting changes, also when a sensor slips in the middle of a
group (the new mounting must apply from the next minute, not from the next group) and across a
gap that restarts the analysis."""

from __future__ import annotations

import numpy as np
import pytest
from recording_chunks import live_chunks

from posturewatch.alerts.monitor import Monitor, MonitorStep
from posturewatch.alerts.settings import AlertSettings
from posturewatch.analytics.pipeline import PipelineSettings
from posturewatch.ingest.records import SensorBlock
from posturewatch.simulators.config import WearerConfig
from posturewatch.simulators.scripted import STILL_SLIPS_HOURS, still_slips
from posturewatch.simulators.wearer import simulate

pytestmark = pytest.mark.slow  # 25 min of three sensors, analysed three times (~15 s)

STEP_S = 60.0
ALERTS = AlertSettings.from_mapping({"quiet_hours": {"enabled": False}, "timezone": "UTC"})


@pytest.fixture(scope="module")
def morning():
    """The scripted morning whose pelvis and thorax slip while seated and standing."""
    config = WearerConfig(hours=STILL_SLIPS_HOURS, seed=4, rate=25.0).with_realism(slip=False)
    plan, specs, _ = still_slips(config)
    day = simulate(config, plan=plan, specs=specs)
    steps = [(chunk, edge) for edge, chunk in live_chunks(day.blocks, config.start, config.end, STEP_S)]
    return steps


def _one_by_one(steps) -> tuple[Monitor, list[MonitorStep]]:
    monitor = Monitor(PipelineSettings().offline(), ALERTS)
    out = [monitor.push(blocks, until) for blocks, until in steps]
    return monitor, out + [monitor.close()]


def _grouped(steps, size: int) -> tuple[Monitor, list[MonitorStep], int]:
    """Also how many groups were taken in at once (the others went step by step)."""
    monitor = Monitor(PipelineSettings().offline(), ALERTS)
    take, taken = monitor.pipeline.take_steps, []
    monitor.pipeline.take_steps = lambda group: taken.append(take(group)) or taken[-1]
    out = []
    for i in range(0, len(steps), size):
        out += monitor.push_steps(steps[i:i + size])
    return monitor, out + [monitor.close()], sum(taken)


def _same(a: list[MonitorStep], b: list[MonitorStep]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x.frames.t, y.frames.t)
        assert np.array_equal(x.frames.posture, y.frames.posture)
        for name, values in x.frames.angles.items():
            assert np.array_equal(values, y.frames.angles[name], equal_nan=True), name
        events = [[(e.type, e.episode.id, e.ts) for e in s.events] for s in (x, y)]
        assert events[0] == events[1]
        assert [(al.id, al.ts) for al in x.alerts] == [(al.id, al.ts) for al in y.alerts]
        assert [d.day for d in x.days] == [d.day for d in y.days]
        assert x.complete_before == y.complete_before


@pytest.mark.parametrize("size", [10, 7])
def test_grouped_steps_give_what_single_steps_give_across_slips(morning, size):
    single_monitor, single = _one_by_one(morning)
    grouped_monitor, grouped, at_once = _grouped(morning, size)
    assert at_once >= len(morning) // size - 1  # all but the first group (the filters start in it)
    slips = [n for _, n in single_monitor.pipeline.calibration_log if "a step while" in n]
    assert len(slips) >= 2, "the morning's slips change the mountings within a group"
    assert grouped_monitor.pipeline.calibration_log == single_monitor.pipeline.calibration_log
    assert grouped_monitor.pipeline.counters == single_monitor.pipeline.counters
    _same(single, grouped)
    assert sum(len(s.frames) for s in grouped) > 0


def test_grouped_steps_across_a_gap_that_restarts_the_analysis(morning):
    later = 3 * 3600.0  # far over the gap limit: the analysis starts again after it
    half = len(morning) // 2

    def shifted(blocks: list[SensorBlock]) -> list[SensorBlock]:
        return [SensorBlock(b.location, b.t + later, b.acc, b.gyr, b.mag) for b in blocks]

    steps = morning[:half] + [(shifted(blocks), until + later) for blocks, until in morning[half:]]
    single_monitor, single = _one_by_one(steps)
    grouped_monitor, grouped, at_once = _grouped(steps, 10)
    assert 0 < at_once < len(steps) // 10  # the group over the gap goes step by step
    assert single_monitor.pipeline.counters["segments_after_gaps"] == 1
    assert grouped_monitor.pipeline.counters == single_monitor.pipeline.counters
    _same(single, grouped)

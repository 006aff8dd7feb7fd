"""A day's activity figures from hand-made frames: split at local midnight on a 23 h day, sitting
bouts across midnight, the in-bed mask when there is one, bends counted once per bend."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import numpy as np
import pytest

from posturewatch.analytics.days import DayTracker, day_start
from posturewatch.analytics.pipeline import PipelineOutput
from posturewatch.analytics.records import Posture
from posturewatch.analytics.transitions import SIT_TO_STAND, STAND_TO_SIT, Transition
from posturewatch.ingest.records import ANGLE_NAMES

BERLIN = ZoneInfo("Europe/Berlin")


def output(t0: float, seconds: float, code: Posture, *, trunk: float = 5.0, tilt: float = -5.0,
           steps_per_s: float = 0.0, moves=(), in_bed: bool | None = None) -> PipelineOutput:
    t = np.arange(round(t0 * 10), round((t0 + seconds) * 10)) / 10
    angles = {a: np.zeros(len(t)) for a in ANGLE_NAMES}
    angles["trunk_inclination"][:] = trunk
    angles["pelvic_tilt"][:] = tilt
    angles["neck_flexion"][:] = np.nan
    out = PipelineOutput(t, angles, np.full(len(t), int(code), np.int8), [])
    if steps_per_s:
        out.steps = np.arange(t0, t0 + seconds, 1.0 / steps_per_s)
    out.transitions = list(moves)
    if in_bed is not None:
        out.in_bed = np.full(len(t), in_bed)
    return out


def feed(tracker: DayTracker, out: PipelineOutput) -> list:
    return tracker.add(out.t, out.posture, out)


def test_a_23_hour_day_and_a_sitting_bout_over_midnight() -> None:
    start = day_start("2026-03-29", BERLIN)  # clocks go forward: 23 h
    end = day_start("2026-03-30", BERLIN)
    tracker = DayTracker(BERLIN)
    ended = []
    t = start
    ended += feed(tracker, output(t, 600, Posture.WALKING, steps_per_s=2.0))
    t += 600
    ended += feed(tracker, output(t, 3, Posture.STANDING, moves=[Transition(STAND_TO_SIT, t + 1, t + 3)]))
    t += 3
    ended += feed(tracker, output(t, end - 1200 - t, Posture.SITTING, tilt=-20.0))  # most of the day
    t = end - 1200
    ended += feed(tracker, output(t, 600, Posture.STANDING, trunk=60.0))  # one long bend
    t += 600
    ended += feed(tracker, output(t, 2400, Posture.SITTING))  # from 23:50 to 00:30
    t += 2400
    ended += feed(tracker, output(t, 60, Posture.STANDING, moves=[Transition(SIT_TO_STAND, t, t + 2)]))
    ended += feed(tracker, output(t + 60, 60, Posture.WALKING))  # the break lasts 120 s
    (day,) = ended
    v = day.values()
    assert day.day == "2026-03-29"
    assert v["wear_min"] == pytest.approx(23 * 60)
    assert v["valid_day"] == 1.0 and v["in_bed_min"] == 0.0
    assert v["steps"] == 1200 and v["cadence_spm"] == pytest.approx(120.0)
    assert v["stand_to_sit"] == 1 and v["sit_to_stand"] == 0
    assert v["bends"] == 1
    assert v["long_sitting_bouts"] == 1  # the one that ended before the bend
    tilted = end - 1200 - start - 603  # the long sit, pelvis at −20°; then 10 min upright sitting
    assert v["posterior_tilt_share"] == pytest.approx(tilted / (tilted + 600))
    (next_day,) = tracker.finish()
    w = next_day.values()
    assert w["sit_to_stand"] == 1 and w["long_sitting_bouts"] == 1  # ended after midnight: 40 min
    assert w["longest_sitting_bout_min"] == pytest.approx(40.0)


def test_time_in_bed_from_the_pipelines_mask() -> None:
    t0 = day_start("2026-06-01", BERLIN)
    tracker = DayTracker(BERLIN)
    feed(tracker, output(t0, 6 * 3600, Posture.LYING, in_bed=True))
    feed(tracker, output(t0 + 6 * 3600, 1800, Posture.LYING, in_bed=False))  # a lie on the sofa
    feed(tracker, output(t0 + 6.5 * 3600, 9 * 3600, Posture.SITTING, in_bed=False))
    feed(tracker, output(t0 + 15.5 * 3600, 600, Posture.NOT_WORN, in_bed=False))
    (day,) = tracker.finish()
    v = day.values()
    assert v["in_bed_min"] == pytest.approx(360.0)
    assert v["lying_awake_min"] == pytest.approx(30.0)
    assert v["wear_min"] == pytest.approx(6 * 60 + 30 + 9 * 60)
    assert v["wear_awake_min"] == pytest.approx(30 + 9 * 60)
    assert v["valid_day"] == 0.0  # 9.5 h worn while awake
    assert v["sitting_awake_min"] == pytest.approx(540.0)

"""Mountings learnt from everyday movement: flipped sensors are found, corrected and reported."""

import numpy as np
import pytest

from posturewatch.analytics.records import Posture
from posturewatch.analytics.scoring import score_posture
from posturewatch.ingest.mounting import Calibration, angle_deg
from posturewatch.runtime.config import Config
from posturewatch.runtime.replay import learn_calibrations, run_replay
from posturewatch.simulators.config import Realism, WearerConfig
from posturewatch.simulators.wearer import Truth, simulate
from posturewatch.store.rollup import per_second

HOURS = 1.5
SEED = 5


def _agreement(res, truth) -> float:
    sec = per_second(res.t, res.angles, res.posture)
    t, p = sec.t, sec.posture
    return score_posture(t, [Posture(int(x)).label for x in p], truth.t_1hz,
                         list(Truth.labels(truth.posture_1hz))).agreement


@pytest.mark.slow
@pytest.mark.parametrize("flip,expect", [
    ("upside_down", ["upside down"]),
    ("inside_out", ["inside out"]),
    ("both", ["upside down", "inside out"]),
])
def test_flipped_thigh_is_detected_corrected_and_reported(flip, expect):
    day = simulate(WearerConfig(hours=HOURS, seed=SEED, flips={"thigh": flip}))
    res = run_replay(day.blocks, Config())
    notes = " ".join(n for n in res.notes if n.startswith("thigh"))
    for word in expect:
        assert word in notes
    assert _agreement(res, day.truth) >= 0.97


def test_learnt_superior_axis_matches_the_true_mounting():
    day = simulate(WearerConfig(hours=HOURS, seed=SEED, realism=Realism(slip=False)))
    cals = learn_calibrations(day.blocks, Config())
    for loc, cal in cals.items():
        true_R = np.asarray(day.meta["sensors"][loc]["true_mounting"], float)  # sensor → segment
        assert angle_deg(cal.R[0], true_R[0]) < 3.0, loc
        assert cal.source.startswith("walking")


def test_without_walking_the_declared_mounting_stays():
    day = simulate(WearerConfig(hours=0.05, seed=SEED, realism=Realism.ideal()))
    still = {k: b.slice(0, min(len(b), 500)) for k, b in day.blocks.items()}
    cals = learn_calibrations(still, Config())
    for loc, cal in cals.items():
        np.testing.assert_allclose(cal.R, Calibration.declared(loc).R)

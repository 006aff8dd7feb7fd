"""The seated non-wear option: one sensor rests on the desk or chair while the wearer sits on."""

from __future__ import annotations

import csv

import numpy as np

from posturewatch.simulators.config import Realism, Wear, WearerConfig
from posturewatch.simulators.recording import TRUTH_NONWEAR_CSV, write_wear_truth
from posturewatch.simulators.schedule import POSTURE_CODES
from posturewatch.simulators.wearer import prepare


def test_one_sensor_is_off_while_the_wearer_keeps_sitting(tmp_path):
    config = WearerConfig(hours=3, seed=4, realism=Realism.ideal(), wear=Wear(seated_off=True))
    plan, specs = prepare(config)
    (span,) = plan.nonwear
    assert span["location"] in ("pelvis", "thigh", "thorax") and span["placement"] in ("table", "chair")
    assert 15 * 60 <= span["end"] - span["start"] <= 36 * 60
    t = np.arange(span["start"] + 5, span["end"] - 5, 1.0)
    assert (plan.posture_codes(t) == POSTURE_CODES["sitting"]).all()  # the body sits on meanwhile
    (place,) = specs[span["location"]].placements
    assert (place.start, place.end) == (span["start"], span["end"])
    assert not any(spec.placements for loc, spec in specs.items() if loc != span["location"])
    write_wear_truth(config, plan, specs, tmp_path)
    with open(tmp_path / TRUTH_NONWEAR_CSV) as f:
        rows = list(csv.DictReader(f))
    assert [r["location"] for r in rows] == [span["location"]]

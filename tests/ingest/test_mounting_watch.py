"""The live mounting learner: fed final frames with posture codes, it learns mountings while
the wearer walks and stands, and follows a sensor that slipped (notes, rotated calibration)."""

from datetime import UTC, datetime

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from posturewatch.ingest.frames import FRAME_HZ, SensorFrames
from posturewatch.ingest.mounting import Calibration, angle_deg, from_pose
from posturewatch.ingest.mounting_watch import MountingLearner

WALK, STAND, SIT = 41, 42, 43  # the caller's posture codes: the learner knows no classifier
K0 = 1_767_600_000 * FRAME_HZ
LOCS = ("pelvis", "thigh", "thorax")
X = np.array([1.0, 0.0, 0.0])


def _frames(k0: int, count: int, up: np.ndarray, motion: float) -> SensorFrames:
    """Frames of 10 samples each whose mean specific force is ``9.81 · up`` and whose |acc|
    varies with standard deviation ``motion`` (walking ~1.5 m/s², standing still ~0.05)."""
    n = np.full(count, 10)
    acc = np.tile(9.81 * up / np.linalg.norm(up), (count, 1))
    return SensorFrames(k0, n, acc / 9.81, acc, n * 9.81, n * (9.81**2 + motion**2))


def _learner(cals=None, **kw) -> MountingLearner:
    cals = cals if cals is not None else {loc: Calibration.declared(loc) for loc in LOCS}
    return MountingLearner(cals, walking=WALK, standing=STAND, declared_for=Calibration.declared, **kw)


def _feed(learner, k0, codes_and_ups, cals):
    """Add frames bout by bout (``(code, seconds, {loc: up})``), then observe them as one block."""
    k, acc, codes = k0, {loc: [] for loc in LOCS}, []
    for code, seconds, ups in codes_and_ups:
        count = int(seconds * FRAME_HZ)
        for loc in LOCS:
            fr = _frames(k, count, ups[loc], 1.5 if code == WALK else 0.05)
            learner.add(loc, fr)
            acc[loc].append(fr.acc)
        codes += [code] * count
        k += count
    t = (k0 + np.arange(k - k0)) / FRAME_HZ
    acc = {loc: np.vstack(v) for loc, v in acc.items()}
    return learner.observe(t, np.array(codes, np.int8), acc, cals), k


def test_walking_then_standing_teaches_an_upside_down_thigh():
    learner = _learner()
    cals = {loc: Calibration.declared(loc) for loc in LOCS}
    ups = {"pelvis": X, "thorax": X, "thigh": -X}  # the thigh sensor was put on upside down
    update, _ = _feed(learner, K0, [(SIT, 30, ups), (WALK, 60, ups), (STAND, 30, ups)], cals)
    walk_end = (K0 + 900) / FRAME_HZ
    assert update.notes[:3] == [(walk_end, f"{loc}: mounting learnt from walking+standing") for loc in LOCS]
    assert len(update.notes) == 3  # learning again after the standing bout changes nothing new
    assert update.slipped == []
    thigh = update.calibrations["thigh"]
    assert angle_deg(thigh.R[0], -X) < 1.0 and any("upside down" in n for n in thigh.notes)
    np.testing.assert_allclose(thigh.walk_up, -X, atol=1e-9)
    assert learner.active  # still within the first hour


def test_learning_stops_after_its_horizon():
    learner = _learner(horizon_s=60.0)
    cals = {loc: Calibration.declared(loc) for loc in LOCS}
    ups = dict.fromkeys(LOCS, X)
    update, _ = _feed(learner, K0, [(WALK, 60, ups), (STAND, 30, ups)], cals)
    assert update.calibrations and not learner.active


def _posed() -> dict[str, Calibration]:
    return {loc: from_pose(Calibration.declared(loc), 9.81 * X) for loc in LOCS}


def test_a_calibration_pose_is_never_overwritten_by_learning():
    assert not _learner(_posed()).active
    learner = _learner()  # started declared; a pose applied later (the calibrate command) stops it
    ups = dict.fromkeys(LOCS, X)
    update, _ = _feed(learner, K0, [(WALK, 60, ups), (STAND, 30, ups)], _posed())
    assert not learner.active and update.notes == []
    assert all(c.source == "pose" for c in update.calibrations.values())  # only walk_up was set


def test_a_slip_seen_walking_rotates_the_calibration_and_is_noted_once():
    learner = _learner(_posed())
    cals = _posed()
    ups = dict.fromkeys(LOCS, X)
    update, k = _feed(learner, K0, [(WALK, 30, ups), (SIT, 60, ups)], cals)
    assert update.notes == [] and update.slipped == []
    cals.update(update.calibrations)
    assert all(np.allclose(c.walk_up, X) for c in cals.values())
    turn = Rotation.from_rotvec(np.radians(10.0) * np.array([0.0, 1.0, 0.0]))
    slipped = {**ups, "thorax": turn.apply(X)}
    # the second walk arrives in two blocks: the walk is one bout all the same
    first, k = _feed(learner, k, [(SIT, 10, slipped), (WALK, 15, slipped)], cals)
    assert first.notes == [] and first.calibrations == {}
    update, k = _feed(learner, k, [(WALK, 15, slipped), (SIT, 30, slipped)], cals)
    ts = (k - 300) / FRAME_HZ
    when = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    note = f"thorax: sensor moved by 10.0° (seen walking at {when}); re-calibrated"
    assert update.notes == [(ts, note)] and update.slipped == ["thorax"]
    new = update.calibrations["thorax"]
    # the segment's up reads the same through the new calibration as it did before the slip
    before, after = cals["thorax"].to_segment(X[None]), new.to_segment(turn.apply(X)[None])
    np.testing.assert_allclose(after, before, atol=1e-9)
    assert new.notes[-1] == note and set(update.calibrations) == {"thorax"}  # others kept their walk_up


@pytest.mark.parametrize("seconds", [15, 19.9])
def test_a_short_walk_is_no_evidence(seconds):
    learner = _learner(_posed())
    ups = dict.fromkeys(LOCS, X)
    update, _ = _feed(learner, K0, [(WALK, seconds, ups), (SIT, 30, ups)], _posed())
    assert update.calibrations == {} and update.notes == []


def test_a_thorax_step_while_sitting_is_followed_at_once_across_blocks():
    learner = _learner(_posed(), still={SIT: "sitting"})
    cals = {loc: Calibration(c.location, c.R, c.source, X, c.notes) for loc, c in _posed().items()}
    ups = dict.fromkeys(LOCS, X)
    turn = Rotation.from_rotvec(np.radians(9.0) * np.array([0.0, 1.0, 0.0]))
    slipped = {**ups, "thorax": turn.apply(X)}
    notes, k = [], K0
    for bout in ([(SIT, 40, ups)], [(SIT, 30, ups)], [(SIT, 50, slipped)], [(SIT, 60, slipped)]):
        update, k = _feed(learner, k, bout, cals)
        cals.update(update.calibrations)
        notes += update.notes
    step_at = (K0 + 700) // FRAME_HZ
    (ts, note), = notes
    assert step_at - 2 <= ts <= step_at
    assert note.startswith("thorax: sensor moved by 9.0° (a step while sitting at ")
    before = _posed()["thorax"].to_segment(X[None])
    np.testing.assert_allclose(cals["thorax"].to_segment(turn.apply(X)[None]), before, atol=2e-3)
    # the next walk is compared with the walking direction turned by the same step
    np.testing.assert_allclose(cals["thorax"].walk_up, turn.apply(X), atol=2e-3)

"""The body model's frames, mountings and poses keep the DESIGN §3 conventions."""

from __future__ import annotations

import numpy as np
import pytest

from posturewatch.simulators.activities import CANONICAL_POSES
from posturewatch.simulators.body import (
    MOUNTINGS,
    reference_segment_rotation,
    rotation_vector,
    sagittal_theta,
    segment_rotation,
    truth_angles,
)
from posturewatch.simulators.config import WearerConfig
from posturewatch.simulators.schedule import plan_day
from posturewatch.simulators.wearer import compute_truth

# DESIGN §3 canonical postures: pelvic_tilt, thigh_inclination, hip_flexion, trunk, lumbar
TABLE = {
    "standing neutral": (0, 0, 0, 0, 0),
    "sitting upright": (-5, 90, 85, 0, 5),
    "sitting slumped": (-20, 90, 70, 15, 35),
    "forward bend, hips": (60, 0, 60, 75, 15),
    "forward bend, back": (15, 0, 15, 75, 60),
    "lying supine": (-90, 90, 0, -90, 0),
}
NAMES = ("pelvic_tilt", "thigh_inclination", "hip_flexion", "trunk_inclination", "lumbar_flexion")


def test_closed_form_rotation_equals_the_product_of_elementary_rotations():
    rng = np.random.default_rng(1)
    h, th, ro = rng.uniform(-180, 180, (3, 500))
    r = segment_rotation(h, th, ro)
    np.testing.assert_allclose(r, reference_segment_rotation(h, th, ro), atol=1e-12)
    np.testing.assert_allclose(r @ r.transpose(0, 2, 1), np.broadcast_to(np.eye(3), r.shape),
                               atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-12)


def test_inclination_sign_and_theta_recovery():
    # θ > 0 moves the top of the segment forward: superior → cosθ·up + sinθ·forward
    for heading in (0.0, 90.0, 217.0):
        r = segment_rotation([heading], [30.0], [0.0])[0]
        forward = np.array([np.cos(np.radians(heading)), np.sin(np.radians(heading)), 0.0])
        superior = r[:, 0]
        np.testing.assert_allclose(superior, np.cos(np.radians(30)) * np.array([0, 0, 1.0])
                                   + np.sin(np.radians(30)) * forward, atol=1e-12)
    thetas = np.linspace(-170, 170, 35)
    np.testing.assert_allclose(sagittal_theta(segment_rotation(np.full(35, 40.0), thetas,
                                                               np.zeros(35))), thetas, atol=1e-9)


def test_mountings_are_rotations_with_the_declared_axes():
    for loc, m in MOUNTINGS.items():
        np.testing.assert_allclose(m @ m.T, np.eye(3), atol=1e-15)
        assert np.linalg.det(m) == pytest.approx(1.0), loc
        np.testing.assert_array_equal(m[:, 0], [1, 0, 0])  # sensor x = superior everywhere
    np.testing.assert_array_equal(MOUNTINGS["pelvis"][:, 2], [0, -1, 0])  # z = −anterior
    np.testing.assert_array_equal(MOUNTINGS["thigh"][:, 2], [0, 1, 0])  # z = anterior
    np.testing.assert_array_equal(MOUNTINGS["head"][:, 1], [0, 1, 0])  # y = anterior


@pytest.mark.parametrize("posture", list(TABLE))
def test_canonical_poses_give_the_design_table(posture):
    pose = CANONICAL_POSES[posture]
    thetas = {seg: sagittal_theta(segment_rotation([25.0], [pose[f"theta_{seg}"]], [0.0]))
              for seg in ("pelvis", "thigh", "thorax")}
    angles = truth_angles(thetas["pelvis"], thetas["thigh"], thetas["thorax"])
    for name, expected in zip(NAMES, TABLE[posture], strict=True):
        assert angles[name][0] == pytest.approx(expected, abs=5.0), (posture, name)
    assert np.isnan(angles["neck_flexion"][0])


def test_rotation_vector_matches_axis_angle():
    rng = np.random.default_rng(2)
    axes = rng.normal(size=(200, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = rng.uniform(0, 3.0, 200)
    angles[:5] = [0.0, 1e-9, 1e-6, 1e-3, 2.9]
    from scipy.spatial.transform import Rotation

    r = Rotation.from_rotvec(axes * angles[:, None]).as_matrix()
    np.testing.assert_allclose(rotation_vector(r), axes * angles[:, None], atol=1e-9)


def _truth_day(seed: int, hours: float = 8.0):
    cfg = WearerConfig(hours=hours, seed=seed)
    plan = plan_day(cfg.seed, cfg.start, cfg.hours)
    return plan, compute_truth(cfg, plan)


@pytest.fixture(scope="module")
def day8():
    plan, truth = _truth_day(13)
    lie_downs = [e["position"] for e in plan.events if e["kind"] == "lie_down"]
    assert lie_downs == ["supine"]  # this seed's lie-down is on the back
    return plan, truth


def _deepest(truth, t0: float) -> int:
    lo, hi = np.searchsorted(truth.t_10hz, [t0, t0 + 7.0])
    return lo + int(np.argmax(truth.angles_10hz["trunk_inclination"][lo:hi]))


@pytest.mark.parametrize("kind,row", [("hips", "forward bend, hips"),
                                      ("back", "forward bend, back")])
def test_simulated_bends_match_the_table(day8, kind, row):
    plan, truth = day8
    starts = [e["t"] for e in plan.events if e["kind"] == "bend" and e["type"] == kind]
    assert len(starts) >= 8
    at = np.array([_deepest(truth, t) for t in starts])
    for name, expected in zip(NAMES, TABLE[row], strict=True):
        values = truth.angles_10hz[name][at]
        assert np.mean(values) == pytest.approx(expected, abs=5.0), name
        assert np.all(np.abs(values - expected) < 10.0), name
    assert np.all(truth.posture_10hz[at] == 3)  # bends happen while standing


def test_simulated_sitting_standing_and_lying_match_the_table(day8):
    _, truth = day8
    a, code = truth.angles_10hz, truth.posture_10hz
    sitting, standing, lying = code == 2, code == 3, code == 1
    assert np.median(a["thigh_inclination"][sitting]) == pytest.approx(90, abs=5)
    assert np.median(a["pelvic_tilt"][standing]) == pytest.approx(0, abs=3)
    assert np.median(a["trunk_inclination"][standing]) == pytest.approx(0, abs=3)
    assert lying.sum() >= 15 * 60 * 10  # at least one 15 min lie-down in an 8 h day
    supine = lying & (np.abs(a["trunk_inclination"] + 90) < 8)
    assert supine.sum() > 60 * 10
    assert np.median(a["pelvic_tilt"][supine]) == pytest.approx(-90, abs=5)
    assert np.median(a["thigh_inclination"][supine]) == pytest.approx(90, abs=5)
    assert np.median(a["lumbar_flexion"][supine]) == pytest.approx(0, abs=5)


def test_prone_lying_is_face_down_and_never_a_lumbar_bend():
    plan, truth = _truth_day(11)
    (event,) = [e for e in plan.events if e["kind"] == "lie_down"]
    assert event["position"] == "prone"
    a = truth.angles_10hz
    prone = (truth.posture_10hz == 1) & (truth.t_10hz > event["t"])
    assert prone.sum() > 15 * 60 * 10
    assert np.median(a["trunk_inclination"][prone]) == pytest.approx(85, abs=8)
    assert np.median(a["thigh_inclination"][prone]) == pytest.approx(-90, abs=5)
    # face down the lumbar spine extends slightly: lumbar < hip, so not a back bend
    assert np.all(a["lumbar_flexion"][prone] < a["hip_flexion"][prone])
    lo, hi = truth.t_10hz[prone][[0, -1]]
    assert not [e for e in truth.episodes if e.kind == "lumbar_bend" and lo - 10 < e.start < hi]

"""Segment angles: wrapping of differences, where a sagittal angle is undefined, its quality bits."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from posturewatch.ingest.angles import (
    SAGITTAL_LIMIT_DEG,
    UNDEFINED_BIT,
    angle_quality,
    lateral_roll,
    sagittal_inclination,
    sagittal_undefined,
    segment_angles,
    tilt_from_vertical,
    undefined_mask,
    wrap_deg,
)
from posturewatch.ingest.records import ANGLE_NAMES


def _up(theta_deg, out_of_plane_deg):
    """Unit up vectors (superior, anterior, left) at sagittal angle theta, lifted out of the plane."""
    th, el = np.radians(theta_deg), np.radians(out_of_plane_deg)
    return np.stack([np.cos(th) * np.cos(el), -np.sin(th) * np.cos(el), np.sin(el)], axis=-1)


def test_wrap_is_into_minus_180_exclusive_to_180_inclusive():
    got = wrap_deg(np.array([0.0, 180.0, -180.0, 190.0, -190.0, 540.0, 359.0, np.nan]))
    np.testing.assert_allclose(got, [0, 180, 180, -170, 170, 180, -1, np.nan])


def test_differences_of_angles_are_wrapped():
    theta = {"pelvis": np.array([-170.0]), "thorax": np.array([170.0]), "thigh": np.array([-100.0]),
             "head": np.array([-175.0])}
    a = segment_angles(theta, 1)
    assert a["lumbar_flexion"][0] == pytest.approx(-20.0)  # 340 unwrapped
    assert a["hip_flexion"][0] == pytest.approx(-70.0)  # 100 + (−170) = −70 needs no wrap
    assert a["neck_flexion"][0] == pytest.approx(15.0)  # −345 unwrapped
    for name in ANGLE_NAMES:
        assert -180 < a[name][0] <= 180


def test_undefined_exactly_beyond_the_limit_and_missing_is_not_undefined():
    up = _up(np.full(5, -90.0), [0.0, SAGITTAL_LIMIT_DEG - 0.5, SAGITTAL_LIMIT_DEG + 0.5, 90.0, -75.0])
    up = np.vstack([up, [np.nan] * 3])
    assert sagittal_undefined(up).tolist() == [False, False, True, True, True, False]
    # the out-of-plane angle is the lateral roll, and undefined implies ≥ the limit from vertical
    np.testing.assert_allclose(np.abs(lateral_roll(up[:5])), [0, 59.5, 60.5, 90, 75], atol=1e-9)
    assert (tilt_from_vertical(up[2:5]) >= SAGITTAL_LIMIT_DEG).all()


def test_a_small_gravity_error_moves_a_defined_theta_at_most_twice_as_much():
    """The limit's reason: within it a 1.5° error of the up direction stays within 3° of theta."""
    rng = np.random.default_rng(4)
    n = 20000
    up = _up(rng.uniform(-180, 180, n), rng.uniform(-SAGITTAL_LIMIT_DEG, SAGITTAL_LIMIT_DEG, n))
    axes = rng.normal(size=(n, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    moved = Rotation.from_rotvec(axes * np.radians(1.5)).apply(up)
    keep = ~sagittal_undefined(moved)
    change = wrap_deg(sagittal_inclination(moved) - sagittal_inclination(up))[keep]
    assert np.abs(change).max() <= 3.0 + 0.1
    beyond = _up(rng.uniform(-180, 180, n), rng.uniform(75, 89, n))  # far outside: noise
    moved = Rotation.from_rotvec(axes * np.radians(1.5)).apply(beyond)
    change = wrap_deg(sagittal_inclination(moved) - sagittal_inclination(beyond))
    assert np.abs(change).max() > 5.0


def test_undefined_segments_make_their_angles_nan_and_set_their_bits():
    n = 4
    theta = {loc: np.full(n, 10.0) for loc in ("pelvis", "thigh", "thorax", "head")}
    undefined = {"pelvis": np.array([False, True, False, False]),
                 "thorax": np.array([False, False, True, False]),
                 "thigh": np.zeros(n, bool), "head": np.zeros(n, bool)}
    a = segment_angles(theta, n, undefined)
    q = angle_quality(undefined, n)
    assert q.dtype == np.uint8 and q[0] == 0 and q[3] == 0
    by_frame = {1: {"pelvic_tilt", "hip_flexion", "lumbar_flexion"},
                2: {"trunk_inclination", "lumbar_flexion", "neck_flexion"}}
    for i, names in by_frame.items():
        assert {name for name in ANGLE_NAMES if undefined_mask(q, name)[i]} == names
        assert {name for name in ANGLE_NAMES if np.isnan(a[name][i])} == names
        assert int(q[i]) == sum(UNDEFINED_BIT[name] for name in names)
    assert all(np.isfinite(a[name][[0, 3]]).all() for name in ANGLE_NAMES)

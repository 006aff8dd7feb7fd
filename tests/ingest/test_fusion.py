"""estimate_orientation wraps vqf with the DESIGN frame and unit conventions."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from vqf import offlineVQF

from posturewatch.ingest.fusion import GravityTracker, estimate_orientation, up_in_sensor_frame

RATE = 100.0


def _rotation_sequence(seconds: float = 20.0):
    """A sensor turning about known axes; returns true orientations and noise-free gyr/acc."""
    t = np.arange(int(seconds * RATE)) / RATE
    rotvec = np.column_stack((0.6 * np.sin(0.5 * t), 0.4 * np.sin(0.3 * t + 1), 1.5 * t))
    rot = Rotation.from_rotvec(rotvec)
    step = (rot[:-1].inv() * rot[1:]).as_rotvec() * RATE  # body-frame rate over each step
    gyr = np.vstack((step, step[-1:]))
    acc = rot.inv().apply([0.0, 0.0, 9.81])  # specific force at rest-ish (slow motion)
    return rot, gyr, acc


def test_matches_vqf_on_the_same_input():
    rot, gyr, acc = _rotation_sequence()
    ours = estimate_orientation(gyr, acc, RATE)
    ref = offlineVQF(gyr, acc, None, 1 / RATE)["quat6D"]
    np.testing.assert_allclose(ours, ref)


def test_inclination_of_known_rotation_sequence():
    rot, gyr, acc = _rotation_sequence()
    quat = estimate_orientation(gyr, acc, RATE)
    assert quat.shape == (len(acc), 4)
    np.testing.assert_allclose(np.linalg.norm(quat, axis=1), 1.0, atol=1e-9)
    up_true = rot.inv().apply([0.0, 0.0, 1.0])
    err = np.degrees(np.arccos(np.clip(np.sum(up_in_sensor_frame(quat) * up_true, axis=1), -1, 1)))
    assert np.max(err[200:]) < 1.0  # quaternion is [w, x, y, z], sensor → earth, z up


def test_nine_d_heading_is_east_north_up():
    n = 400
    rot = Rotation.from_euler("z", 30, degrees=True)  # sensor x axis points 30° left of east
    acc = np.tile(rot.inv().apply([0, 0, 9.81]), (n, 1))
    mag = np.tile(rot.inv().apply([0, 20.0, -40.0]), (n, 1))  # field points north and down
    quat = estimate_orientation(np.zeros((n, 3)), acc, RATE, mag)
    got = Rotation.from_quat(quat[-1], scalar_first=True)
    assert got.apply([1.0, 0, 0]) == pytest.approx(rot.apply([1.0, 0, 0]), abs=0.02)


def test_rejects_bad_shapes():
    with pytest.raises(ValueError, match="shape"):
        estimate_orientation(np.zeros((5, 2)), np.zeros((5, 3)), RATE)
    with pytest.raises(ValueError, match="samples"):
        estimate_orientation(np.zeros((4, 3)), np.ones((5, 3)), RATE)


def test_tracker_streams_like_one_batch_and_restarts_after_gaps():
    rot, gyr, acc = _rotation_sequence(10)
    t = np.arange(len(acc)) / RATE
    whole = GravityTracker(RATE).update(t, acc, gyr)
    tracker = GravityTracker(RATE)
    parts = [tracker.update(t[a:a + 137], acc[a:a + 137], gyr[a:a + 137]) for a in range(0, len(t), 137)]
    np.testing.assert_allclose(np.vstack(parts), whole, atol=1e-12)
    gap = GravityTracker(RATE)
    gap.update(t[:100], acc[:100], gyr[:100])
    gap.update(t[400:500], acc[400:500], gyr[400:500])
    assert gap.resets == 1


def test_accelerometer_only_gives_inclination_at_rest():
    up = Rotation.from_euler("y", 40, degrees=True).inv().apply([0, 0, 1.0])
    acc = np.tile(up * 9.81, (500, 1))
    out = GravityTracker(50.0).update(np.arange(500) / 50.0, acc, None)
    np.testing.assert_allclose(out[-1], up, atol=1e-6)


def _deg(a, b):
    return np.degrees(np.arccos(np.clip(np.sum(a * b, axis=1), -1.0, 1.0)))


def test_fast_sensors_are_fused_in_pairs_within_a_fraction_of_a_degree(monkeypatch):
    import posturewatch.ingest.fusion as fusion

    rot, gyr, acc = _rotation_sequence(30)
    t = np.arange(len(acc)) / RATE
    paired = GravityTracker(RATE)
    assert paired.group == 2  # 100 Hz is fused at 50 Hz
    got = np.vstack([paired.update(t[a:a + 251], acc[a:a + 251], gyr[a:a + 251])
                     for a in range(0, len(t), 251)])  # odd blocks: a pair spans two of them
    monkeypatch.setattr(fusion, "FUSION_HZ", 1000.0)
    every = GravityTracker(RATE)
    assert every.group == 1
    full = every.update(t, acc, gyr)
    up_true = rot.inv().apply([0.0, 0.0, 1.0])
    assert np.max(_deg(got, full)[200:]) < 0.3
    assert np.max(_deg(got, up_true)[200:]) < 1.0
    # the answers are causal: the same samples in other blocks give the same directions
    again = GravityTracker(RATE)
    again.group = 2
    whole = again.update(t, acc, gyr)
    np.testing.assert_allclose(got, whole, atol=1e-12)

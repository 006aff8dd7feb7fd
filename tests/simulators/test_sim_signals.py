"""Sensor signals are physically consistent with the body model, and deterministic per seed."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy.ndimage import maximum_filter1d
from scipy.spatial.transform import Rotation

from posturewatch.simulators.body import EARTH_FIELD_UT, GRAVITY, mounting_matrix
from posturewatch.simulators.config import Realism, WearerConfig
from posturewatch.simulators.trajectory import CHAIN, rotations_of, sensor_position
from posturewatch.simulators.wearer import iter_blocks, prepare, simulate

IDEAL = WearerConfig(hours=0.25, seed=4, realism=Realism.ideal(), head=True, mag=True)


@pytest.fixture(scope="module")
def ideal():
    plan, _ = prepare(IDEAL)
    return plan, simulate(IDEAL)


def model_rotation(plan, loc: str, t: np.ndarray, flip: str | None = None) -> np.ndarray:
    """Sensor → world from the body model alone (no misalignment: ideal day)."""
    return plan.motion.rotations(t, CHAIN[loc])[loc] @ mounting_matrix(loc, flip)


def quiet(blocks, loc: str, plan, code: int, limit: float = 0.01) -> np.ndarray:
    """Samples in a posture with the sensor's whole segment chain still for ±0.5 s.

    The chain matters: a pelvis fidget moves the hip joint, accelerating the thigh sensor while
    the thigh's own rate stays zero; and a minimum-jerk move passes zero rate at its via points
    while still accelerating. Ideal days share one timestamp grid, so rows line up.
    """
    rate = np.max([np.linalg.norm(blocks[s].gyr, axis=1) for s in CHAIN[loc] if s in blocks], 0)
    still = maximum_filter1d(rate, 101) < limit
    return (plan.posture_codes(blocks[loc].t) == code) & still


def test_at_rest_the_accelerometer_reads_gravity_in_sensor_axes(ideal):
    plan, day = ideal
    checked = 0
    for loc, block in day.blocks.items():
        for code in (2, 3):  # sitting, standing
            rest = quiet(day.blocks, loc, plan, code)
            assert rest.sum() > 500, (loc, code)
            r = model_rotation(plan, loc, block.t[rest])
            expected = GRAVITY * r[:, 2, :]  # Rᵀ·(0, 0, g)
            np.testing.assert_allclose(np.linalg.norm(block.acc[rest], axis=1), GRAVITY, atol=0.02)
            assert np.abs(block.acc[rest] - expected).max() < 0.03, (loc, code)
            checked += rest.sum()
    assert checked > 10_000


def test_design_axis_conventions_show_in_the_raw_signals(ideal):
    plan, day = ideal
    b = day.blocks
    standing = {loc: quiet(b, loc, plan, 3) for loc in b}
    sitting = {loc: quiet(b, loc, plan, 2) for loc in b}
    for loc in ("pelvis", "thorax", "thigh", "head"):  # x = superior: up when standing
        assert np.median(b[loc].acc[standing[loc], 0]) > 9.5, loc
    # sitting, the front of the thigh (thigh z = anterior) faces up; crossed legs roll it ≤ 25°
    thigh_sitting = b["thigh"].acc[sitting["thigh"]]
    assert np.all(thigh_sitting[:, 2] > GRAVITY * np.cos(np.radians(30)))
    assert np.median(np.abs(thigh_sitting[:, 0])) < 1.5
    # the magnetometer reads the earth field: constant magnitude, dip below the horizon
    mag = b["pelvis"].mag
    np.testing.assert_allclose(np.linalg.norm(mag, axis=1), np.linalg.norm(EARTH_FIELD_UT),
                               atol=1e-9)


def test_integrating_the_gyro_reproduces_the_orientations(ideal):
    plan, day = ideal
    for loc in ("thigh", "pelvis"):
        block = day.blocks[loc]
        n = 30_000  # 5 min: walking in, turns, standing with bends, sitting down
        r_model = model_rotation(plan, loc, block.t[:n])
        steps = Rotation.from_rotvec(block.gyr[:n - 1] * 0.01).as_matrix()
        r = r_model[0].copy()
        worst = 0.0
        for k in range(n - 1):
            r = r @ steps[k]
            if k % 97 == 0 or k == n - 2:
                err = np.linalg.norm(Rotation.from_matrix(r_model[k + 1].T @ r).as_rotvec())
                worst = max(worst, err)
        assert worst < 1e-6, loc
        assert np.abs(block.gyr[:n]).max() > 1.0  # the window really moves


def test_gait_shows_step_and_stride_frequencies(ideal):
    plan, day = ideal
    walk = next(e for e in plan.events if e["kind"] == "walk")
    lo, hi = walk["t"] + 3.0, walk["t"] + walk["duration_s"] - 3.0
    assert hi - lo > 60

    def dominant(x: np.ndarray) -> float:
        spec = np.abs(np.fft.rfft(x - x.mean()))
        freqs = np.fft.rfftfreq(len(x), 0.01)
        return float(freqs[np.argmax(spec[1:]) + 1])

    pelvis = day.blocks["pelvis"]
    sel = (pelvis.t > lo) & (pelvis.t < hi)
    assert 1.75 < dominant(np.linalg.norm(pelvis.acc[sel], axis=1)) < 2.25  # ≈ 1.9 Hz steps
    thigh = day.blocks["thigh"]
    sel = (thigh.t > lo) & (thigh.t < hi)
    # the thigh swings about the left/right axis (its sensor y) once per stride
    assert 0.85 < dominant(thigh.gyr[sel, 1]) < 1.05
    swing = np.degrees(np.abs(thigh.gyr[sel, 1])).max()
    assert 80 < swing < 300  # ±17.5° at ~1 Hz → ≈ 110–140 °/s peaks
    vertical = np.linalg.norm(pelvis.acc[(pelvis.t > lo) & (pelvis.t < hi)], axis=1)
    assert 1.5 < vertical.std() < 4.0  # ±2–3 cm bounce at ~2 Hz


def test_same_seed_same_data_other_seed_other_data():
    cfg = WearerConfig(hours=0.05, seed=9)
    a, b = simulate(cfg), simulate(cfg)
    for loc in a.blocks:
        np.testing.assert_array_equal(a.blocks[loc].t, b.blocks[loc].t)
        np.testing.assert_array_equal(a.blocks[loc].acc, b.blocks[loc].acc)
        np.testing.assert_array_equal(a.blocks[loc].gyr, b.blocks[loc].gyr)
    assert [e.start for e in a.truth.episodes] == [e.start for e in b.truth.episodes]
    c = simulate(WearerConfig(hours=0.05, seed=10))
    assert not np.array_equal(c.blocks["thigh"].acc[:100], a.blocks["thigh"].acc[:100])


def test_streaming_in_windows_equals_the_whole_day():
    cfg = WearerConfig(hours=0.2, seed=3, rates={"pelvis": 20.0, "thigh": 200.0})
    day = simulate(cfg)
    windows = list(iter_blocks(cfg, chunk_s=7.0))
    assert len(windows) == int(np.ceil(cfg.duration_s / 7.0))
    for loc, block in day.blocks.items():
        t = np.concatenate([w[loc].t for w in windows])
        np.testing.assert_array_equal(t, block.t)
        np.testing.assert_array_equal(np.concatenate([w[loc].acc for w in windows]), block.acc)
    # windows hold what their nominal span says, in time order
    firsts = [w["thigh"].t[0] for w in windows if len(w["thigh"])]
    assert np.all(np.diff(firsts) > 0)


def test_body_motion_does_not_depend_on_sensor_options():
    base = prepare(WearerConfig(hours=0.1, seed=5))[0]
    other = prepare(WearerConfig(hours=0.1, seed=5, head=True, mag=True, rate=50.0,
                                 realism=Realism.ideal()))[0]
    t = base.start + np.linspace(0, 360, 1000)
    a, b = base.motion.angles(t), other.motion.angles(t)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_flipped_sensors_read_gravity_on_the_reversed_axes():
    cfg = WearerConfig(hours=0.1, seed=4, realism=Realism.ideal(),
                       locations=("pelvis", "thigh"), flips={"thigh": "upside_down",
                                                             "pelvis": "inside_out"})
    plan, _ = prepare(cfg)
    day = simulate(cfg)
    thigh, pelvis = day.blocks["thigh"], day.blocks["pelvis"]
    standing = quiet(day.blocks, "thigh", plan, 3)
    assert np.median(thigh.acc[standing, 0]) < -9.5  # x now points down the thigh
    r = model_rotation(plan, "thigh", thigh.t[standing], flip="upside_down")
    assert np.abs(thigh.acc[standing] - GRAVITY * r[:, 2, :]).max() < 0.03
    standing = quiet(day.blocks, "pelvis", plan, 3)
    assert np.median(pelvis.acc[standing, 0]) > 9.5  # inside out: x still up, z into the body
    assert day.meta["sensors"]["thigh"]["flip"] == "upside_down"


def _world_motion(plan, block, loc: str, sel: np.ndarray):
    """World acceleration without gravity, from the recorded specific force and model attitude."""
    r = model_rotation(plan, loc, block.t[sel])
    acc_world = np.einsum("nij,nj->ni", r, block.acc[sel])
    return acc_world - np.array([0.0, 0.0, GRAVITY])


def test_double_integrated_acceleration_gives_the_height_change_of_sitting_down(ideal):
    plan, day = ideal
    sit = next(e for e in plan.events if e["kind"] == "sit_down")
    block = day.blocks["pelvis"]
    sel = (block.t > sit["t"] - 8.0) & (block.t < sit["t"] + 4.0)  # rest → sitting, at rest
    a = _world_motion(plan, block, "pelvis", sel)
    v = np.cumsum(a, 0) * 0.01
    z = np.cumsum(v[:, 2]) * 0.01
    t = block.t[sel][[0, -1]]
    state = plan.motion.state(t, ("pelvis",))
    pos = sensor_position("pelvis", state["hip"], rotations_of(state, ("pelvis",)))
    drop = pos[1, 2] - pos[0, 2]
    assert drop < -0.3  # the sacrum sensor goes down with the hips onto the chair
    assert z[-1] == pytest.approx(drop, abs=0.01)
    assert np.abs(v[-1]).max() < 0.01  # at rest again: velocity back to zero


def test_integrated_acceleration_gives_the_walking_speed(ideal):
    plan, day = ideal
    walk = next(e for e in plan.events if e["kind"] == "walk")
    block = day.blocks["pelvis"]
    sel = (block.t > walk["t"] - 2.0) & (block.t < walk["t"] + walk["duration_s"] + 2.0)
    v = np.cumsum(_world_motion(plan, block, "pelvis", sel), 0) * 0.01
    speed = np.linalg.norm(v[:, :2], axis=1)
    steady = slice(len(v) // 4, 3 * len(v) // 4)
    assert 1.1 < np.mean(speed[steady]) < 1.6  # 1.2–1.5 m/s with within-stride variation
    assert np.linalg.norm(v[-1]) < 0.05  # standing again at the end
    assert np.abs(v[steady, 2]).max() < 0.5  # bounce: vertical velocity stays small


def test_truth_angles_are_what_the_resting_accelerometers_show():
    cfg = WearerConfig(hours=0.25, seed=4, realism=replace(Realism.ideal(), misalignment=True))
    plan, _ = prepare(cfg)
    day = simulate(cfg)
    truth = day.truth
    theta = {}
    rest = np.ones(len(day.blocks["pelvis"]), dtype=bool)
    for loc in ("pelvis", "thigh", "thorax"):
        block = day.blocks[loc]
        rest &= quiet(day.blocks, loc, plan, 2) | quiet(day.blocks, loc, plan, 3)
        true_mounting = np.array(day.meta["sensors"][loc]["true_mounting"])  # sensor → segment
        up = block.acc @ true_mounting.T / GRAVITY  # gravity direction in segment axes
        theta[loc] = np.degrees(np.arctan2(-up[:, 1], up[:, 0]))
    assert rest.sum() > 5000
    t = day.blocks["pelvis"].t[rest]
    expected = {name: np.interp(t, truth.t_10hz, truth.angles_10hz[name])
                for name in ("pelvic_tilt", "thigh_inclination", "trunk_inclination")}
    np.testing.assert_allclose(theta["pelvis"][rest], expected["pelvic_tilt"], atol=0.3)
    np.testing.assert_allclose(-theta["thigh"][rest], expected["thigh_inclination"], atol=0.3)
    np.testing.assert_allclose(theta["thorax"][rest], expected["trunk_inclination"], atol=0.3)
    assert np.ptp(expected["trunk_inclination"]) > 15  # covers upright and slumped sitting

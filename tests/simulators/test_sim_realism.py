"""Each impairment does what it says, measured against the ideal day with the same seed."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy.ndimage import maximum_filter1d
from scipy.spatial.transform import Rotation

from posturewatch.simulators.body import GRAVITY, mounting_matrix
from posturewatch.simulators.config import Realism, WearerConfig
from posturewatch.simulators.trajectory import CHAIN
from posturewatch.simulators.wearer import prepare, simulate

HOURS, SEED = 0.25, 4


def only(**switches: bool) -> WearerConfig:
    return WearerConfig(hours=HOURS, seed=SEED, realism=replace(Realism.ideal(), **switches))


@pytest.fixture(scope="module")
def ideal():
    cfg = only()
    return prepare(cfg)[0], simulate(cfg)


@pytest.fixture(scope="module")
def full():
    cfg = WearerConfig(hours=HOURS, seed=SEED, rates={"pelvis": 20.0})
    return simulate(cfg)


def rest_mask(day, loc: str, plan) -> np.ndarray:
    rate = np.max([np.linalg.norm(day.blocks[s].gyr, axis=1) for s in CHAIN[loc]], 0)
    return (maximum_filter1d(rate, 101) < 0.01) & (plan.posture_codes(day.blocks[loc].t) >= 2)


def test_timestamps_jitter_strictly_increase_and_same_rate_sensors_share_rows(full):
    start = full.config.start
    for loc, block in full.blocks.items():
        t = block.t
        assert np.all(np.diff(t) > 0), loc
        np.testing.assert_allclose(t * 1000, np.round(t * 1000), atol=1e-3)  # ms stamps
        rate = full.config.rate_of(loc)
        jitter = t - (start + np.round((t - start) * rate) / rate)
        assert np.abs(jitter).max() < 0.5 / rate
        if rate == 100.0:
            assert 0.002 < jitter.std() < 0.0035, loc  # σ ≈ 3 ms, clipped at ±4.4 ms
    thigh, thorax = full.blocks["thigh"].t, full.blocks["thorax"].t
    shared = np.intersect1d(thigh, thorax)
    assert len(shared) > 0.95 * min(len(thigh), len(thorax))
    # other rates jitter independently: their stamps meet only by chance at 1 ms resolution
    assert len(np.intersect1d(full.blocks["pelvis"].t, thigh)) < 0.2 * len(full.blocks["pelvis"])


def test_lost_samples_are_exactly_the_loss_intervals(full):
    start, total = full.config.start, 0.0
    for loc, block in full.blocks.items():
        rate = full.config.rate_of(loc)
        n = int(round(full.config.duration_s * rate))
        nominal = start + np.arange(n) / rate
        intervals = full.meta["sensors"][loc]["loss_intervals"]
        lost = np.zeros(n, dtype=bool)
        for lo, hi, _kind in intervals:
            lost |= (nominal >= lo - 5e-4) & (nominal < hi + 5e-4)
        kept = np.round((block.t - start) * rate).astype(int)
        expected_kept = np.flatnonzero(~lost)
        # interval bounds are stored rounded to 1 ms: allow a sample at either edge
        assert abs(len(kept) - len(expected_kept)) <= 2 * len(intervals), loc
        assert len(np.setdiff1d(kept, np.flatnonzero(~lost))) <= 2 * len(intervals), loc
        bursts = sum(hi - lo for lo, hi, kind in intervals if kind == "burst")
        total += bursts / full.config.duration_s
    assert 0.002 < total / len(full.blocks) < 0.04  # ~1 % of samples in bursts
    drop = full.meta["dropout"]
    assert 20.0 <= drop["end"] - drop["start"] <= 60.0
    t = full.blocks[drop["location"]].t
    assert np.diff(t).max() >= drop["end"] - drop["start"] - 0.01


def test_white_noise_has_the_configured_size(ideal):
    noisy = simulate(only(noise=True))
    _, clean = ideal
    for loc in clean.blocks:
        d_acc = noisy.blocks[loc].acc - clean.blocks[loc].acc
        d_gyr = noisy.blocks[loc].gyr - clean.blocks[loc].gyr
        assert d_acc.std() == pytest.approx(0.03, rel=0.05)
        assert d_gyr.std() == pytest.approx(0.004, rel=0.05)
        assert abs(d_acc.mean()) < 0.002


def test_gyro_bias_is_constant_plus_slow_drift(ideal):
    biased = simulate(only(gyro_bias=True))
    _, clean = ideal
    for loc in clean.blocks:
        d = biased.blocks[loc].gyr - clean.blocks[loc].gyr
        bias = np.array(biased.meta["sensors"][loc]["gyro_bias_rad_s"])
        assert np.all(np.abs(bias) <= 0.02)
        np.testing.assert_allclose(d[:100].mean(0), bias, atol=2e-4)  # the walk starts at ~0
        drift = d[-6000:].mean(0) - d[:6000].mean(0)
        assert 1e-6 < np.abs(drift).max() < 0.005, loc
        np.testing.assert_array_equal(biased.blocks[loc].acc, clean.blocks[loc].acc)


def test_misalignment_rotates_the_sensor_on_its_segment(ideal):
    plan, clean = ideal
    tilted = simulate(only(misalignment=True))
    for loc, block in tilted.blocks.items():
        info = tilted.meta["sensors"][loc]
        assert 0.0 <= info["misalignment_deg"] <= 10.0
        mis = np.array(info["misalignment"])
        assert np.degrees(Rotation.from_matrix(mis).magnitude()) == pytest.approx(
            info["misalignment_deg"], abs=1e-4)
        rest = rest_mask(clean, loc, plan)
        r = plan.motion.rotations(block.t[rest], CHAIN[loc])[loc] @ mounting_matrix(loc) @ mis
        assert np.abs(block.acc[rest] - GRAVITY * r[:, 2, :]).max() < 0.03, loc


def test_clock_offset_and_drift_shift_the_content_in_time(ideal):
    _, clean = ideal
    shifted = simulate(only(clock=True))
    for loc, block in shifted.blocks.items():
        info = shifted.meta["sensors"][loc]
        offset, ppm = info["clock_offset_s"], info["clock_drift_ppm"]
        assert abs(offset) <= 0.2 and abs(ppm) <= 50
        np.testing.assert_array_equal(block.t, clean.blocks[loc].t)  # recorded on the nominal grid
        t = clean.blocks[loc].t
        true_t = t + offset + ppm * 1e-6 * (t - t[0])
        inner = (true_t > t[0] + 1) & (true_t < t[-1] - 1)
        expected = np.stack([np.interp(true_t[inner], t, clean.blocks[loc].gyr[:, i])
                             for i in range(3)], 1)
        err_shifted = np.abs(block.gyr[inner] - expected).mean()
        err_unshifted = np.abs(block.gyr[inner] - clean.blocks[loc].gyr[inner]).mean()
        assert err_shifted < 0.1 * err_unshifted, loc


def test_one_sensor_slips_about_ten_degrees_during_walking_or_standing_up(ideal):
    plan, clean = ideal
    slipped = simulate(only(slip=True))
    slip = slipped.meta["slip"]
    assert slip is not None and 8.0 <= abs(slip["deg"]) <= 12.0
    near = [e for e in plan.events
            if (e["kind"] == "walk" and e["t"] <= slip["time"] <= e["t"] + e["duration_s"])
            or (e["kind"] == "stand_up" and 0 <= slip["time"] - e["t"] <= 3.0)]
    assert near, "the slip happens while walking or getting up"
    loc = slip["location"]
    for other in slipped.blocks:
        if other != loc:
            np.testing.assert_array_equal(slipped.blocks[other].acc, clean.blocks[other].acc)
    block = slipped.blocks[loc]
    rest = rest_mask(clean, loc, plan) & (block.t > slip["time"] + 1.0)
    assert rest.sum() > 1000
    base = plan.motion.rotations(block.t[rest], CHAIN[loc])[loc] @ mounting_matrix(loc)
    r_slip = Rotation.from_rotvec(np.radians(slip["deg"]) * np.array(slip["axis_sensor"]))
    after = base @ r_slip.as_matrix()
    assert np.abs(block.acc[rest] - GRAVITY * after[:, 2, :]).max() < 0.03
    assert np.abs(block.acc[rest] - GRAVITY * base[:, 2, :]).max() > 1.0
    before = block.t < slip["time"]
    np.testing.assert_array_equal(block.acc[before], clean.blocks[loc].acc[before])

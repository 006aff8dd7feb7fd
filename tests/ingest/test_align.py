"""Tests of content-based clock alignment on synthetic multi-sensor recordings.

The recordings share one random "body activity" (walking bouts of heel strikes with step-to-step
variability, sit-to-stand transitions, fidgets, long still spells) seen by each sensor through its
own gain, smoothing and noise, sampled on its own clock with a known offset and drift, with
jitter, packet-loss gaps and an outage.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pytest
from scipy.signal import oaconvolve

from posturewatch.ingest.align import (
    ESTIMATED,
    NOT_ENOUGH_ACTIVITY,
    OFFSET_ONLY,
    REFERENCE,
    ClockModel,
    apply_to_block,
    estimate_clock_models,
)
from posturewatch.ingest.records import GRAVITY, SensorBlock

T0 = 1_700_000_000.0  # recordings start here on every sensor's own clock


@dataclass(frozen=True)
class Clock:
    offset: float
    drift: float


@dataclass(frozen=True)
class Body:
    """Shared events on the true timeline, as impulse trains at rate ``fs`` from ``start``.

    Heel strikes and leg swings per side, posture transitions (signed) and whole-body fidgets.
    """

    fs: float
    start: float
    heel: tuple[np.ndarray, np.ndarray]  # left, right
    swing: tuple[np.ndarray, np.ndarray]
    transitions: np.ndarray
    fidgets: np.ndarray
    sitting: np.ndarray  # (k, 2) spans in seconds from start, for local leg jiggling


@dataclass(frozen=True)
class Mount:
    """How one body location feels the shared events (the test's stand-in for biomechanics)."""

    heel_hz: float  # impact ring-down
    heel_tau: float
    heel_sides: tuple[float, float]  # gain of left / right heel strikes
    swing_sides: tuple[float, float]  # |gyr| gain of left / right leg swings
    swing_delay: float  # swing peaks this long after the heel strike
    transition_delay: float  # this segment moves earlier (<0) or later in a sit-to-stand
    acc_gain: float = 1.0
    jiggle: float = 0.0  # amplitude of this segment's own fidgeting while sitting


PELVIS_MOUNT = Mount(9.0, 0.04, (1.0, 1.0), (0.6, 0.6), 0.10, 0.0)
THIGH_MOUNT = Mount(10.0, 0.035, (1.3, 0.6), (2.0, 0.3), 0.30, 0.2, 1.4, jiggle=1.0)
THORAX_MOUNT = Mount(8.0, 0.05, (0.7, 0.7), (0.4, 0.4), 0.15, -0.2, 0.8, jiggle=0.4)


def _gauss(fs: float, sigma: float) -> np.ndarray:
    x = np.arange(-3 * sigma, 3 * sigma, 1 / fs)
    return np.exp(-0.5 * (x / sigma) ** 2)


def make_body(
    duration_s: float, fs: float, seed: int, still: bool = False,
    mix: tuple[float, float, float] = (0.4, 0.4, 0.2), step_s: tuple[float, float] = (0.48, 0.6),
) -> Body:
    """Bouts of sitting, walking and standing (``mix`` of probabilities) with transitions;
    each walk has its own mean step period drawn from ``step_s``."""
    rng = np.random.default_rng(seed)
    n = int((duration_s + 40.0) * fs)
    heel_l, heel_r, swing_l, swing_r, transitions, fidgets = (np.zeros(n) for _ in range(6))
    sitting = []

    def add(target: np.ndarray, at: np.ndarray, values: np.ndarray) -> None:
        idx = (np.atleast_1d(at) * fs).astype(int)
        inside = idx < n
        np.add.at(target, idx[inside], np.broadcast_to(values, idx.shape)[inside])

    t = 20.0
    upright = False
    while not still and t < duration_s + 20.0:
        kind = rng.choice(["sit", "walk", "stand"], p=mix)
        if (kind == "sit") == upright:  # sit-to-stand or stand-to-sit
            add(transitions, t, rng.uniform(1.0, 2.5) * (1.0 if upright else -1.0))
            upright = kind != "sit"
        if kind == "sit":
            length = rng.uniform(60.0, 900.0)
            sitting.append((t, t + length))
            at = rng.uniform(t, t + length, int(length / 120))
            add(fidgets, at, rng.uniform(0.2, 0.8, len(at)))
        elif kind == "stand":
            length = rng.uniform(10.0, 120.0)
            at = rng.uniform(t, t + length, int(length / 15) + 1)
            add(fidgets, at, rng.uniform(0.3, 1.0, len(at)))
        else:
            length = rng.uniform(15.0, 300.0)
            period = rng.uniform(*step_s)
            steps = t + np.cumsum(period * (1 + 0.04 * rng.standard_normal(int(length / period))))
            first = rng.integers(0, 2)
            for side, (heel, swing) in enumerate([(heel_l, swing_l), (heel_r, swing_r)]):
                mine = steps[(first + side) % 2 :: 2]
                add(heel, mine, rng.normal(3.5, 0.8, len(mine)))
                add(swing, mine, rng.normal(1.2, 0.25, len(mine)))
        t += length
    return Body(fs, T0 - 20.0, (heel_l, heel_r), (swing_l, swing_r), transitions, fidgets,
                np.array(sitting).reshape(-1, 2))


def _delayed(x: np.ndarray, seconds: float, fs: float) -> np.ndarray:
    return np.roll(x, int(round(seconds * fs)))


def feel(body: Body, mount: Mount, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """|acc| − g and |gyr| this mount sees on the true timeline (at the body's rate)."""
    fs, n = body.fs, len(body.fidgets)
    tt = np.arange(0, 0.3, 1 / fs)
    ring = np.exp(-tt / mount.heel_tau) * np.sin(2 * np.pi * mount.heel_hz * tt)
    heel = mount.heel_sides[0] * body.heel[0] + mount.heel_sides[1] * body.heel[1]
    swing = mount.swing_sides[0] * body.swing[0] + mount.swing_sides[1] * body.swing[1]
    moves = _delayed(body.transitions, mount.transition_delay, fs)
    acc = (oaconvolve(heel, ring)[:n] + oaconvolve(moves, _gauss(fs, 0.5))[:n]
           + oaconvolve(body.fidgets, _gauss(fs, 0.25))[:n])
    gyr = (oaconvolve(_delayed(swing, mount.swing_delay, fs), np.hanning(int(0.45 * fs)))[:n]
           + oaconvolve(np.abs(moves), _gauss(fs, 0.6))[:n]
           + oaconvolve(body.fidgets, _gauss(fs, 0.3))[:n])
    if mount.jiggle and len(body.sitting):
        jiggle = np.zeros(n)  # this segment alone: a bouncing knee, a reach for the mouse
        for lo, hi in body.sitting:  # a loop over sitting bouts, not samples
            at = rng.uniform(lo, hi, max(1, int((hi - lo) / 200)))
            jiggle[np.minimum((at * fs).astype(int), n - 1)] = mount.jiggle
        burst = _gauss(fs, 3.0) * np.sin(2 * np.pi * 4.5 * np.arange(len(_gauss(fs, 3.0))) / fs)
        wobble = oaconvolve(jiggle, burst)[:n]
        acc += wobble
        gyr += 0.5 * np.abs(wobble)
    return mount.acc_gain * acc, np.abs(gyr)


def observe(
    body: Body, location: str, mount: Mount, rate: float, clock: Clock, duration_s: float,
    seed: int, with_gyro: bool = True, loss: float = 0.005, outage: bool = True,
) -> SensorBlock:
    """One sensor's view: its own clock, rate, jitter, mount, noise and gaps."""
    rng = np.random.default_rng(seed)
    acc_true, gyr_true = feel(body, mount, rng)
    k = np.arange(int(duration_s * rate))
    t = T0 + k / rate + rng.uniform(-0.15, 0.15, len(k)) / rate
    true_t = t + clock.offset + clock.drift * (t - T0)
    pos = (true_t - body.start) * body.fs
    grid = np.arange(len(acc_true))
    acc = np.interp(pos, grid, acc_true)
    gyr = np.interp(pos, grid, gyr_true)
    up = rng.normal(size=3)
    up /= np.linalg.norm(up)
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    acc_v = (GRAVITY + acc)[:, None] * up + rng.normal(0, 0.05, (len(k), 3))
    gyr_v = gyr[:, None] * axis + rng.normal(0, 0.02, (len(k), 3))
    keep = np.ones(len(k), dtype=bool)
    for s in rng.integers(0, len(k), int(loss * len(k))):  # a loop over packet losses, not samples
        keep[s : s + rng.integers(1, 12)] = False
    if outage:
        s = int(rng.uniform(0.3, 0.6) * len(k))
        keep[s : s + int(180 * rate)] = False
    return SensorBlock(location, t[keep], acc_v[keep], gyr_v[keep] if with_gyro else None)


def expected(clock: Clock, ref: Clock) -> tuple[float, float]:
    """Offset and drift at T0 mapping ``clock``'s recorded times onto ``ref``'s."""
    return (clock.offset - ref.offset) / (1 + ref.drift), (clock.drift - ref.drift) / (1 + ref.drift)


def assert_recovered(model: ClockModel, clock: Clock, ref: Clock) -> None:
    offset, drift = expected(clock, ref)
    at_t0 = float(model.apply(np.array([T0]))[0] - T0)
    assert model.status == ESTIMATED
    assert abs(at_t0 - offset) < 0.020, (at_t0, offset)
    assert abs(model.drift - drift) < 5e-6, (model.drift, drift)


PELVIS = Clock(0.12, 20e-6)
THIGH = Clock(-0.37, -45e-6)  # −0.49 s from the pelvis: about one step period
THORAX = Clock(0.41, 38e-6)


@pytest.fixture(scope="module")
def eight_hours() -> dict[str, SensorBlock]:
    duration = 8 * 3600.0
    body = make_body(duration, 100.0, seed=1)
    return {
        "pelvis": observe(body, "pelvis", PELVIS_MOUNT, 50.0, PELVIS, duration, 2),
        "thigh": observe(body, "thigh", THIGH_MOUNT, 25.0, THIGH, duration, 3),
        "thorax": observe(body, "thorax", THORAX_MOUNT, 50.0, THORAX, duration, 4,
                          with_gyro=False),
    }


@pytest.mark.slow
def test_recovers_offset_and_drift_over_eight_hours(eight_hours):
    seen: list[float] = []
    models = estimate_clock_models(eight_hours, progress=seen.append)
    assert models["pelvis"].status == REFERENCE
    assert models["pelvis"].offset == 0.0 and models["pelvis"].drift == 0.0
    assert_recovered(models["thigh"], THIGH, PELVIS)
    assert_recovered(models["thorax"], THORAX, PELVIS)  # accelerometer-only
    for name in ("thigh", "thorax"):
        assert models[name].n_windows >= 20
        assert models[name].residual_rms < 0.02
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)


def test_another_reference_inverts_the_mapping(eight_hours):
    models = estimate_clock_models(eight_hours, reference="thigh")
    assert models["thigh"].status == REFERENCE
    assert_recovered(models["pelvis"], PELVIS, THIGH)


def test_mapped_times_land_on_the_true_timeline(eight_hours):
    models = estimate_clock_models(eight_hours)
    thigh = apply_to_block(eight_hours["thigh"], models["thigh"])
    offset, drift = expected(THIGH, PELVIS)
    truth = eight_hours["thigh"].t + offset + drift * (eight_hours["thigh"].t - T0)
    error = np.abs(thigh.t - truth)
    assert error.max() < 0.020 + 5e-6 * 8 * 3600
    assert np.median(error) < 0.020


def test_still_recording_gives_identity_and_a_warning(caplog):
    duration = 3600.0
    body = make_body(duration, 50.0, seed=5, still=True)
    blocks = {
        loc: observe(body, loc, mount, 50.0, clock, duration, i)
        for i, (loc, mount, clock) in enumerate(
            [("pelvis", PELVIS_MOUNT, PELVIS), ("thigh", THIGH_MOUNT, THIGH)])
    }
    with caplog.at_level(logging.WARNING, logger="posturewatch.ingest.align"):
        models = estimate_clock_models(blocks)
    thigh = models["thigh"]
    assert thigh.status == NOT_ENOUGH_ACTIVITY and not thigh.estimated
    assert thigh.offset == 0.0 and thigh.drift == 0.0
    assert "thigh" in caplog.text


def test_fast_thigh_phone_beside_slow_belt_sensor():
    duration = 3600.0
    belt, phone = Clock(-0.3, 40e-6), Clock(0.45, -50e-6)
    body = make_body(duration, 400.0, seed=9, mix=(0.15, 0.65, 0.2))
    blocks = {
        "pelvis": observe(body, "pelvis", PELVIS_MOUNT, 20.0, belt, duration, 8),
        "thigh": observe(body, "thigh", THIGH_MOUNT, 200.0, phone, duration, 9),
    }
    models = estimate_clock_models(blocks)
    assert_recovered(models["thigh"], phone, belt)
    assert models["thigh"].n_windows >= 8


def test_short_recording_fits_offset_only():
    duration = 600.0
    body = make_body(duration, 100.0, seed=11, mix=(0.1, 0.6, 0.3))
    clock = Clock(0.33, 30e-6)
    blocks = {
        "thorax": observe(body, "thorax", THORAX_MOUNT, 50.0, Clock(0.0, 0.0), duration, 12,
                          outage=False),
        "head": observe(body, "head", THORAX_MOUNT, 50.0, clock, duration, 13, outage=False),
    }
    models = estimate_clock_models(blocks)
    assert models["thorax"].status == REFERENCE  # no pelvis: the first sensor
    head = models["head"]
    if head.status != OFFSET_ONLY:
        pytest.fail(f"expected an offset-only fit, got {head}")
    assert head.drift == 0.0
    assert abs(float(head.apply(np.array([T0 + duration / 2]))[0]) - (T0 + duration / 2)
               - (0.33 + 30e-6 * duration / 2)) < 0.020


def test_bad_rows_are_counted_and_ignored(eight_hours, caplog):
    thigh = eight_hours["thigh"]
    acc = thigh.acc.copy()
    acc[::500] = np.nan
    t = thigh.t.copy()
    t[7::1000] = np.inf
    blocks = dict(eight_hours, thigh=SensorBlock("thigh", t, acc, thigh.gyr))
    with caplog.at_level(logging.WARNING, logger="posturewatch.ingest.align"):
        models = estimate_clock_models(blocks)
    n_bad = int(np.count_nonzero(~np.isfinite(t) | np.isnan(acc).any(axis=1)))
    assert models["thigh"].bad_samples == n_bad > 0
    assert f"ignored {n_bad} samples" in caplog.text
    assert_recovered(models["thigh"], THIGH, PELVIS)


def test_unknown_reference_and_empty_input_are_refused(eight_hours):
    with pytest.raises(ValueError, match="head"):
        estimate_clock_models(eight_hours, reference="head")
    with pytest.raises(ValueError):
        estimate_clock_models({})
    pelvis = eight_hours["pelvis"]
    broken = pelvis.t.copy()
    broken[100] = 0.0  # a clock that reset to the epoch for one sample
    with pytest.raises(ValueError, match="pelvis 0"):
        estimate_clock_models(dict(eight_hours, pelvis=SensorBlock("pelvis", broken, pelvis.acc)))


def test_no_valid_time_at_all_gives_identity_everywhere(caplog):
    nowhere = np.full(50, np.nan)
    blocks = {loc: SensorBlock(loc, nowhere, np.ones((50, 3))) for loc in ("pelvis", "thigh")}
    with caplog.at_level(logging.WARNING, logger="posturewatch.ingest.align"):
        models = estimate_clock_models(blocks)
    assert models["thigh"].status == NOT_ENOUGH_ACTIVITY and not models["thigh"].estimated
    assert models["thigh"].apply(np.array([5.0]))[0] == 5.0
    assert "no valid timestamps" in caplog.text


def test_identity_model_leaves_times_alone():
    t = T0 + np.array([0.0, 10.0, 3600.0])
    assert np.array_equal(ClockModel.identity(T0).apply(t), t)
    model = ClockModel(0.5, 1e-4, T0)
    assert np.allclose(model.apply(t) - t, 0.5 + 1e-4 * (t - T0))


def test_sensors_on_different_people_are_not_aligned(caplog):
    """Unrelated content (two wearers) must never produce a model, however active both are."""
    duration = 4 * 3600.0
    walker, other = (make_body(duration, 50.0, seed, mix=(0.2, 0.6, 0.2)) for seed in (31, 32))
    blocks = {
        "pelvis": observe(walker, "pelvis", PELVIS_MOUNT, 25.0, PELVIS, duration, 33),
        "thigh": observe(other, "thigh", THIGH_MOUNT, 25.0, THIGH, duration, 34),
    }
    with caplog.at_level(logging.WARNING, logger="posturewatch.ingest.align"):
        thigh = estimate_clock_models(blocks)["thigh"]
    assert not thigh.estimated and thigh.offset == 0.0 and thigh.drift == 0.0
    assert "keeping its own clock" in caplog.text


def test_long_steady_walks_do_not_slip_by_a_step():
    """Mostly walking, always at the same cadence, and an offset of exactly one step period."""
    duration = 2 * 3600.0
    body = make_body(duration, 100.0, seed=41, mix=(0.05, 0.9, 0.05), step_s=(0.52, 0.52))
    pelvis, thigh = Clock(0.0, 0.0), Clock(0.52, 35e-6)
    blocks = {
        "pelvis": observe(body, "pelvis", PELVIS_MOUNT, 50.0, pelvis, duration, 42),
        "thigh": observe(body, "thigh", THIGH_MOUNT, 50.0, thigh, duration, 43, with_gyro=False),
    }
    assert_recovered(estimate_clock_models(blocks)["thigh"], thigh, pelvis)

"""Real wear: sensors off the body, nights in bed, short bouts, steps, transitions, seated slips.

Each behaviour is checked against the physics of the body model (or of a still device) and the
truths against each other; everything is off by default, so the other tests' days are unchanged.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy.ndimage import maximum_filter1d
from scipy.spatial.transform import Rotation

from posturewatch.simulators.body import GRAVITY, mounting_matrix
from posturewatch.simulators.config import Realism, Wear, WearerConfig
from posturewatch.simulators.offbody import TABLE_FACES, Placement
from posturewatch.simulators.schedule import plan_day
from posturewatch.simulators.sensors import build_specs, chunk_block
from posturewatch.simulators.trajectory import CHAIN, WanderTable
from posturewatch.simulators.wear_truth import LEFT_PHASE, RIGHT_PHASE
from posturewatch.simulators.wearer import compute_truth, prepare, simulate

WEAR = Wear(nonwear=True, short_bouts=True, seated_slip=True, reattach_flips=True, breathing=True)
IDEAL = WearerConfig(hours=2.0, seed=3, realism=Realism.ideal(), wear=WEAR)
NOISY = replace(IDEAL, realism=replace(Realism.ideal(), noise=True))


@pytest.fixture(scope="module")
def ideal():
    plan, specs = prepare(IDEAL)
    return plan, specs, simulate(IDEAL)


@pytest.fixture(scope="module")
def week_plan():
    cfg = WearerConfig(days=2, seed=5, wear=Wear.everything())
    plan = plan_day(cfg.seed, cfg.start, cfg.hours, wear=cfg.wear, days=cfg.days)
    return cfg, plan, compute_truth(cfg, plan)


def samples(config: WearerConfig, specs, plan, loc: str, lo: float, hi: float):
    """One sensor's samples with nominal times in [lo, hi) (ideal clock: true = nominal)."""
    spec = specs[loc]
    k = np.arange(int(np.ceil((lo - config.start) * spec.rate)),
                  int(np.ceil((hi - config.start) * spec.rate)))
    return chunk_block(plan.motion, spec, config, 0, np.zeros(len(k)), k)


def resting(place: Placement, t: np.ndarray) -> np.ndarray:
    return (t >= place.start + 2.5) & (t < place.end - 2.5)


def test_a_sensor_off_the_body_is_a_still_device_reading_gravity(ideal):
    plan, specs, _ = ideal
    assert plan.nonwear, "the day takes the sensors off once"
    noisy_specs = build_specs(NOISY, plan)
    checked = 0
    for loc, spec in noisy_specs.items():
        for place in spec.placements:
            if place.carried:
                continue
            block = samples(NOISY, noisy_specs, plan, loc, place.start, place.end)
            rest = resting(place, block.t)
            assert rest.sum() > 10_000
            acc, gyr = block.acc[rest], block.gyr[rest]
            # gravity in sensor axes from the placement, plus only the white noise and a bias
            expected = GRAVITY * place.rotation[2, :]
            bias = acc.mean(0) - expected
            assert np.abs(bias).max() < 0.05, (loc, place.kind)
            assert np.linalg.norm(acc, axis=1).mean() == pytest.approx(GRAVITY, abs=0.05)
            np.testing.assert_allclose(acc.std(0), 0.03, rtol=0.1)  # noise only: no breathing
            np.testing.assert_allclose(gyr.std(0), 0.004, rtol=0.1)
            checked += 1
    assert checked == 3  # every sensor, against the chair back or on its seat


def test_breathing_sways_the_worn_trunk_but_never_the_device_off_the_body(ideal):
    plan, specs, _ = ideal
    calm = replace(IDEAL, wear=replace(WEAR, breathing=False))
    calm_plan, calm_specs = prepare(calm)
    place = specs["thorax"].placements[0]
    lo, hi = place.start - 600.0, place.end
    a = samples(IDEAL, specs, plan, "thorax", lo, hi)
    b = samples(calm, calm_specs, calm_plan, "thorax", lo, hi)
    diff = a.acc - b.acc
    worn = a.t < place.start - 1.0
    np.testing.assert_array_equal(diff[resting(place, a.t)], 0.0)
    sway = diff[worn, 0] - diff[worn, 0].mean()
    spectrum = np.abs(np.fft.rfft(np.linalg.norm(diff[worn], axis=1) * np.sign(sway)))
    freqs = np.fft.rfftfreq(worn.sum(), 0.01)
    assert plan.motion.breathing.rate_hz == pytest.approx(freqs[np.argmax(spectrum[1:]) + 1],
                                                          abs=0.03)
    assert 0.02 < np.abs(diff[worn]).max() < 0.3  # a few tenths of a degree of sway


def test_a_sensor_on_its_side_on_a_table_reads_gravity_on_its_y_axis(ideal):
    plan, specs, _ = ideal
    place = specs["thigh"].placements[0]
    yaw = Rotation.from_euler("z", 40, degrees=True).as_matrix()
    for face, axis, sign in (("y_up", 1, 1), ("y_down", 1, -1), ("z_down", 2, -1)):
        specs["thigh"].placements[0] = replace(place, kind="table", face=face, carried=False,
                                               rotation=yaw @ TABLE_FACES[face])
        block = samples(IDEAL, specs, plan, "thigh", place.start, place.end)
        rest = resting(place, block.t)
        expected = np.zeros(3)
        expected[axis] = sign * GRAVITY
        bias = block.acc[rest] - expected  # the accelerometer's own bias: tiny, nearly constant
        assert np.abs(bias).max() < 0.05 and np.ptp(bias, axis=0).max() < 0.01
        assert np.abs(block.gyr[rest]).max() < 1e-9
    specs["thigh"].placements[0] = place


def test_trunk_sensors_lean_on_a_chair_back_and_the_thigh_sensor_lies_on_the_seat():
    from posturewatch.simulators.offbody import draw_placement

    rng = np.random.default_rng(0)
    for _ in range(20):
        up = draw_placement(rng, "thorax", "chair", 0, 1).rotation[2, :]  # world up, sensor axes
        assert 9.9 <= np.degrees(np.arccos(up[0])) <= 20.1  # x up, leaning back 10–20°
        seat = draw_placement(rng, "thigh", "chair", 0, 1).rotation[2, :]
        assert abs(seat[2]) > np.cos(np.radians(5.5))  # flat on the seat, face up or down


def test_a_bag_sways_while_the_wearer_walks_with_it(ideal):
    plan, specs, _ = ideal
    walk = max((e for e in plan.events if e["kind"] == "walk"), key=lambda e: e["duration_s"])
    bag = Placement("pelvis", walk["t"] - 30.0, walk["t"] + walk["duration_s"] + 30.0, "bag",
                    "random", Rotation.random(random_state=1).as_matrix(), carried=True)
    saved = specs["pelvis"].placements
    specs["pelvis"].placements = [bag]
    try:
        block = samples(IDEAL, specs, plan, "pelvis", bag.start, bag.end)
    finally:
        specs["pelvis"].placements = saved
    carried = (block.t > walk["t"] + 5) & (block.t < walk["t"] + walk["duration_s"] - 5)
    still = resting(bag, block.t) & (block.t < walk["t"] - 1)
    norm = np.linalg.norm(block.acc, axis=1)
    assert 0.2 < norm[carried].std() < 3.0  # slight motion, far less than walking on the body
    assert 0.02 < np.linalg.norm(block.gyr[carried], axis=1).mean() < 0.5
    assert np.ptp(norm[still]) < 0.01  # set down: still
    # the gyro integrates to the bag's own sway (no jump from the body's orientation)
    steps = Rotation.from_rotvec(block.gyr[carried][:-1] * 0.01)
    r = Rotation.from_matrix(np.eye(3))
    for step in steps[:1000]:
        r = r * step
    assert np.degrees(r.magnitude()) < 10.0


def test_put_back_differently_shows_in_the_gravity_axes(ideal):
    plan, specs, day = ideal
    periods = [(loc, w) for loc, s in specs.items() for w in s.wear_periods]
    assert periods
    for loc, w in periods:
        block = day.blocks[loc]
        rate = np.max([np.linalg.norm(day.blocks[s].gyr, axis=1) for s in CHAIN[loc]], 0)
        still = (maximum_filter1d(rate, 101) < 0.01) & (block.t > w["put_back"] + 3.0)
        still &= plan.posture_codes(block.t) >= 2
        assert still.sum() > 500, loc
        r = plan.motion.rotations(block.t[still], CHAIN[loc])[loc] @ mounting_matrix(loc)
        r = r @ w["rotation"]
        later = [s["time"] for s in specs[loc].slips() if s["time"] > w["put_back"]]
        keep = block.t[still] < min(later, default=np.inf)  # a later slip changes the picture
        r, acc = r[keep], block.acc[still][keep]
        assert len(acc) > 500, loc
        assert np.abs(acc - GRAVITY * r[:, 2, :]).max() < 0.03, (loc, w["flip"])
        if w["flip"] == "upside_down":
            assert np.median(acc[:, 0] * np.sign(np.median(
                day.blocks[loc].acc[day.blocks[loc].t < w["from"] - 600][:, 0]))) < 0


def test_not_worn_seconds_equal_the_nonwear_spans(ideal, tmp_path):
    from posturewatch.simulators.recording import read_truth, record

    cfg = replace(IDEAL, rate=20.0)
    record(cfg, tmp_path)
    truth = read_truth(tmp_path)
    import pyarrow.csv as pacsv

    spans = pacsv.read_csv(tmp_path / "truth_nonwear.csv").to_pylist()
    every = [s for s in spans if s["location"] == "all"]
    assert every
    not_worn = truth.posture == "not_worn"
    expected = sum(s["end"] - s["start"] for s in every)
    assert abs(not_worn.sum() - expected) <= len(every)
    for s in every:
        inside = (truth.t >= np.ceil(s["start"])) & (truth.t + 1 <= s["end"])
        assert not_worn[inside].all()
        assert np.isnan(truth.angles["pelvic_tilt"][inside]).all()
    assert not np.isnan(truth.angles["pelvic_tilt"][~not_worn]).all()
    for ep in truth.episodes:  # no episode while not worn
        for s in every:
            assert ep.end <= s["start"] + 1 or ep.start >= s["end"] - 1 or ep.kind == \
                "prolonged_sitting" and ep.end <= s["start"] + 1


def test_short_bouts_last_three_to_ten_seconds(ideal):
    plan, _, day = ideal
    bouts = [e for e in plan.events if e["kind"] == "short_bout"]
    assert len(bouts) >= 1
    t, labels = day.truth.t_10hz, day.truth.labels(day.truth.posture_10hz)
    for e in bouts:
        want = {"sit": "sitting", "stand": "standing", "lie": "lying"}[e["type"]]
        sel = (t >= e["t"]) & (t < e["t"] + 30.0)
        run = labels[sel] == want
        edges = np.flatnonzero(np.diff(np.r_[0, run.astype(int), 0]))
        lengths = (edges[1::2] - edges[::2]) / 10.0
        assert any(3.0 <= d <= 14.0 for d in lengths), (e, lengths)


def test_transition_truth_brackets_the_hip_movement(ideal):
    plan, _, day = ideal
    from posturewatch.simulators.wear_truth import transitions

    moves = transitions(plan, IDEAL.sensor_locations)
    assert sum(k == "sit_to_stand" for k, _, _ in moves) >= 3
    t, labels = day.truth.t_10hz, day.truth.labels(day.truth.posture_10hz)
    for kind, a, b in moves:
        assert 1.4 <= b - a <= 3.1
        hip = plan.motion.state(np.array([a - 0.3, a, b, b + 0.3]), ())["hip"][:, 2]
        rise = hip[2] - hip[1]
        assert abs(hip[1] - hip[0]) < 0.03 and abs(hip[3] - hip[2]) < 0.03  # (nearly) still outside
        before = labels[np.searchsorted(t, a) - 2]
        after = labels[min(np.searchsorted(t, b) + 2, len(t) - 1)]
        if kind == "sit_to_stand":
            assert rise > 0.3 and before == "sitting" and after in ("standing", "walking")
        else:
            assert rise < -0.3 and after == "sitting" and before in ("standing", "walking")


def test_heel_strikes_are_at_the_thighs_forward_swing(ideal):
    plan, _, day = ideal
    steps_t, legs = day.truth.steps_t, day.truth.steps_leg
    assert len(steps_t) > 300
    right = steps_t[legs == "right"]
    # the right thigh (the sensor's leg) is furthest forward within ±60 ms of its strike
    grid = right[:, None] + np.arange(-0.3, 0.301, 0.002)[None, :]
    theta = plan.motion.angles(grid.ravel(), ("thigh",))["theta_thigh"].reshape(grid.shape)
    offset = np.arange(-0.3, 0.301, 0.002)[np.argmin(theta, axis=1)]
    walk = plan.motion.tracks["walk"](right) > 0.99
    assert np.abs(offset[walk]).max() < 0.06
    # the legs alternate: a left strike halfway between two right ones
    phase, stride_hz, _ = plan.motion.gait.lookup(steps_t)
    target = np.where(legs == "right", RIGHT_PHASE, LEFT_PHASE)
    np.testing.assert_allclose(np.cos(phase - target), 1.0, atol=1e-9)
    steady = np.diff(steps_t) < 0.7
    np.testing.assert_allclose(np.diff(steps_t)[steady], 0.5 / stride_hz[1:][steady], rtol=1e-6)
    # and the thigh sensor's swing rate about its y axis crosses zero there
    thigh = day.blocks["thigh"]
    i = np.searchsorted(thigh.t, right[walk])
    i = i[(i > 10) & (i < len(thigh.t) - 10)]
    assert np.median(np.abs(thigh.gyr[i, 1])) < 0.15 * np.abs(thigh.gyr[:, 1]).max()


def test_seated_slip_rotates_a_sensor_while_sitting(ideal):
    plan, specs, day = ideal
    seated = [(loc, s) for loc, spec in specs.items() for s in spec.extra_slips]
    assert len(seated) == 1
    loc, slip = seated[0]
    assert plan.posture_codes(np.array([slip["time"]]))[0] == 2  # sitting
    other = simulate(replace(IDEAL, wear=replace(WEAR, seated_slip=False)))
    a, b = day.blocks[loc], other.blocks[loc]
    before = a.t < slip["time"]
    np.testing.assert_array_equal(a.acc[before], b.acc[before])
    after = (a.t > slip["time"] + 1.0) & (a.t < slip["time"] + 30.0)
    cos = np.sum(a.acc[after] * b.acc[after], 1) / np.linalg.norm(a.acc[after], axis=1) / \
        np.linalg.norm(b.acc[after], axis=1)
    tilt = np.degrees(np.arccos(np.clip(np.median(cos), -1, 1)))
    assert 0.5 * abs(slip["deg"]) < tilt <= abs(slip["deg"]) + 0.5


def test_in_bed_truth_brackets_the_nights_lying(week_plan):
    cfg, plan, truth = week_plan
    assert len(plan.in_bed) == 2
    t, labels = truth.t_1hz, truth.labels(truth.posture_1hz)
    lying = labels == "lying"
    in_bed = np.zeros(len(t), dtype=bool)
    for a, b in plan.in_bed:
        in_bed |= (t >= a) & (t < b)
        hours = (np.array([a, b]) % 86400) / 3600
        assert 22.4 <= hours[0] <= 23.7 and 6.2 <= hours[1] <= 7.8
        assert lying[(t >= a) & (t < b)].mean() > 0.9
        assert lying[(t >= a + 60) & (t < a + 120)].all() and labels[np.searchsorted(t, b) + 5] != \
            "lying"
    clock = (t % 86400) / 3600
    night = (clock > 23.8) | (clock < 6.0)
    assert lying[night].all() or (in_bed[night & ~lying]).all()  # out of bed only from bed
    # lying outside the nights is short: naps, the afternoon lie-down, 3–10 s bouts
    outside = lying & ~in_bed
    edges = np.flatnonzero(np.diff(np.r_[0, outside.astype(int), 0]))
    assert (edges[1::2] - edges[::2]).max() < 3700
    # at night: turning through supine, prone and both sides, and a ≥ 5 min awakening
    positions = {e["position"] for e in plan.events if e["kind"] == "lying_position"
                 and any(a < e["t"] < b for a, b in plan.in_bed)}
    assert positions >= {"supine", "prone", "left", "right"}
    wakes = [e for e in plan.events if e["kind"] == "night_awakening"]
    assert any(e["out_of_bed_s"] >= 300 for e in wakes)
    for e in wakes:
        sel = (t > e["t"] + 5) & (t < e["t"] + e["out_of_bed_s"] - 30)
        assert np.isin(labels[sel], ["standing", "walking"]).all()


def test_lying_positions_are_what_the_body_shows(week_plan):
    _, plan, _ = week_plan
    expected = {"supine": (1, 1.0), "prone": (1, -1.0), "left": (2, -1.0), "right": (2, 1.0)}
    checked = 0
    for e in plan.events:
        if e["kind"] != "lying_position" or not any(a < e["t"] < b for a, b in plan.in_bed):
            continue
        t = np.array([e["t"] + 6.0])
        if plan.posture_codes(t)[0] != 1:
            continue  # turned supine to get up
        up = plan.motion.rotations(t, ("thorax",))["thorax"][0][2, :]  # (superior, anterior, left)
        axis, sign = expected[e["position"]]
        assert sign * up[axis] > 0.9, e
        checked += 1
    assert checked >= 8


def test_semi_reclined_lying_props_the_trunk_up(week_plan):
    _, plan, truth = week_plan
    semi = [e for e in plan.events if e["kind"] == "lie_down" and e["position"] == "semi_reclined"]
    assert semi
    t = truth.t_10hz
    for e in semi:
        sel = (t > e["t"] + 10) & (t < e["t"] + 300)
        trunk = truth.angles_10hz["trunk_inclination"][sel]
        assert np.all((trunk > -72) & (trunk < -40))
        assert np.all(truth.posture_10hz[sel] == 1)


def test_cutting_the_truth_at_night_changes_no_episode(week_plan):
    from posturewatch.simulators.truth import label_episodes

    cfg, plan, truth = week_plan
    assert len(plan.cuts) >= 2
    whole = label_episodes(truth.t_10hz, truth.angles_10hz, truth.labels(truth.posture_10hz),
                           head=False, t_end=cfg.end)
    assert [(e.kind, e.start, e.end) for e in whole] == [
        (e.kind, e.start, e.end) for e in truth.episodes]


def test_wander_in_pieces_equals_one_table():
    from posturewatch.simulators.trajectory import Wander

    rng = np.random.default_rng(1)
    wander = {name: Wander(rng.uniform(0.1, 0.5, 3), rng.uniform(1 / 300, 1 / 20, 3),
                           rng.uniform(0, 6, 3)) for name in (
        "heading", "theta_pelvis", "theta_thigh", "theta_thorax", "neck",
        "roll_pelvis", "roll_thigh", "roll_thorax", "roll_head")}
    whole, pieces = WanderTable(wander, 20 * 3600.0), WanderTable(wander, 40 * 3600.0)
    x = np.sort(rng.uniform(-100, 20 * 3600, 50_000))
    np.testing.assert_allclose(pieces(x), whole(x), atol=1e-12)
    np.testing.assert_allclose(pieces(x, derivative=True), whole(x, derivative=True), atol=1e-12)
    assert len(pieces._pieces) <= 3


def test_real_wear_is_deterministic_by_seed(week_plan):
    cfg, plan, truth = week_plan
    again = plan_day(cfg.seed, cfg.start, cfg.hours, wear=cfg.wear, days=cfg.days)
    assert again.events == plan.events and again.nonwear == plan.nonwear
    assert again.in_bed == plan.in_bed and again.transitions == plan.transitions
    other = plan_day(cfg.seed + 1, cfg.start, cfg.hours, wear=cfg.wear, days=cfg.days)
    assert other.in_bed != plan.in_bed
    a, b = simulate(replace(IDEAL, hours=0.3)), simulate(replace(IDEAL, hours=0.3))
    for loc in a.blocks:
        np.testing.assert_array_equal(a.blocks[loc].acc, b.blocks[loc].acc)
    np.testing.assert_array_equal(a.truth.steps_t, b.truth.steps_t)


def test_days_need_whole_days_and_nights_need_days():
    with pytest.raises(ValueError, match="days must be a whole number"):
        WearerConfig(days=-1)
    with pytest.raises(ValueError, match="nights in bed need whole days"):
        WearerConfig(wear=Wear(nights=True))
    cfg = WearerConfig(days=2)
    assert cfg.hours == 48.0 and cfg.wear.nights and cfg.duration_s == 172800.0


def test_cli_simulates_real_wear_and_rejects_bad_days(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).with_name("posturewatch")
    out = tmp_path / "rec"
    proc = subprocess.run([str(exe), "simulate", "--hours", "0.05", "--out", str(out), "--rate", "20",
                           "--real-wear"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Real wear: naps, nonwear" in proc.stdout
    meta = json.loads((out / "meta.json").read_text())
    assert meta["wear_on"] == ["naps", "nonwear", "seated_off", "reattach_flips", "short_bouts",
                               "seated_slip", "breathing"] and meta["days"] == 0
    for name in ("truth_in_bed.csv", "truth_steps.csv", "truth_transitions.csv",
                 "truth_nonwear.csv", "truth_slips.csv"):
        assert (out / name).read_text().count("\n") >= 1, name
    assert (out / "truth_steps.csv").read_text().count("\n") > 20  # the arriving walk
    bad = subprocess.run([str(exe), "simulate", "--days", "-2", "--out", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "days must be a whole number" in bad.stderr
    assert "Traceback" not in bad.stderr

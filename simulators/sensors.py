"""What each simulated sensor records: physics of the signals plus the configured impairments.

Per sensor: orientation = segment ∘ mounting (with an optional flip) ∘ misalignment ∘ slip;
accelerometer = specific force Rᵀ·(a + g·ẑ) from the second difference of the sensor's position in
the linked body model; gyroscope = rotvec(R_kᵀ·R_{k+1}) / Δt, the body-frame rate that integrates
exactly to the orientation sequence; magnetometer = the earth field in sensor axes. The k-th sample
is taken at the sensor's own (offset, drifting) clock instant and recorded at the host's nominal
grid instant plus row jitter. Every random draw comes from a stream keyed by (seed, purpose,
location or rate, chunk), so the output does not depend on how it is chunked or which other
sensors are enabled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation

from posturewatch.ingest.records import LOCATIONS, SensorBlock
from posturewatch.simulators.body import (
    EARTH_FIELD_UT,
    FLIPS,
    GRAVITY,
    axis_angle_matrix,
    mounting_matrix,
    rotation_vector,
)
from posturewatch.simulators.config import WearerConfig
from posturewatch.simulators.offbody import (
    Placement,
    blend,
    draw_placement,
    handling_fraction,
    resting_acceleration,
    resting_rotation,
)
from posturewatch.simulators.schedule import Plan
from posturewatch.simulators.trajectory import (
    CHAIN,
    Motion,
    minimum_jerk,
    rotations_of,
    sensor_position,
)

CHUNK_S = 600.0  # internal generation chunk; part of the determinism contract
BIAS_STEP_S = 10.0  # grid of the gyro-bias random walk
SLIP_RAMP_S = 0.4
FD_MAX_STEP_S = 0.0101  # above this sample spacing, acceleration uses its own finer step
FD_STEP_S = 0.004


@dataclass
class SensorSpec:
    """Everything fixed about one simulated sensor for the day."""

    location: str
    rate: float
    gyro: bool
    mag: bool
    mounting: np.ndarray  # declared sensor → segment rotation, including any flip
    flip: str | None
    misalignment: np.ndarray  # applied after the mounting: true = mounting @ misalignment
    misalignment_axis: np.ndarray
    misalignment_deg: float
    gyro_bias: np.ndarray  # (3,) rad/s constant part
    bias_walk: np.ndarray  # (M, 3) rad/s random-walk part on a BIAS_STEP_S grid
    clock_offset_s: float
    clock_drift_ppm: float
    loss_start: np.ndarray
    loss_end_cummax: np.ndarray
    loss_intervals: list[tuple[float, float, str]]
    slip_time: float | None = None
    slip_axis: np.ndarray | None = None  # in sensor axes
    slip_deg: float = 0.0
    slip_until: float = np.inf  # a slip lasts until the sensor is next put back on
    # real wear (all empty unless WearerConfig.wear switches them on)
    extra_slips: list[dict] = field(default_factory=list)  # time, axis, deg, context, until
    placements: list[Placement] = field(default_factory=list)  # off the body
    wear_periods: list[dict] = field(default_factory=list)  # from, rotation, flip, extra_deg
    acc_bias: np.ndarray | None = None  # (3,) m/s², constant part
    acc_bias_walk: np.ndarray | None = None  # (M, 3) m/s² on the BIAS_STEP_S grid

    @property
    def dt(self) -> float:
        return 1.0 / self.rate

    def meta(self) -> dict:
        lost = sum(e - s for s, e, _ in self.loss_intervals)
        return {
            "rate_hz": self.rate, "gyro": self.gyro, "mag": self.mag, "flip": self.flip,
            "mounting": self.mounting.round(6).tolist(),
            "true_mounting": (self.mounting @ self.misalignment).round(9).tolist(),
            "misalignment": self.misalignment.round(9).tolist(),
            "misalignment_axis": self.misalignment_axis.round(6).tolist(),
            "misalignment_deg": round(self.misalignment_deg, 4),
            "gyro_bias_rad_s": self.gyro_bias.round(6).tolist(),
            "clock_offset_s": round(self.clock_offset_s, 6),
            "clock_drift_ppm": round(self.clock_drift_ppm, 4),
            "slip": None if self.slip_time is None else {
                "time": round(self.slip_time, 3), "deg": round(self.slip_deg, 3),
                "axis_sensor": self.slip_axis.round(6).tolist(), "ramp_s": SLIP_RAMP_S},
            "loss_intervals": [[round(s, 3), round(e, 3), kind] for s, e, kind in self.loss_intervals],
            "lost_seconds": round(lost, 3),
            **({} if not (self.placements or self.extra_slips or self.acc_bias is not None) else {
                "slip_until": None if not np.isfinite(self.slip_until) else round(self.slip_until, 3),
                "extra_slips": [{**x, "axis": x["axis"].round(6).tolist(),
                                 "until": None if not np.isfinite(x["until"]) else x["until"]}
                                for x in self.extra_slips],
                "placements": [pl.meta() for pl in self.placements],
                "wear_periods": [{**w, "rotation": w["rotation"].round(6).tolist()}
                                 for w in self.wear_periods],
                "acc_bias_m_s2": None if self.acc_bias is None else self.acc_bias.round(5).tolist(),
            }),
        }

    def slips(self) -> list[dict]:
        """Every slip of this sensor: time, deg, axis (sensor axes), context, until."""
        out = list(self.extra_slips)
        if self.slip_time is not None:
            out.append({"time": self.slip_time, "axis": self.slip_axis, "deg": self.slip_deg,
                        "context": "walking_or_standing_up", "until": self.slip_until})
        return sorted(out, key=lambda x: x["time"])


def _random_axis(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=3)
    return v / np.linalg.norm(v)


def build_specs(config: WearerConfig, plan: Plan) -> dict[str, SensorSpec]:
    """Draw every sensor's fixed impairments (only for enabled realism)."""
    real = config.realism
    duration = config.duration_s
    specs: dict[str, SensorSpec] = {}
    for index, loc in enumerate(LOCATIONS):
        rng = np.random.default_rng([config.seed, 2, index])
        axis = _random_axis(rng)
        mis_deg = float(rng.uniform(0, real.misalignment_max_deg))
        bias = rng.uniform(-real.gyro_bias_max, real.gyro_bias_max, 3)
        steps = int(duration // BIAS_STEP_S) + 3
        walk = np.cumsum(rng.normal(0, real.gyro_bias_walk * np.sqrt(BIAS_STEP_S), (steps, 3)), 0)
        offset = float(rng.uniform(-real.clock_offset_max_s, real.clock_offset_max_s))
        drift = float(rng.uniform(-real.clock_drift_max_ppm, real.clock_drift_max_ppm))
        mean_burst = (real.loss_burst_max_s - real.loss_burst_min_s) / np.log(
            real.loss_burst_max_s / real.loss_burst_min_s)
        n_bursts = rng.poisson(real.packet_loss_fraction * duration / mean_burst)
        starts = rng.uniform(0, duration, n_bursts) + config.start
        lengths = np.exp(rng.uniform(np.log(real.loss_burst_min_s), np.log(real.loss_burst_max_s),
                                     n_bursts))
        if loc not in config.sensor_locations:
            continue
        intervals = ([(float(s), float(s + d), "burst") for s, d in zip(starts, lengths, strict=True)]
                     if real.packet_loss else [])
        if not real.misalignment:
            mis_deg = 0.0
        specs[loc] = SensorSpec(
            location=loc, rate=config.rate_of(loc), gyro=loc not in config.acc_only, mag=config.mag,
            mounting=mounting_matrix(loc, config.flips.get(loc)), flip=config.flips.get(loc),
            misalignment=axis_angle_matrix(axis, np.radians(mis_deg)), misalignment_axis=axis,
            misalignment_deg=mis_deg,
            gyro_bias=bias if real.gyro_bias else np.zeros(3),
            bias_walk=walk if real.gyro_bias else np.zeros((steps, 3)),
            clock_offset_s=offset if real.clock else 0.0,
            clock_drift_ppm=drift if real.clock else 0.0,
            loss_start=np.zeros(0), loss_end_cummax=np.zeros(0), loss_intervals=intervals,
        )
    rng = np.random.default_rng([config.seed, 3])
    chosen = list(specs)
    loc = chosen[int(rng.integers(len(chosen)))] if chosen else None
    length = float(rng.uniform(real.dropout_min_s, real.dropout_max_s))
    at = config.start + float(rng.uniform(0.1, 0.9)) * max(duration - length, 0.0)
    if real.dropout and loc is not None and duration >= 10.0 * length:  # never a whole short day
        specs[loc].loss_intervals.append((at, at + length, "dropout"))
    if real.slip and chosen:
        _place_slip(specs[chosen[int(rng.integers(len(chosen)))]], plan, rng, real.slip_deg,
                    real.slip_while)
    _real_wear(config, plan, specs)
    for spec in specs.values():
        spec.loss_intervals.sort()
        spec.loss_start = np.array([s for s, _, _ in spec.loss_intervals])
        spec.loss_end_cummax = np.maximum.accumulate(
            np.array([e for _, e, _ in spec.loss_intervals])) if spec.loss_intervals else np.zeros(0)
    return specs


def _place_slip(
    spec: SensorSpec, plan: Plan, rng: np.random.Generator, slip_deg: float, slip_while: str = "moving"
) -> None:
    """Put the slip in the walking bout or sit-to-stand closest to the middle of the day, or with
    ``slip_while="seated"`` in the middle part of the seated stretch of 10 min or more closest to it."""
    middle = 0.5 * (plan.start + plan.end)
    candidates = [e for e in plan.events if e["kind"] in ("walk", "stand_up")]
    seated = _seated_stretches(plan, 600.0) if slip_while == "seated" else []
    if seated:
        t0, t1 = min(seated, key=lambda s: abs(0.5 * (s[0] + s[1]) - middle))
        at = t0 + rng.uniform(0.3, 0.7) * (t1 - t0)
    elif candidates:
        event = min(candidates, key=lambda e: abs(e["t"] - middle))
        lead = rng.uniform(3.0, max(4.0, min(60.0, event.get("duration_s", 6.0) - 5.0)))
        at = event["t"] + (lead if event["kind"] == "walk" else rng.uniform(0.3, 1.0))
    else:
        at = middle
    # mostly about the segment's left axis (a sagittal slide), with some random component
    left_in_sensor = spec.mounting.T @ np.array([0.0, 0.0, 1.0])
    axis = left_in_sensor + 0.25 * _random_axis(rng)
    spec.slip_time = float(at)
    spec.slip_axis = axis / np.linalg.norm(axis)
    spec.slip_deg = float(rng.choice([-1.0, 1.0]) * rng.uniform(0.8, 1.2) * slip_deg)


def _real_wear(config: WearerConfig, plan: Plan, specs: dict[str, SensorSpec]) -> None:
    """Placements off the body, new ways of wearing after them, seated slips, accelerometer
    bias: each from its own seeded stream, so the draws above stay what they were."""
    wear = config.wear
    for loc, spec in specs.items():
        index = LOCATIONS.index(loc)
        for i, nw in enumerate(plan.nonwear):
            if nw["location"] not in ("all", loc):
                continue
            rng = np.random.default_rng([config.seed, 7, index, i])
            spec.placements.append(draw_placement(rng, loc, nw["placement"], nw["start"], nw["end"]))
            if wear.reattach_flips:
                flip = str(rng.choice(["upside_down", "inside_out"])) if rng.random() < 0.35 else None
                extra_deg = float(rng.uniform(0, 4))
                extra = axis_angle_matrix(_random_axis(rng), np.radians(extra_deg))
                spec.wear_periods.append({
                    "from": round(0.5 * (nw["start"] + nw["end"]), 3), "put_back": nw["end"],
                    "flip": flip, "extra_deg": round(extra_deg, 3),
                    "rotation": extra if flip is None else FLIPS[flip] @ extra})
        if wear.nonwear or wear.seated_off:
            rng = np.random.default_rng([config.seed, 11, index])
            spec.acc_bias = rng.uniform(-0.02, 0.02, 3)
            steps = int(config.duration_s // BIAS_STEP_S) + 3
            step_sd = wear.acc_bias_drift * np.sqrt(BIAS_STEP_S / 3600.0)
            spec.acc_bias_walk = np.cumsum(rng.normal(0, step_sd, (steps, 3)), 0)
    if wear.seated_slip and specs:
        _place_seated_slips(config, plan, specs)
    for spec in specs.values():  # a slip lasts until the sensor is taken off (undone at rest)
        for slip in spec.extra_slips:
            slip["until"] = _next_rest(spec, slip["time"])
        if spec.slip_time is not None:
            spec.slip_until = _next_rest(spec, spec.slip_time)


def _next_rest(spec: SensorSpec, t: float) -> float:
    """The middle of the first time off the body that ends after ``t`` (inf when none)."""
    mids = [0.5 * (pl.start + pl.end) for pl in spec.placements if pl.end > t]
    return min(mids) if mids else np.inf


def _place_seated_slips(config: WearerConfig, plan: Plan, specs: dict[str, SensorSpec]) -> None:
    """One slip per day (≥ 1) during a sitting bout of ≥ 15 min, away from sensors-off spans."""
    rng = np.random.default_rng([config.seed, 8])
    stands = np.array(sorted(e["t"] for e in plan.events if e["kind"] == "stand_up"))
    bouts = []
    for e in plan.events:
        if e["kind"] != "sit_down":
            continue
        later = stands[stands > e["t"]]
        stop = float(later[0]) if len(later) else plan.end
        clear = all(nw["end"] < e["t"] or nw["start"] > stop for nw in plan.nonwear)
        if stop - e["t"] >= 900.0 and clear:
            bouts.append((e["t"], stop))
    n = min(len(bouts), max(1, int(config.duration_s // 86400)))
    chosen = sorted(rng.choice(len(bouts), n, replace=False)) if n else []
    locations = list(specs)
    for j in chosen:
        sat, stop = bouts[int(j)]
        spec = specs[locations[int(rng.integers(len(locations)))]]
        at = sat + rng.uniform(60.0, min(600.0, stop - sat - 300.0))
        left_in_sensor = spec.mounting.T @ np.array([0.0, 0.0, 1.0])
        axis = left_in_sensor + 0.25 * _random_axis(rng)
        spec.extra_slips.append({
            "time": round(float(at), 3), "axis": axis / np.linalg.norm(axis),
            "deg": float(rng.choice([-1.0, 1.0]) * rng.uniform(0.8, 1.2) * config.realism.slip_deg),
            "context": "seated", "until": np.inf})


def _seated_stretches(plan: Plan, min_s: float) -> list[tuple[float, float]]:
    """(sit down, stand up) times of the seated stretches at least ``min_s`` long (no lying between)."""
    out, sat = [], None
    for e in plan.events:
        if e["kind"] == "sit_down":
            sat = e["t"]
        elif e["kind"] in ("lie_down", "lying_position"):
            sat = None
        elif e["kind"] == "stand_up" and sat is not None:
            if e["t"] - sat >= min_s:
                out.append((sat, e["t"]))
            sat = None
    return out


def sensor_rotation(spec: SensorSpec, r_seg: np.ndarray, t_true: np.ndarray) -> np.ndarray:
    """(N, 3, 3) sensor → world rotation at the given true instants."""
    r = r_seg @ (spec.mounting @ spec.misalignment)
    if spec.wear_periods:  # put back on differently after being off the body
        starts = np.array([w["from"] for w in spec.wear_periods])
        period = np.searchsorted(starts, t_true, side="right") - 1
        for j in np.unique(period[period >= 0]):
            sel = period == j
            r[sel] = r[sel] @ spec.wear_periods[j]["rotation"]
    if spec.slip_time is not None:
        frac = minimum_jerk(np.clip((t_true - spec.slip_time) / SLIP_RAMP_S, 0.0, 1.0))
        if np.isfinite(spec.slip_until):
            frac = np.where(t_true < spec.slip_until, frac, 0.0)
        if frac.any():
            rotvec = np.outer(frac * np.radians(spec.slip_deg), spec.slip_axis)
            r = r @ Rotation.from_rotvec(rotvec).as_matrix()
    for slip in spec.extra_slips:
        frac = minimum_jerk(np.clip((t_true - slip["time"]) / SLIP_RAMP_S, 0.0, 1.0))
        frac = np.where(t_true < slip["until"], frac, 0.0)
        if frac.any():
            rotvec = np.outer(frac * np.radians(slip["deg"]), slip["axis"])
            r = r @ Rotation.from_rotvec(rotvec).as_matrix()
    return r


def _off_body(motion: Motion, spec: SensorSpec, t_true: np.ndarray, dt_true: float,
              r_now: np.ndarray, r_next: np.ndarray, acc_world: np.ndarray) -> None:
    """Replace (in place) the samples taken while the sensor was off the body."""
    for place in spec.placements:
        sel = (t_true + dt_true >= place.start) & (t_true < place.end)
        if not sel.any():
            continue
        ts = t_true[sel]
        f0, f1 = handling_fraction(place, ts), handling_fraction(place, ts + dt_true)
        r_now[sel] = blend(r_now[sel], resting_rotation(motion, place, ts), f0)
        r_next[sel] = blend(r_next[sel], resting_rotation(motion, place, ts + dt_true), f1)
        rest = resting_acceleration(motion, place, ts, FD_STEP_S)
        acc_world[sel] = (1.0 - f0)[:, None] * acc_world[sel] + f0[:, None] * rest


def _kinematics(motion: Motion, spec: SensorSpec, t_true: np.ndarray, dt_true: float):
    """Sensor rotations at t and at t + Δt, and the sensor's world acceleration at t."""
    chain = CHAIN[spec.location]
    n = len(t_true)
    if dt_true <= FD_MAX_STEP_S:  # the sample grid itself serves the second difference
        grid = np.concatenate([[t_true[0] - dt_true], t_true, [t_true[-1] + dt_true]])
        h, before, now, after, nxt = dt_true, slice(0, n), slice(1, n + 1), slice(2, n + 2), \
            slice(2, n + 2)
    else:  # a coarse grid would blur the acceleration: difference over a finer step
        grid = np.concatenate([t_true - FD_STEP_S, t_true, t_true + FD_STEP_S, t_true + dt_true])
        h, before, now, after, nxt = FD_STEP_S, slice(0, n), slice(n, 2 * n), \
            slice(2 * n, 3 * n), slice(3 * n, 4 * n)
    state = motion.state(grid, chain, travel=True)
    rot = rotations_of(state, chain)
    pos = sensor_position(spec.location, state["hip"], rot)
    acc_rel = (pos[after] - 2.0 * pos[now] + pos[before]) / h**2
    r_all = sensor_rotation(spec, rot[spec.location], grid)
    acc_world = acc_rel + state["travel"][now]
    return r_all[now], r_all[nxt], acc_world


def chunk_block(motion: Motion, spec: SensorSpec, config: WearerConfig, chunk: int,
                jitter: np.ndarray, k: np.ndarray) -> SensorBlock:
    """One sensor's recorded samples with nominal indices ``k`` (one internal chunk)."""
    real = config.realism
    offset_nominal = k / spec.rate
    t_nominal = config.start + offset_nominal
    drift = spec.clock_drift_ppm * 1e-6
    t_true = config.start + spec.clock_offset_s + offset_nominal * (1.0 + drift)
    dt_true = spec.dt * (1.0 + drift)
    r_now, r_next, acc_world = _kinematics(motion, spec, t_true, dt_true)
    if spec.placements:
        _off_body(motion, spec, t_true, dt_true, r_now, r_next, acc_world)
    specific = acc_world + np.array([0.0, 0.0, GRAVITY])
    acc = np.einsum("nji,nj->ni", r_now, specific)
    rel = r_now.transpose(0, 2, 1) @ r_next
    gyr = rotation_vector(rel) / dt_true if spec.gyro else None
    mag = np.einsum("nji,j->ni", r_now, EARTH_FIELD_UT) if spec.mag else None
    rng = np.random.default_rng([config.seed, 6, LOCATIONS.index(spec.location), chunk])
    if real.noise:
        acc = acc + rng.normal(0.0, real.acc_noise, acc.shape)
        if gyr is not None:
            gyr = gyr + rng.normal(0.0, real.gyro_noise, gyr.shape)
        if mag is not None:
            mag = mag + rng.normal(0.0, real.mag_noise, mag.shape)
    if gyr is not None and real.gyro_bias:
        grid = np.arange(len(spec.bias_walk)) * BIAS_STEP_S
        walk = np.stack([np.interp(offset_nominal, grid, spec.bias_walk[:, i]) for i in range(3)], 1)
        gyr = gyr + spec.gyro_bias + walk
    if spec.acc_bias is not None:
        grid = np.arange(len(spec.acc_bias_walk)) * BIAS_STEP_S
        walk = np.stack([np.interp(offset_nominal, grid, spec.acc_bias_walk[:, i])
                         for i in range(3)], 1)
        acc = acc + spec.acc_bias + walk
    keep = np.ones(len(k), dtype=bool)
    if len(spec.loss_start):
        i = np.searchsorted(spec.loss_start, t_nominal, side="right") - 1
        keep = ~((i >= 0) & (t_nominal < spec.loss_end_cummax[np.clip(i, 0, None)]))
    t_rec = np.round(t_nominal + jitter, 3)
    return SensorBlock(spec.location, t_rec[keep], acc[keep],
                       None if gyr is None else gyr[keep], None if mag is None else mag[keep])


def row_jitter(config: WearerConfig, rate: float, chunk: int, n: int) -> np.ndarray:
    """Timestamp jitter shared by all sensors of one rate (they share rows), strictly ordered."""
    real = config.realism
    if not real.jitter:
        return np.zeros(n)
    rng = np.random.default_rng([config.seed, 5, int(round(rate * 1000)), chunk])
    # successive recorded stamps stay ≥ 1 ms apart, so they stay strictly increasing at ms resolution
    limit = max(0.0, (1.0 / rate - 0.0012) / 2.0)
    return np.clip(rng.normal(0.0, real.jitter_sigma_s, n), -limit, limit)

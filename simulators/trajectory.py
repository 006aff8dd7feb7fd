"""Continuous body motion: keyframed minimum-jerk tracks plus gait and slow wander.

A ``Track`` holds keyframes (time, value) of one degree of freedom; between two keyframes the value
follows a minimum-jerk (quintic) profile, so position, velocity and acceleration are continuous and
a hold is simply two keyframes with the same value. ``Motion`` combines the tracks with periodic
gait terms and slow sinusoidal wander into functions of time that can be evaluated at ANY instants
(each sensor samples on its own drifting clock), vectorised over arrays of times.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.interpolate import CubicSpline

from posturewatch.simulators.body import segment_rotation

SEGMENTS: tuple[str, ...] = ("pelvis", "thigh", "thorax", "head")
WANDER_MARGIN_S = 120.0  # the wander table extends this far beyond the day (clock offsets)
WANDER_ONE_TABLE_S = 30 * 3600.0  # up to this span one table; longer recordings use pieces
WANDER_PIECE_S = 3 * 3600.0  # a piece's own span; pieces overlap so their edges match the whole
WANDER_PIECE_OVERLAP_S = 300.0

# Anatomical offsets (metres, in segment axes superior, anterior, left) of the linked model.
PELVIS_SENSOR = np.array([0.10, -0.11, 0.0])  # over the sacrum, behind the hip centre
LUMBAR_JOINT = np.array([0.20, -0.04, 0.0])  # from the hip centre, in pelvis axes
THORAX_SENSOR = np.array([0.30, -0.10, 0.0])  # T2–T4 on the back, from the lumbar joint
NECK_JOINT = np.array([0.48, 0.0, 0.0])  # from the lumbar joint, in thorax axes
HEAD_SENSOR = np.array([0.10, 0.0, 0.07])  # behind the ear on the left side, from the neck
HIP_JOINT = np.array([0.0, 0.0, -0.09])  # right hip joint from the hip centre, in pelvis axes
THIGH_SENSOR = np.array([-0.20, 0.07, 0.0])  # front of the thigh, 0.2 m down from the hip


def minimum_jerk(s: np.ndarray) -> np.ndarray:
    """The 0→1 minimum-jerk profile at normalised time ``s`` in [0, 1]."""
    return s * s * s * (10.0 - 15.0 * s + 6.0 * s * s)


def minimum_jerk_rate(s: np.ndarray) -> np.ndarray:
    """d/ds of ``minimum_jerk``."""
    return 30.0 * s * s * (1.0 - 2.0 * s + s * s)


@dataclass
class Track:
    """Keyframes of one degree of freedom, appended in time order."""

    initial: float
    times: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    @property
    def last(self) -> float:
        return self.values[-1] if self.values else self.initial

    def move(self, t0: float, t1: float, value: float) -> None:
        """Hold the current value until ``t0``, then go to ``value`` by ``t1`` (min-jerk)."""
        if self.times and t0 < self.times[-1] - 1e-9:
            raise ValueError(f"keyframe at {t0} precedes the last one at {self.times[-1]}")
        if not self.times or t0 > self.times[-1]:
            self.times.append(t0)
            self.values.append(self.last)
        self.times.append(max(t1, t0 + 1e-3))
        self.values.append(float(value))

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.times:
            return np.array([0.0, 1.0]), np.array([self.initial, self.initial])
        return np.asarray(self.times, dtype=float), np.asarray(self.values, dtype=float)


class FrozenTrack:
    """A finished ``Track`` as per-segment arrays, evaluated with value or time derivative."""

    def __init__(self, track: Track) -> None:
        self.t, self.v = track.arrays()
        self._t0 = self.t[:-1]
        self._inv_span = 1.0 / np.diff(self.t)
        self._v0 = self.v[:-1]
        self._dv = np.diff(self.v)

    def __call__(self, t: np.ndarray, derivative: bool = False) -> np.ndarray:
        i = np.searchsorted(self.t, t, side="right") - 1
        np.clip(i, 0, len(self._t0) - 1, out=i)
        s = (t - self._t0[i]) * self._inv_span[i]
        np.clip(s, 0.0, 1.0, out=s)
        dv = self._dv[i]
        if derivative:
            return dv * self._inv_span[i] * minimum_jerk_rate(s)
        # v0 + dv · s³ (10 − 15 s + 6 s²), in Horner form
        return self._v0[i] + dv * (s * s * s * (10.0 + s * (-15.0 + 6.0 * s)))


@dataclass
class GaitBouts:
    """Walking bouts: each with a start (phase origin), stride frequency and speed."""

    start: np.ndarray
    stride_hz: np.ndarray
    speed: np.ndarray
    phase: np.ndarray  # random phase offset per bout

    def lookup(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Stride phase (rad), stride frequency and base speed of the bout in force at ``t``."""
        if len(self.start) == 0:
            z = np.zeros_like(t)
            return z, z + 1.0, z
        i = np.clip(np.searchsorted(self.start, t, side="right") - 1, 0, None)
        phase = 2.0 * np.pi * self.stride_hz[i] * (t - self.start[i]) + self.phase[i]
        return phase, self.stride_hz[i], self.speed[i]


@dataclass
class Wander:
    """Slow smooth wander: a sum of sinusoids per degree of freedom (degrees)."""

    amp: np.ndarray  # (K,)
    freq: np.ndarray  # (K,) Hz
    phase: np.ndarray  # (K,)


WANDERING: tuple[str, ...] = (
    "heading", "theta_pelvis", "theta_thigh", "theta_thorax", "neck",
    "roll_pelvis", "roll_thigh", "roll_thorax", "roll_head",
)


@dataclass
class Breathing:
    """Breathing sways the trunk: a slowly modulated rhythm (≈ 12–18 breaths a minute)."""

    rate_hz: float
    thorax_deg: float  # amplitude of the thorax inclination sway
    pelvis_deg: float
    modulation: float  # phase modulation depth (rad) at ``modulation_hz``
    modulation_hz: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """sin of the breathing phase at ``x`` seconds from the origin."""
        phase = 2.0 * np.pi * self.rate_hz * x + self.modulation * np.sin(
            2.0 * np.pi * self.modulation_hz * x)
        return np.sin(phase)


def _wander_spline(wander: dict[str, Wander], lo: float, hi: float) -> CubicSpline:
    knots = np.arange(lo, hi + 1.0, 1.0)
    table = np.stack([
        np.sin(2.0 * np.pi * np.multiply.outer(knots, wander[name].freq) + wander[name].phase)
        @ wander[name].amp for name in WANDERING], axis=1)
    return CubicSpline(knots, table, axis=0)


class WanderTable:
    """The wander tabulated on a 1 s grid as C2 cubic splines, whole or in overlapping pieces.

    The wander is a sum of slow sinusoids (≤ 0.05 Hz): a spline on a 1 s grid is exact to ~1e-4°
    and far cheaper than per-sample sines. Up to ``WANDER_ONE_TABLE_S`` one table covers the
    recording; a longer one is cut into pieces built on demand (a few kept), so memory does not
    grow with the number of days. A spline's end effects die out within a few knots, so the
    overlaps make the pieces agree with each other to rounding.
    """

    def __init__(self, wander: dict[str, Wander], span_s: float) -> None:
        self._wander = wander
        self._pieces: dict[int, tuple[CubicSpline, CubicSpline]] = {}
        self._whole = None
        if span_s <= WANDER_ONE_TABLE_S:
            spline = _wander_spline(wander, -WANDER_MARGIN_S, span_s + WANDER_MARGIN_S)
            self._whole = (spline, spline.derivative())

    def _piece(self, index: int) -> tuple[CubicSpline, CubicSpline]:
        if index not in self._pieces:
            if len(self._pieces) >= 3:
                self._pieces.pop(next(iter(self._pieces)))
            lo = index * WANDER_PIECE_S - WANDER_PIECE_OVERLAP_S
            spline = _wander_spline(self._wander, lo, lo + WANDER_PIECE_S + 2 * WANDER_PIECE_OVERLAP_S)
            self._pieces[index] = (spline, spline.derivative())
        return self._pieces[index]

    def __call__(self, x: np.ndarray, derivative: bool = False) -> np.ndarray:
        which = int(derivative)
        if self._whole is not None:
            return self._whole[which](x)
        index = np.floor(np.asarray(x) / WANDER_PIECE_S).astype(np.int64)
        first, last = int(index.min()), int(index.max())
        if first == last:
            return self._piece(first)[which](x)
        out = np.empty((len(x), len(WANDERING)))
        for i in range(first, last + 1):
            sel = index == i
            if sel.any():
                out[sel] = self._piece(i)[which](x[sel])
        return out


class Motion:
    """The whole body's motion as functions of time (Unix seconds), vectorised over instants."""

    def __init__(self, tracks: dict[str, Track], gait: GaitBouts, wander: dict[str, Wander],
                 origin: float, end: float, breathing: Breathing | None = None) -> None:
        self.tracks = {name: FrozenTrack(tr) for name, tr in tracks.items()}
        self.gait = gait
        self.origin = origin
        self.breathing = breathing
        self._table = WanderTable(wander, end - origin)

    def state(self, t: np.ndarray, segments: tuple[str, ...], travel: bool = False) -> dict:
        """Per segment ``heading_/theta_/roll_<seg>`` (degrees), ``hip`` offset (m) and, with
        ``travel``, the world acceleration of the horizontal walking travel (m/s²)."""
        t = np.asarray(t, dtype=float)
        tr = self.tracks
        wander = dict(zip(WANDERING, self._table(t - self.origin).T, strict=True))
        if self.breathing is not None:  # breathing sways the trunk, less so the pelvis
            breath = self.breathing(t - self.origin)
            wander["theta_thorax"] = wander["theta_thorax"] + self.breathing.thorax_deg * breath
            wander["theta_pelvis"] = wander["theta_pelvis"] + self.breathing.pelvis_deg * breath
        env = tr["walk"](t)
        phase, stride_hz, base_speed = self.gait.lookup(t)
        s1, c1 = np.sin(phase), np.cos(phase)
        s2, c2 = 2.0 * s1 * c1, c1 * c1 - s1 * s1

        def step(amp: float, shift: float) -> np.ndarray:  # env·amp·sin(2·phase + shift)
            return env * amp * (s2 * np.cos(shift) + c2 * np.sin(shift))

        gait = {
            "theta_thigh": env * 17.5 * s1 + step(1.5, 0.6),
            "theta_pelvis": step(3.0, 0.4),
            "theta_thorax": step(2.0, 1.1),
        }
        gait_yaw = {"pelvis": env * 4.0 * s1, "thorax": env * -3.0 * s1}
        gait_roll = {"pelvis": env * 3.0 * (s1 * np.cos(1.6) + c1 * np.sin(1.6))}
        travel_heading = tr["heading"](t) + wander["heading"]
        out: dict[str, np.ndarray] = {}
        theta: dict[str, np.ndarray] = {}
        for seg in ("pelvis", "thigh", "thorax"):
            if seg in segments or (seg == "thorax" and "head" in segments):
                key = f"theta_{seg}"
                theta[seg] = tr[key](t) + wander[key] + gait.get(key, 0.0)
        if "head" in segments:
            theta["head"] = theta["thorax"] + tr["neck"](t) + wander["neck"]
        for seg in segments:
            yaw = tr["head_yaw"](t) if seg == "head" else gait_yaw.get(seg, 0.0)
            out[f"heading_{seg}"] = travel_heading + yaw
            out[f"theta_{seg}"] = theta[seg]
            out[f"roll_{seg}"] = tr[f"roll_{seg}"](t) + wander[f"roll_{seg}"] + gait_roll.get(seg, 0.0)
        psi = np.radians(travel_heading)
        cpsi, spsi = np.cos(psi), np.sin(psi)
        lateral = tr["lateral"](t) + env * 0.02 * s1
        height = tr["hip_height"](t) + env * 0.025 * c2
        out["hip"] = np.stack([-spsi * lateral, cpsi * lateral, height], axis=-1)
        if travel:
            mod = 1.0 + 0.06 * (s2 * np.cos(2.0) + c2 * np.sin(2.0))
            dmod = 0.06 * (c2 * np.cos(2.0) - s2 * np.sin(2.0)) * 4.0 * np.pi * stride_hz
            speed = env * base_speed * mod
            dspeed = base_speed * (tr["walk"](t, derivative=True) * mod + env * dmod)
            dpsi = np.radians(tr["heading"](t, derivative=True)
                              + self._table(t - self.origin, derivative=True)[:, 0])
            turn = speed * dpsi
            out["travel"] = np.stack([dspeed * cpsi - turn * spsi, dspeed * spsi + turn * cpsi,
                                      np.zeros_like(psi)], axis=-1)
        return out

    def angles(self, t: np.ndarray, segments: tuple[str, ...] = SEGMENTS) -> dict[str, np.ndarray]:
        """Heading, sagittal θ and roll per segment (degrees), the parameters of ``body``."""
        return self.state(t, segments)

    def rotations(self, t: np.ndarray, segments: tuple[str, ...]) -> dict[str, np.ndarray]:
        """(N, 3, 3) segment → world rotation per requested segment."""
        return rotations_of(self.state(t, segments), segments)

    def travel_acceleration(self, t: np.ndarray) -> np.ndarray:
        """World acceleration of the horizontal walking travel: v̇·forward + v·ψ̇·left."""
        return self.state(t, (), travel=True)["travel"]


def rotations_of(state: dict, segments: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Segment → world rotations from a ``Motion.state`` result."""
    return {s: segment_rotation(state[f"heading_{s}"], state[f"theta_{s}"], state[f"roll_{s}"])
            for s in segments}


def sensor_position(location: str, hip: np.ndarray, rot: dict[str, np.ndarray]) -> np.ndarray:
    """Sensor position minus horizontal travel, from the linked segment chain."""
    if location == "pelvis":
        return hip + rot["pelvis"] @ PELVIS_SENSOR
    if location == "thigh":
        return hip + rot["pelvis"] @ HIP_JOINT + rot["thigh"] @ THIGH_SENSOR
    lumbar = hip + rot["pelvis"] @ LUMBAR_JOINT
    if location == "thorax":
        return lumbar + rot["thorax"] @ THORAX_SENSOR
    if location == "head":
        return lumbar + rot["thorax"] @ NECK_JOINT + rot["head"] @ HEAD_SENSOR
    raise ValueError(f"unknown location {location!r}")


CHAIN: dict[str, tuple[str, ...]] = {
    "pelvis": ("pelvis",),
    "thigh": ("pelvis", "thigh"),
    "thorax": ("pelvis", "thorax"),
    "head": ("pelvis", "thorax", "head"),
}
"""Segments whose orientation a sensor's position depends on (its own segment last)."""

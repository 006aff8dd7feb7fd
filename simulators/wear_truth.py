"""Truth of real wear: not worn, steps, sit-to-stand transitions, nights in bed, slips.

All from the plan (and, for slips, the sensor specs), never from a sensor signal. Times are on
the host (true) clock, like the rest of the truth. Spans are half-open ``[start, end)``.

- not worn: a location is off the body while one of its non-wear spans (its own or ``"all"``)
  covers the instant; the posture is ``not_worn`` while every simulated sensor is off, and the
  angles a removed sensor would measure are NaN (nothing can measure them).
- steps: each heel strike per leg while walking, at the forward-most swing of that leg's thigh
  in the stride rhythm (right leg = the thigh sensor's leg: stride phase 3π/2, left: π/2), when
  the walking envelope is ≥ 0.5 and the sensors are worn.
- transitions: every sit-to-stand and stand-to-sit, from the start to the end of the movement.
"""

from __future__ import annotations

import numpy as np

from posturewatch.simulators.schedule import Plan
from posturewatch.simulators.sensors import SLIP_RAMP_S, SensorSpec

ANGLES_OF: dict[str, tuple[str, ...]] = {  # the truth angles each sensor is needed for
    "pelvis": ("pelvic_tilt", "hip_flexion", "lumbar_flexion"),
    "thigh": ("thigh_inclination", "hip_flexion"),
    "thorax": ("trunk_inclination", "lumbar_flexion", "neck_flexion"),
    "head": ("neck_flexion",),
}
STEP_ENVELOPE = 0.5
RIGHT_PHASE, LEFT_PHASE = 1.5 * np.pi, 0.5 * np.pi


def spans_of(plan: Plan, location: str) -> list[tuple[float, float]]:
    """Non-wear spans that take ``location`` off the body."""
    return [(nw["start"], nw["end"]) for nw in plan.nonwear if nw["location"] in ("all", location)]


def inside(t: np.ndarray, spans: list[tuple[float, float]]) -> np.ndarray:
    """Whether each instant lies in one of the half-open spans."""
    out = np.zeros(len(t), dtype=bool)
    for lo, hi in spans:
        a, b = np.searchsorted(t, [lo, hi], side="left")
        out[a:b] = True
    return out


def apply_nonwear(t: np.ndarray, codes: np.ndarray, angles: dict[str, np.ndarray], plan: Plan,
                  locations: tuple[str, ...], not_worn_code: int) -> None:
    """Mark ``not_worn`` and blank the unmeasurable angles, in place (``t`` sorted)."""
    if not plan.nonwear:
        return
    all_off = np.ones(len(t), dtype=bool)
    for loc in locations:
        off = inside(t, spans_of(plan, loc))
        all_off &= off
        for name in ANGLES_OF[loc]:
            if name in angles:
                angles[name][off] = np.nan
    codes[all_off] = not_worn_code


def all_off_spans(plan: Plan, locations: tuple[str, ...]) -> list[tuple[float, float]]:
    """Spans with every simulated sensor off (what the posture truth calls not worn)."""
    return [(nw["start"], nw["end"]) for nw in plan.nonwear
            if nw["location"] == "all" or (len(locations) == 1 and nw["location"] == locations[0])]


def heel_strikes(plan: Plan, lo: float, hi: float,
                 locations: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Heel-strike instants in [lo, hi) and their leg (``"right"``/``"left"``), in time order."""
    gait = plan.motion.gait
    times, legs = [], []
    bounds = np.append(gait.start, np.inf)
    for i in range(len(gait.start)):
        a, b = max(bounds[i], lo), min(bounds[i + 1], hi)
        if a >= b:
            continue
        f, s0, ph = gait.stride_hz[i], gait.start[i], gait.phase[i]
        for leg, target in (("right", RIGHT_PHASE), ("left", LEFT_PHASE)):
            k0 = np.ceil((2 * np.pi * f * (a - s0) + ph - target) / (2 * np.pi))
            k1 = np.floor((2 * np.pi * f * (b - s0) + ph - target) / (2 * np.pi))
            k = np.arange(k0, k1 + 1)
            t = s0 + (target + 2 * np.pi * k - ph) / (2 * np.pi * f)
            t = t[(t >= a) & (t < b)]
            times.append(t)
            legs.append(np.full(len(t), leg, dtype=object))
    if not times:
        return np.zeros(0), np.zeros(0, dtype=object)
    t, leg = np.concatenate(times), np.concatenate(legs)
    keep = plan.motion.tracks["walk"](t) >= STEP_ENVELOPE
    keep &= ~inside_unsorted(t, all_off_spans(plan, locations))
    order = np.argsort(t[keep], kind="stable")
    return t[keep][order], leg[keep][order]


def inside_unsorted(t: np.ndarray, spans: list[tuple[float, float]]) -> np.ndarray:
    out = np.zeros(len(t), dtype=bool)
    for lo, hi in spans:
        out |= (t >= lo) & (t < hi)
    return out


def transitions(plan: Plan, locations: tuple[str, ...]) -> list[tuple[str, float, float]]:
    """Sit-to-stand and stand-to-sit movements made while the sensors were worn."""
    off = all_off_spans(plan, locations)
    return [(kind, round(a, 3), round(b, 3)) for kind, a, b in plan.transitions
            if not any(a < hi and lo < b for lo, hi in off)]


def nonwear_rows(plan: Plan, locations: tuple[str, ...]) -> list[dict]:
    """Non-wear spans of the simulated sensors (``"all"`` or one location)."""
    return [nw for nw in plan.nonwear if nw["location"] == "all" or nw["location"] in locations]


def slip_rows(specs: dict[str, SensorSpec]) -> list[dict]:
    """Every slip that happened on the body: location, time, end of its ramp, deg, context."""
    rows = []
    for loc, spec in specs.items():
        for slip in spec.slips():
            off = any(pl.start <= slip["time"] < pl.end for pl in spec.placements)
            if not off:
                rows.append({"location": loc, "time": round(slip["time"], 3),
                             "end": round(slip["time"] + SLIP_RAMP_S, 3),
                             "deg": round(slip["deg"], 3), "context": slip["context"]})
    return sorted(rows, key=lambda r: r["time"])


def segments(plan: Plan, start: float, duration_s: float) -> list[tuple[int, int]]:
    """Whole-second spans [lo, hi) from ``start`` that the truth may be labelled in apart:
    cut in the middle of a night's long still lie, where no episode or bout is open."""
    total = int(np.floor(duration_s + 1e-9))
    cuts = sorted({int(round(c - start)) for c in plan.cuts if 60 < c - start < total - 60})
    edges = [0, *cuts, max(total, 1)]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]

"""A sensor that slips while the wearer sits or stands still: one sensor's up direction steps to
a new value within a couple of seconds and stays there, while the other sensors stay put.

Body movements look different: a reach or a bend comes back within seconds, a slump develops
over several seconds, and sitting down, standing up or leaning from the hips moves more than one
sensor, and leaning out of or back into a slump turns the trunk further than a strap or clip
gives way (``MAX_STEP_DEG``; a larger slip is left to the next walk). The trunk sensors are
searched, thorax and pelvis. A seated or standing pelvis also tilts back or forward on its own
and stays there, with the thorax nearly still; but the body takes seconds for that (a slump
eases off over 2–5 s, a posterior tilt builds up over as long), while a clip or strap gives way
at once: a pelvis step counts only if, in the 10 Hz frames, it gets from a fifth to four fifths
of the way within ``MAX_RISE_S``. The thigh is not searched: it crosses over the other leg and
rolls out in a moment, exactly like a slip (a thigh slip is left to the next walk), and a head
turns to look down. The search runs on 1 s means of the specific force, in sensor axes, over
windows of the same still posture; it needs at least one other sensor as the reference. Cheap
window means pick the candidates, and medians (a fidget in a window must not count) decide.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from posturewatch.ingest.frames import FRAME_HZ
from posturewatch.ingest.records import row_norms

BEFORE_S = 20  # steady seconds before the step
AFTER_S = 60  # ... and after it: a slip stays, a reach or a bend comes back
GAP_S = 2  # the step itself: a slip is over in under a second, a slump takes longer
STEADY_DEG = 3.0  # a second this close to its window's median direction is steady
STEADY_SHARE = 0.8  # share of steady seconds each window needs (fidgets are allowed)
EDGE_DEG = 2.0  # the seconds right before and after the step are already at their levels
OTHERS_DEG = 3.0  # every other sensor moves less than this across the step
MAX_STEP_DEG = 15.0  # a strap or clip gives way by a few degrees; more is the trunk moving
FIRST_AFTER = BEFORE_S + GAP_S  # offset of the after window in a candidate's span
SPAN_S = FIRST_AFTER + AFTER_S
STEP_LOCATIONS = ("thorax", "pelvis")
SHARP_LOCATIONS = ("pelvis",)  # also moves on its own, but never this fast
MAX_RISE_S = 0.6  # a slip's 20–80 % rise; a body's tilt of the pelvis takes a second or more


@dataclass(frozen=True)
class Step:
    """A slip found at second ``second`` (Unix s) in posture ``code``: ``before`` and ``after``
    are the sensor's up directions (sensor axes, unit) and ``moved`` the angle between them (deg)."""

    location: str
    second: int
    code: int
    before: np.ndarray
    after: np.ndarray
    moved: float


def per_second(t: np.ndarray, acc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whole seconds (Unix s) and the mean unit up of each (N, 3; NaN for a second without data);
    ``t`` must be consecutive frame times starting at a whole second."""
    n = len(t) // FRAME_HZ * FRAME_HZ
    seconds = np.floor(t[:n:FRAME_HZ] + 1e-9).astype(np.int64)
    frames = acc[:n].reshape(-1, FRAME_HZ, 3)
    have = np.isfinite(frames).all(axis=2)
    total = np.where(have[..., None], frames, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / have.sum(axis=1)[:, None]  # packet loss leaves the other frames of the second
    return seconds, _unit(mean)


def _deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angles (deg) between unit vectors along the last axis; NaN where either is NaN."""
    return np.degrees(np.arccos(np.clip(np.sum(a * b, axis=-1), -1.0, 1.0)))


def _unit(v: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return v / row_norms(v, keepdims=True)


def _means(up: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """Mean direction of ``up`` over ``[start, start + width)`` for each start (seconds without
    data left out)."""
    c = np.concatenate((np.zeros((1, 3)), np.cumsum(np.nan_to_num(up), axis=0)))
    return _unit(c[starts + width] - c[starts])


def _medians(up: np.ndarray, starts: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Median direction over each window (NaN if under ``STEADY_SHARE`` of it has data) and the
    share of its seconds that are steady around it (seconds without data are not)."""
    win = up[starts[:, None] + np.arange(width)]  # (C, width, 3)
    have = np.isfinite(win).all(axis=2).mean(axis=1)
    med = _unit(_nanmedian_windows(win))
    med[have < STEADY_SHARE] = np.nan
    return med, (_deg(win, med[:, None, :]) < STEADY_DEG).mean(axis=1)


def rise_s(t: np.ndarray, up: np.ndarray, before: np.ndarray, after: np.ndarray) -> float:
    """Seconds the up directions (frames at times ``t``, unit, NaN for lost frames) take to get
    from 20 % to 80 % of the way from ``before`` to ``after``; inf if they never get there."""
    total = float(_deg(before, after))
    ok = np.isfinite(up).all(axis=1)
    t, up = t[ok], up[ok]
    if not total > 0 or not len(t):
        return np.inf
    way = _deg(up, before[None, :]) / total
    high = np.flatnonzero((way >= 0.8) & (_deg(up, after[None, :]) < 0.5 * total))
    if not len(high):
        return np.inf
    low = np.flatnonzero(way[: high[0]] <= 0.2)
    return float(t[high[0]] - t[low[-1]]) if len(low) else np.inf


def _nanmedian_windows(win: np.ndarray) -> np.ndarray:
    """``np.nanmedian(win, axis=1)`` for (C, width, 3) windows, without its slow path for small
    arrays with NaN: sorted, NaN go last, the middle of the finite values is picked."""
    ordered = np.sort(win, axis=1)
    count = (~np.isnan(win)).sum(axis=1)  # (C, 3)
    lo = np.maximum(count - 1, 0) // 2
    hi = count // 2
    low = np.take_along_axis(ordered, lo[:, None, :], axis=1)[:, 0]
    high = np.take_along_axis(ordered, np.minimum(hi, win.shape[1] - 1)[:, None, :], axis=1)[:, 0]
    med = 0.5 * (low + high)
    med[count == 0] = np.nan  # an all-NaN window stays NaN
    return med


def find_steps(
    seconds: np.ndarray, up: Mapping[str, np.ndarray], posture: np.ndarray, slip_deg: float,
    frames: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> list[Step]:
    """Steps of more than ``slip_deg`` in exactly one trunk sensor. Candidate ``i`` has its
    before window at seconds ``i .. i + BEFORE_S - 1``, the step right after and then the after
    window; every second of it must have the same ``posture`` code (per second, −1 when not
    still). One step per ``SPAN_S`` is reported. ``frames`` (location → frame times and unit up
    directions) is where a ``SHARP_LOCATIONS`` step is timed; without it those are not searched."""
    count = len(seconds) - SPAN_S + 1
    if count <= 0 or len(up) < 2:
        return []
    win = sliding_window_view(posture, SPAN_S)
    ok = (win == win[:, :1]).all(axis=1) & (win[:, 0] >= 0)
    every = np.arange(count)
    steps: list[Step] = []
    skip_until = -1
    frames = frames or {}
    for loc in (x for x in STEP_LOCATIONS if x in up and (x not in SHARP_LOCATIONS or x in frames)):
        u = up[loc]
        rough = _deg(_means(u, every, BEFORE_S), _means(u, every + FIRST_AFTER, AFTER_S))
        cand = np.flatnonzero(ok & (rough > 0.5 * slip_deg))
        if not len(cand):
            continue
        before, steady_b = _medians(u, cand, BEFORE_S)
        after, steady_a = _medians(u, cand + FIRST_AFTER, AFTER_S)
        moved = _deg(before, after)
        edge = ((_deg(u[cand + BEFORE_S - 1], before) < EDGE_DEG)
                & (_deg(u[cand + FIRST_AFTER], after) < EDGE_DEG))
        steady = (steady_b >= STEADY_SHARE) & (steady_a >= STEADY_SHARE)
        hit = edge & steady & (moved > slip_deg) & (moved <= MAX_STEP_DEG)
        own = np.flatnonzero(hit)  # the other sensors' medians only where this one stepped
        for other, v in up.items():
            if other != loc and len(own):
                c = cand[own]
                shift = _deg(_medians(v, c, BEFORE_S)[0], _medians(v, c + FIRST_AFTER, AFTER_S)[0])
                hit[own] &= shift < OTHERS_DEG
        for j in np.flatnonzero(hit).tolist():
            i = int(cand[j])
            if i <= skip_until:
                continue
            if loc in SHARP_LOCATIONS:
                ft, fu = frames[loc]
                sec = int(seconds[i + BEFORE_S])
                near = (ft >= sec - 1) & (ft < sec + GAP_S + 1)
                if rise_s(ft[near], fu[near], before[j], after[j]) > MAX_RISE_S:
                    continue
            steps.append(Step(loc, int(seconds[i + BEFORE_S]), int(posture[i]), before[j], after[j],
                              float(moved[j])))
            skip_until = i + SPAN_S
    return sorted(steps, key=lambda s: s.second)

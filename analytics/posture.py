"""Posture classification (lying / sitting / standing / walking / unknown) from frame features.

Works with any subset of sensors: the thigh says sitting vs standing, the trunk (thorax, else
pelvis) says lying, motion of any sensor says walking. Raw per-frame decisions are cleaned by
minimum bout lengths, since no real posture lasts a fraction of a second.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from posturewatch.analytics.records import Posture
from posturewatch.ingest.frames import runs

__all__ = ["PostureFeatures", "PostureSettings", "classify_frames", "clean_bouts", "runs"]


@dataclass(frozen=True)
class PostureSettings:
    """Thresholds of the classifier (degrees, m/s², seconds)."""

    lying_trunk_tilt: float = 55.0
    lying_thigh_tilt: float = 45.0
    thigh_only_lying_roll: float = 50.0
    sitting_thigh: float = 45.0
    sitting_pelvis_only: float = -8.0
    upright_for_walking: float = 40.0
    walk_motion: dict[str, float] = field(
        default_factory=lambda: {"thigh": 1.6, "pelvis": 0.9, "thorax": 0.9, "head": 0.9}
    )
    min_bout_s: dict[Posture, float] = field(
        default_factory=lambda: {
            Posture.LYING: 10.0,
            Posture.WALKING: 3.0,
            Posture.SITTING: 3.0,
            Posture.STANDING: 2.0,
            Posture.UNKNOWN: 1.0,
        }
    )


@dataclass(slots=True)
class PostureFeatures:
    """Per-frame inputs: per location ``tilt``/``theta``/``roll`` (deg) and ``motion`` (m/s²)."""

    theta: dict[str, np.ndarray]
    tilt: dict[str, np.ndarray]
    roll: dict[str, np.ndarray]
    motion: dict[str, np.ndarray]


def _nanmean_stack(arrays: list[np.ndarray], n: int) -> np.ndarray:
    if not arrays:
        return np.full(n, np.nan)
    stack = np.vstack(arrays)
    valid = np.isfinite(stack)
    cnt = valid.sum(axis=0)
    total = np.where(valid, stack, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, total / np.maximum(cnt, 1), np.nan)


def classify_frames(f: PostureFeatures, s: PostureSettings, n: int) -> np.ndarray:
    """Raw posture code per frame, before bout cleaning."""
    trunk = [f.tilt[loc] for loc in ("thorax", "pelvis") if loc in f.tilt]
    trunk_tilt = _nanmean_stack(trunk, n)
    thigh_tilt = f.tilt.get("thigh", np.full(n, np.nan))
    has_thigh = np.isfinite(thigh_tilt)
    has_trunk = np.isfinite(trunk_tilt)

    lying = has_trunk & (trunk_tilt >= s.lying_trunk_tilt)
    lying &= ~has_thigh | (thigh_tilt >= s.lying_thigh_tilt)
    if "thigh" in f.theta:
        # Thigh alone: side lying rolls it, prone lying turns its front down; supine lying looks
        # exactly like sitting and stays sitting.
        side = np.abs(f.roll["thigh"]) >= s.thigh_only_lying_roll
        prone = f.theta["thigh"] >= s.sitting_thigh
        lying |= ~has_trunk & has_thigh & (side | prone)

    # Motion is judged on the lowest sensor that has data: the thigh sees gait best, the head
    # moves on its own (nodding, looking around) while the body stands still.
    moving = np.zeros(n, bool)
    judged = np.zeros(n, bool)
    for loc in ("thigh", "pelvis", "thorax", "head"):
        m = f.motion.get(loc)
        if m is None:
            continue
        has = np.isfinite(m) & ~judged
        moving[has] = m[has] >= s.walk_motion.get(loc, 1.0)
        judged |= has
    upright = np.where(has_thigh, thigh_tilt, trunk_tilt) < s.upright_for_walking
    walking = moving & upright & ~lying

    seated = -f.theta["thigh"] >= s.sitting_thigh if "thigh" in f.theta else np.zeros(n, bool)
    if "pelvis" in f.theta:
        seated = np.where(has_thigh, seated, f.theta["pelvis"] <= s.sitting_pelvis_only)

    out = np.full(n, Posture.STANDING, np.int8)
    out[seated] = Posture.SITTING
    out[walking] = Posture.WALKING
    out[lying] = Posture.LYING
    out[~(has_thigh | has_trunk)] = Posture.UNKNOWN
    return out


def clean_bouts(labels: np.ndarray, s: PostureSettings, frame_hz: float) -> np.ndarray:
    """Absorb runs shorter than their class's minimum into the longer neighbouring run."""
    out = labels.copy()
    for _ in range(20):
        starts, lengths, values = runs(out)
        if len(starts) <= 1:
            break
        min_len = np.array([s.min_bout_s.get(Posture(v), 1.0) * frame_hz for v in values])
        short = lengths < min_len
        if not short.any():
            break
        # Fix the shortest offenders first so one pass cannot ping-pong two short neighbours.
        order = np.argsort(lengths + np.where(short, 0, 10**9))
        taken = np.zeros(len(starts), bool)
        for i in order[: max(1, short.sum())]:
            if not short[i] or taken[max(i - 1, 0) : i + 2].any():
                continue
            left = lengths[i - 1] if i > 0 else -1
            right = lengths[i + 1] if i + 1 < len(starts) else -1
            j = i - 1 if left >= right else i + 1
            out[starts[i] : starts[i] + lengths[i]] = values[j]
            taken[i] = True
    return out

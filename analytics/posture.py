"""Posture classification (lying / sitting / standing / walking / unknown) from frame features.

Works with any subset of sensors: the thigh says sitting vs standing, the trunk (thorax, else
pelvis) says lying, motion of any sensor says walking. Raw per-frame decisions are cleaned by
minimum bout lengths, since no real posture lasts a fraction of a second.

Lying is told by how far the long axes are from vertical, which does not depend on the roll
about them: supine, prone, either side and semi-reclined all put the trunk far from vertical.
Sagittal inclinations (theta) are only used where they are defined (gravity near the segment's
sagittal plane, see ``ingest.angles.SAGITTAL_LIMIT_DEG``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from posturewatch.analytics.records import Posture
from posturewatch.ingest.angles import SAGITTAL_LIMIT_DEG
from posturewatch.ingest.frames import runs

__all__ = ["PostureFeatures", "PostureSettings", "classify_frames", "clean_bouts", "runs", "sure_lying"]


@dataclass(frozen=True)
class PostureSettings:
    """Thresholds of the classifier (degrees, m/s², seconds)."""

    # Trunk tilt from vertical (mean of thorax and pelvis where both are worn) at which lying
    # begins. Seated, the thorax leans back at most ~35–45° (lounge backrests are 15–35° from
    # vertical, slouching adds ~10°) and the pelvis tips back with it, so the mean stays below
    # ~45°; semi-reclined on a bed, back propped up on pillows 30–35° above the mattress, the
    # thorax is 55–60° from vertical and the pelvis, hips nearly straight, 70–80°, so the mean is
    # ≥ 60°. Supine, prone and side lying put both near 90°. 55° lies between the two groups. A
    # seated forward bend (thorax 60–80° forward) keeps the pelvis within ~30° of vertical: the
    # mean stays below 55° too; the thigh rule below keeps standing bends out.
    lying_trunk_tilt: float = 55.0
    # With a thigh sensor, lying also needs the thigh far from vertical ("horizontal-ish"):
    # lying in any position, and semi-reclined with the legs along the bed, put it at 60–100°;
    # standing and bending over keep it below 20°. 45° is midway.
    lying_thigh_tilt: float = 45.0
    # A worn pelvis must be at least this far from vertical too (sign-free: folded onto 0–90°):
    # seated, slumped or bent forward it stays within ~30°, lying puts it at 70–90°. A thorax far
    # from vertical above an upright pelvis is a sensor lying on the desk, or a full forward bend.
    lying_pelvis_tilt: float = 40.0
    thigh_only_lying_roll: float = 50.0
    sitting_thigh: float = 45.0
    sitting_pelvis_only: float = -8.0
    upright_for_walking: float = 40.0
    walk_motion: dict[str, float] = field(
        default_factory=lambda: {"thigh": 1.6, "pelvis": 0.9, "thorax": 0.9, "head": 0.9}
    )
    # Shortest bouts kept; shorter runs are absorbed into a neighbour. Lying from the trunk alone
    # needs 10 s (a standing forward bend tips the trunk as far for a few seconds); lying that the
    # thigh confirms (far from vertical, as it never is in a standing bend) is kept from
    # ``min_sure_lying_s``, so that lying on a bed for a few seconds is seen. Sitting and standing
    # are told by the thigh at once; under 1.5 s is the middle of a transition.
    min_bout_s: dict[Posture, float] = field(
        default_factory=lambda: {
            Posture.LYING: 10.0,
            Posture.WALKING: 3.0,
            Posture.SITTING: 1.5,
            Posture.STANDING: 1.5,
            Posture.UNKNOWN: 1.0,
        }
    )
    min_sure_lying_s: float = 1.5
    sure_trunk_tilt: float = 75.0


@dataclass(slots=True)
class PostureFeatures:
    """Per-frame inputs: per location ``tilt``/``theta``/``roll`` (deg) and ``motion`` (m/s²).

    ``sign_free`` names the sensors whose mounting is not known (put back on since the last walk,
    maybe the other way round): for them only what does not depend on the sensor's sign counts.
    """

    theta: dict[str, np.ndarray]
    tilt: dict[str, np.ndarray]
    roll: dict[str, np.ndarray]
    motion: dict[str, np.ndarray]
    sign_free: frozenset[str] = frozenset()
    # never learnt, only declared: a guess that may be upside down. Tilts and the thigh are taken
    # sign-free; a pelvis alone keeps its sagittal inclination (there is nothing better to go on)
    guessed: frozenset[str] = frozenset()

    def without(self, location: str) -> PostureFeatures:
        """The features as if ``location`` had never been worn."""
        def drop(d: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return {loc: v for loc, v in d.items() if loc != location}
        return PostureFeatures(drop(self.theta), drop(self.tilt), drop(self.roll), drop(self.motion),
                               self.sign_free - {location}, self.guessed - {location})

    def without_signs(self) -> PostureFeatures:
        """The features a sensor of unknown mounting still gives: how far its long axis is from
        vertical (the tilt folded onto 0–90°: the same upside down) and its motion. Of the
        thigh's sagittal inclination only the size counts (a flip turns θ into −θ or 180° − θ),
        taken as forward, which sitting is; the others' signs decide nothing and are dropped."""
        folded = self.sign_free | self.guessed
        if not folded:
            return self

        def fold(v: np.ndarray) -> np.ndarray:
            v = np.abs(v)
            return np.minimum(v, 180.0 - v)
        tilt = {loc: fold(v) if loc in folded else v for loc, v in self.tilt.items()}
        theta = {loc: -fold(v) if loc == "thigh" and loc in folded else
                 np.full(len(v), np.nan) if loc in self.sign_free else v for loc, v in self.theta.items()}
        return PostureFeatures(theta, tilt, self.roll, self.motion)


def _nanmean_stack(arrays: list[np.ndarray], n: int) -> np.ndarray:
    if not arrays:
        return np.full(n, np.nan)
    stack = np.vstack(arrays)
    valid = np.isfinite(stack)
    cnt = valid.sum(axis=0)
    total = np.where(valid, stack, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, total / np.maximum(cnt, 1), np.nan)


def _defined_thetas(f: PostureFeatures) -> dict[str, np.ndarray]:
    """Thetas with NaN where gravity lies too far out of the sagittal plane to define them."""
    out = {}
    for loc, theta in f.theta.items():
        roll = f.roll.get(loc)
        if roll is None:
            out[loc] = theta
            continue
        with np.errstate(invalid="ignore"):
            out[loc] = np.where(np.abs(roll) > SAGITTAL_LIMIT_DEG, np.nan, theta)
    return out


def classify_frames(f: PostureFeatures, s: PostureSettings, n: int) -> np.ndarray:
    """Raw posture code per frame, before bout cleaning.

    Sensors in ``f.sign_free`` decide by their folded tilt alone: a thigh far from vertical says
    seated, near vertical standing; a trunk far from vertical (with the thigh) says lying.
    """
    f = f.without_signs()
    trunk = [f.tilt[loc] for loc in ("thorax", "pelvis") if loc in f.tilt]
    trunk_tilt = _nanmean_stack(trunk, n)
    thigh_tilt = f.tilt.get("thigh", np.full(n, np.nan))
    has_thigh = np.isfinite(thigh_tilt)
    has_trunk = np.isfinite(trunk_tilt)

    theta = _defined_thetas(f)
    lying = has_trunk & (trunk_tilt >= s.lying_trunk_tilt)
    lying &= ~has_thigh | (thigh_tilt >= s.lying_thigh_tilt)
    pelvis_tilt = f.tilt.get("pelvis")
    if pelvis_tilt is not None:
        with np.errstate(invalid="ignore"):
            upright_pelvis = np.minimum(pelvis_tilt, 180.0 - pelvis_tilt) < s.lying_pelvis_tilt
        lying &= ~upright_pelvis
    if "thigh" in f.theta:
        # Thigh alone: side lying rolls it, prone lying turns its front down; supine lying looks
        # exactly like sitting and stays sitting.
        side = np.abs(f.roll["thigh"]) >= s.thigh_only_lying_roll
        with np.errstate(invalid="ignore"):
            prone = theta["thigh"] >= s.sitting_thigh
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

    seated = np.zeros(n, bool)
    with np.errstate(invalid="ignore"):
        if "thigh" in f.theta:
            # A thigh rolled far out (cross-legged on the floor) has no sagittal angle: then
            # being far from vertical is what says seated.
            seated = np.where(np.isfinite(theta["thigh"]), -theta["thigh"] >= s.sitting_thigh,
                              thigh_tilt >= s.sitting_thigh)
        if "pelvis" in f.theta:
            seated = np.where(has_thigh, seated, theta["pelvis"] <= s.sitting_pelvis_only)

    out = np.full(n, Posture.STANDING, np.int8)
    out[seated] = Posture.SITTING
    out[walking] = Posture.WALKING
    out[lying] = Posture.LYING
    out[~(has_thigh | has_trunk)] = Posture.UNKNOWN
    return out


def sure_lying(f: PostureFeatures, s: PostureSettings, n: int) -> np.ndarray:
    """Frames where lying is beyond doubt: the thigh's long axis far from vertical (either way),
    or without a thigh reading, pelvis and thorax both near horizontal (a standing bend from the
    hips tips the pelvis 55–65°, never that far)."""
    def folded(loc: str) -> np.ndarray:
        tilt = f.tilt.get(loc, np.full(n, np.nan))
        return np.minimum(tilt, 180.0 - tilt)
    thigh = folded("thigh")
    with np.errstate(invalid="ignore"):
        flat_trunk = (folded("pelvis") >= s.sure_trunk_tilt) & (folded("thorax") >= s.sure_trunk_tilt)
        return (thigh >= s.lying_thigh_tilt) | (~np.isfinite(thigh) & flat_trunk)


def clean_bouts(labels: np.ndarray, s: PostureSettings, frame_hz: float,
                sure: np.ndarray | None = None) -> np.ndarray:
    """Absorb runs shorter than their class's minimum into the longer neighbouring run; a lying
    run ``sure`` (thigh-confirmed) in most of its frames (packets get lost) has the shorter
    ``min_sure_lying_s``."""
    out = labels.copy()
    sure_c = None if sure is None else np.concatenate(([0], np.cumsum(sure, dtype=np.int64)))
    for _ in range(20):
        starts, lengths, values = runs(out)
        if len(starts) <= 1:
            break
        min_len = np.array([s.min_bout_s.get(Posture(v), 1.0) * frame_hz for v in values])
        if sure_c is not None:
            confirmed = 2 * (sure_c[starts + lengths] - sure_c[starts]) >= lengths
            min_len[confirmed & (values == Posture.LYING)] = s.min_sure_lying_s * frame_hz
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

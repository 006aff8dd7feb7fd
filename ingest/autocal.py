"""Automatic sensor-to-segment calibration from everyday movement, with no calibration pose.

Walking says which way is up for every segment: while walking, the thigh, pelvis and trunk are
near vertical on average, whichever way the sensor was put on — so an upside-down phone is found
and turned the right way. Quiet standing next to it (thigh vertical, no motion) refines the up
direction; sitting (thigh horizontal, front of the thigh up) says which way the thigh's front
faces, so a thigh sensor worn inside out is found too. Leaning and bending say in which plane the
pelvis and trunk tilt. Everything runs on 1 s means of the accelerometer, so it is cheap enough to
run as a pre-pass over a whole day (``mounting_watch.MountingLearner`` runs it live).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from posturewatch.ingest.frames import FRAME_HZ, SensorFrames, rolling_motion
from posturewatch.ingest.mounting import Calibration, angle_deg, frame_from_axes

log = logging.getLogger(__name__)

SLIP_PIECE_S = 30


@dataclass(frozen=True)
class AutoCalSettings:
    walk_motion: float = 1.0  # std of |acc| over 2 s, m/s², in most sensors
    quiet_motion: float = 0.25
    min_walk_s: float = 8.0
    walk_evidence_s: float = 300.0  # use the first 5 min of walking (a later slip must not leak in)
    min_evidence_s: float = 20.0
    thigh_standing_deg: float = 20.0
    slip_deg: float = 6.0
    standing_after_s: int = 1800  # quiet standing this long after the walking evidence still counts


def seconds(frames: SensorFrames) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per whole second: mean specific force (N, 3), motion (N,), second index (N,)."""
    motion = rolling_motion(frames, 2 * FRAME_HZ)
    n = len(frames) // FRAME_HZ * FRAME_HZ
    acc = np.where(np.isfinite(frames.acc[:n]), frames.acc[:n], 0.0) * frames.n[:n, None]
    cnt = frames.n[:n].reshape(-1, FRAME_HZ).sum(axis=1)
    mean = acc.reshape(-1, FRAME_HZ, 3).sum(axis=1) / np.maximum(cnt, 1)[:, None]
    mean[cnt < 2] = np.nan
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # seconds without data stay NaN
        mot = np.nanmean(motion[:n].reshape(-1, FRAME_HZ), axis=1) if n else np.zeros(0)
    return mean, mot, (frames.k0 + np.arange(0, n, FRAME_HZ)) // FRAME_HZ


def _runs_at_least(mask: np.ndarray, min_len: int) -> np.ndarray:
    """``mask`` keeping only runs of True at least ``min_len`` long."""
    if not mask.any():
        return mask
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    out = np.zeros_like(mask)
    for a, b in zip(starts, ends, strict=True):
        if b - a >= min_len:
            out[a:b] = True
    return out


def _before_first_slip(
    walking: np.ndarray, acc: Mapping[str, np.ndarray], s: AutoCalSettings
) -> tuple[np.ndarray, int | None]:
    """Walking seconds up to the first piece in which some sensor points elsewhere (it slipped),
    and the second that piece starts (None when no slip was seen)."""
    edges = np.diff(np.concatenate(([0], walking.astype(np.int8), [0])))
    bouts = []
    for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
        # Pieces of half a minute: a sensor can slip in the middle of a long walk.
        bouts += [(p, min(p + SLIP_PIECE_S, b)) for p in range(a, b, SLIP_PIECE_S) if b - p >= s.min_walk_s]
    used: list[np.ndarray] = []
    total = 0
    slip_at = None
    for a, b in bouts:
        if used:
            ref = np.concatenate(used)
            moved = max(
                angle_deg(np.nanmean(v[a:b], axis=0), np.nanmean(v[ref], axis=0)) for v in acc.values()
            )
            if moved > s.slip_deg:
                log.info("autocalibration: a sensor moved %.1f° at second %d; evidence ends", moved, a)
                slip_at = int(a)
                break
        used.append(np.arange(a, b))
        total += b - a
        if total >= s.walk_evidence_s:
            break
    idx = np.concatenate(used)[: int(s.walk_evidence_s)] if used else np.zeros(0, np.int64)
    return idx, slip_at


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def autocalibrate(
    frames: Mapping[str, SensorFrames],
    declared: Mapping[str, Calibration],
    s: AutoCalSettings | None = None,
) -> dict[str, Calibration]:
    """Calibrations for every location in ``frames``, refined from the data where it allows.

    ``frames`` must have been reduced from raw accelerometer data and share ``k0`` and length.
    """
    return autocalibrate_seconds({loc: seconds(f)[:2] for loc, f in frames.items()}, declared, s)


def autocalibrate_seconds(
    per: Mapping[str, tuple[np.ndarray, np.ndarray]],
    declared: Mapping[str, Calibration],
    s: AutoCalSettings | None = None,
) -> dict[str, Calibration]:
    """The same from per-second mean specific force (N, 3) and motion (N,) on one shared second
    grid (what a streaming pre-pass keeps of a long recording)."""
    s = s or AutoCalSettings()
    out = dict(declared)
    if not per:
        return out
    n = min(len(v[1]) for v in per.values())
    acc = {loc: v[0][:n] for loc, v in per.items()}
    motion = np.vstack([v[1][:n] for v in per.values()])
    moving = np.nan_to_num(motion, nan=0.0) >= s.walk_motion
    walking = _runs_at_least(moving.sum(axis=0) * 2 > len(per), int(s.min_walk_s))
    walk_idx, slip_at = _before_first_slip(walking, acc, s)
    if len(walk_idx) < s.min_evidence_s:
        log.info("autocalibration: %d s of walking, too little; keeping declared mountings", len(walk_idx))
        return out
    quiet = (np.nan_to_num(motion, nan=np.inf) < s.quiet_motion).all(axis=0)
    # Standing near the walking evidence, never after a slip (it would describe another mounting).
    quiet[slip_at if slip_at is not None else walk_idx[-1] + 1 + s.standing_after_s :] = False
    walk_up = {loc: _unit(np.nanmean(a[walk_idx], axis=0)) for loc, a in acc.items()}
    standing = None
    if "thigh" in acc:
        up_t = acc["thigh"] / np.linalg.norm(acc["thigh"], axis=1, keepdims=True)
        near = np.degrees(np.arccos(np.clip(up_t @ walk_up["thigh"], -1, 1))) < s.thigh_standing_deg
        standing = np.flatnonzero(quiet & near)
    for loc, a in acc.items():
        cal = declared[loc]
        notes = []
        up = walk_up[loc]
        source = "walking"
        if standing is not None and len(standing) >= s.min_evidence_s:
            up = _unit(np.nanmedian(a[standing], axis=0))
            source = "walking+standing"
        if angle_deg(up, cal.R[0]) > 90:
            notes.append(f"{loc}: sensor is upside down relative to the declared mounting; corrected")
        anterior = _anterior(loc, a, up, cal.R[1], s)
        if anterior is not None and angle_deg(anterior, cal.R[1]) > 90:
            notes.append(f"{loc}: sensor faces the other way (inside out); corrected")
        R = frame_from_axes(up, anterior if anterior is not None else cal.R[1])
        out[loc] = replace(cal, R=R, source=source, walk_up=walk_up[loc], notes=cal.notes + tuple(notes))
        for note in notes:
            log.info(note)
    return out


def _anterior(loc: str, acc: np.ndarray, up: np.ndarray, declared: np.ndarray, s: AutoCalSettings):
    """The anterior axis from how the segment tilts away from ``up``, or None without evidence."""
    g = acc / np.linalg.norm(acc, axis=1, keepdims=True)
    g = g[np.isfinite(g).all(axis=1)]
    tilt = np.degrees(np.arccos(np.clip(g @ up, -1, 1)))
    horiz = g - np.outer(g @ up, up)
    if loc == "thigh":
        # Seated (and supine) the front of the thigh faces up; prone lying is the rarer exception.
        pick = horiz[(tilt > 60) & (tilt < 120)]
        if len(pick) < 60:
            return None
        mean = pick.mean(axis=0)
        return _unit(mean) if np.linalg.norm(mean) > 0.5 else None
    if loc not in ("pelvis", "thorax"):
        return None
    pick = horiz[(tilt > 8) & (tilt < 70)]
    if len(pick) < 60:
        return None
    # The sagittal plane is where leaning and bending happen; its sign comes from the declaration.
    cov = pick.T @ pick / len(pick)
    w, v = np.linalg.eigh(cov)
    if w[-1] < 2 * w[-2]:
        return None
    axis = v[:, -1]
    return axis if np.dot(axis, declared) >= 0 else -axis

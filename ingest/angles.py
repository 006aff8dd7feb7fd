"""Heading-free segment angles of docs/architecture.md §3 from up directions in segment axes.

Only the gravity direction is used, so magnetic disturbance and heading drift cannot touch them.

A sagittal inclination is the direction of gravity *within* the segment's sagittal plane. When
gravity lies far across that plane (lying on the side: the long axis is horizontal and gravity
points out of the segment's left or right side) only a small component of it is left in the
plane, and the angle of that component is swamped by noise and calibration error. Such angles
are reported as undefined (NaN, with a flag in ``angle_quality``), never as a number.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from posturewatch.ingest.records import ANGLE_NAMES

SAGITTAL_LIMIT_DEG = 60.0
"""Gravity further than this out of a segment's sagittal plane leaves its theta undefined.

The in-plane part of gravity shrinks with cos(out-of-plane angle), so an error of the gravity
direction (fusion, residual calibration error, soft tissue: 1–2° is typical) becomes an error of
theta up to 1/cos times larger. At 60° that factor is 2: a 1.5° error of the up direction stays
within the ±3° the canonical postures are held to; beyond it the angle is noise. Since the long
axis' share of gravity is at most cos(60°), every undefined segment is also at least 60° from
vertical, i.e. its long axis is near horizontal (lying on the side, not a sideways lean while up).
"""

# Segments each angle is computed from: an angle is undefined when any of them is.
ANGLE_SEGMENTS: dict[str, tuple[str, ...]] = {
    "pelvic_tilt": ("pelvis",),
    "thigh_inclination": ("thigh",),
    "hip_flexion": ("thigh", "pelvis"),
    "trunk_inclination": ("thorax",),
    "lumbar_flexion": ("thorax", "pelvis"),
    "neck_flexion": ("head", "thorax"),
}

UNDEFINED_BIT: dict[str, int] = {name: 1 << i for i, name in enumerate(ANGLE_NAMES)}
"""Bit of ``angle_quality`` set when that angle is undefined in the frame (bit i = ANGLE_NAMES[i]).

A segment it needs being undefined sets it even if another one is missing in that frame; a clear
bit with a NaN angle means the angle is missing (no sensor data), not undefined.
"""


def wrap_deg(angle: np.ndarray) -> np.ndarray:
    """Angles in degrees wrapped to (−180, 180]; NaN stays NaN."""
    return 180.0 - np.mod(180.0 - np.asarray(angle, dtype=float), 360.0)


def sagittal_inclination(up_seg: np.ndarray) -> np.ndarray:
    """theta = atan2(−up_anterior, up_superior) in degrees: + when the segment's top moves forward.

    The raw value, defined or not: see ``sagittal_undefined``.
    """
    return np.degrees(np.arctan2(-up_seg[:, 1], up_seg[:, 0]))


def tilt_from_vertical(up_seg: np.ndarray) -> np.ndarray:
    """Angle between the segment's superior axis and vertical, any direction, in degrees."""
    return np.degrees(np.arccos(np.clip(up_seg[:, 0], -1.0, 1.0)))


def lateral_roll(up_seg: np.ndarray) -> np.ndarray:
    """Sideways lean in degrees: + when the segment's top moves to the right (up leans left).

    Its magnitude is how far gravity lies out of the sagittal plane.
    """
    return np.degrees(np.arcsin(np.clip(up_seg[:, 2], -1.0, 1.0)))


def sagittal_undefined(up_seg: np.ndarray, limit_deg: float = SAGITTAL_LIMIT_DEG) -> np.ndarray:
    """True where gravity lies more than ``limit_deg`` out of the segment's sagittal plane.

    Frames without data (NaN) are False: they are missing, not undefined.
    """
    with np.errstate(invalid="ignore"):
        return np.abs(up_seg[:, 2]) > np.sin(np.radians(limit_deg))


def segment_angles(
    theta: Mapping[str, np.ndarray], n: int, undefined: Mapping[str, np.ndarray] | None = None
) -> dict[str, np.ndarray]:
    """docs/architecture.md §3 angles from each present segment's theta (degrees), wrapped to (−180, 180].

    NaN where a segment is missing or, per ``undefined`` (location → bool per frame), where its
    theta is undefined. The pelvis and thorax thetas must already be relative to neutral standing
    (the calibration makes the superior axis the neutral-standing up direction).
    """
    nan = np.full(n, np.nan)
    undefined = undefined or {}

    def seg(loc: str) -> np.ndarray:
        values = np.asarray(theta.get(loc, nan), dtype=float)
        bad = undefined.get(loc)
        return values if bad is None else np.where(bad, np.nan, values)

    pelvis, thorax, thigh, head = seg("pelvis"), seg("thorax"), seg("thigh"), seg("head")
    out = {
        "pelvic_tilt": pelvis,
        "thigh_inclination": -thigh,
        "trunk_inclination": thorax,
        "neck_flexion": head - thorax,
        "hip_flexion": pelvis - thigh,
        "lumbar_flexion": thorax - pelvis,
    }
    return {name: wrap_deg(out[name]) for name in ANGLE_NAMES}


def angle_quality(undefined: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    """(n,) uint8 bitmask per frame: ``UNDEFINED_BIT[name]`` set where that angle is undefined."""
    quality = np.zeros(n, np.uint8)
    for name, segments in ANGLE_SEGMENTS.items():
        bad = np.zeros(n, bool)
        for loc in segments:
            if loc in undefined:
                bad |= np.asarray(undefined[loc], dtype=bool)
        quality[bad] |= np.uint8(UNDEFINED_BIT[name])
    return quality


def undefined_mask(quality: np.ndarray, name: str) -> np.ndarray:
    """Frames in which angle ``name`` is undefined, from an ``angle_quality`` bitmask."""
    return (np.asarray(quality) & UNDEFINED_BIT[name]) != 0

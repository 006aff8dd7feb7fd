"""Heading-free segment angles of DESIGN §3 from up directions in segment axes.

Only the gravity direction is used, so magnetic disturbance and heading drift cannot touch them.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from posturewatch.ingest.records import ANGLE_NAMES


def sagittal_inclination(up_seg: np.ndarray) -> np.ndarray:
    """theta = atan2(−up_anterior, up_superior) in degrees: + when the segment's top moves forward."""
    return np.degrees(np.arctan2(-up_seg[:, 1], up_seg[:, 0]))


def tilt_from_vertical(up_seg: np.ndarray) -> np.ndarray:
    """Angle between the segment's superior axis and vertical, any direction, in degrees."""
    return np.degrees(np.arccos(np.clip(up_seg[:, 0], -1.0, 1.0)))


def lateral_roll(up_seg: np.ndarray) -> np.ndarray:
    """Sideways lean in degrees: + when the segment's top moves to the right (up leans left)."""
    return np.degrees(np.arcsin(np.clip(up_seg[:, 2], -1.0, 1.0)))


def segment_angles(theta: Mapping[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """DESIGN §3 angles from each present segment's theta (degrees); NaN where a segment is missing.

    The pelvis and thorax thetas must already be relative to neutral standing (the calibration
    makes the superior axis the neutral-standing up direction).
    """
    nan = np.full(n, np.nan)
    pelvis = theta.get("pelvis", nan)
    thorax = theta.get("thorax", nan)
    thigh = theta.get("thigh", nan)
    head = theta.get("head", nan)
    out = {
        "pelvic_tilt": pelvis,
        "thigh_inclination": -thigh,
        "trunk_inclination": thorax,
        "neck_flexion": head - thorax,
    }
    out["hip_flexion"] = out["thigh_inclination"] + pelvis
    out["lumbar_flexion"] = thorax - pelvis
    return {name: np.asarray(out[name], dtype=float) for name in ANGLE_NAMES}

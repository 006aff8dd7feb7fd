"""Rigid-body geometry of the synthetic wearer: segment frames, sensor mountings, truth angles.

World frame: x east, y north, z up (ENU). Segment frame axes are (superior, anterior, left),
right-handed in that order. A segment's orientation is built as heading ψ about world z, then the
sagittal inclination θ about the segment's left axis (positive when the top of the segment moves
forward), then a lateral roll φ about the segment's superior axis:

    R_seg = Rz(ψ) · B · R_left(θ) · R_sup(φ)

where ``B`` maps the upright segment frame into the world (superior → up, anterior → heading
direction, left → left of it). ``R_seg`` turns segment coordinates into world coordinates.

Everything here is computed independently of the analytics/ingest angle code: it is the truth
the pipeline is scored against.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

GRAVITY = 9.81  # m/s², the brief's value for the synthetic world
EARTH_FIELD_UT = np.array([0.0, 20.0, -45.0])  # µT in ENU: 20 µT north, 45 µT down

# Upright segment frame (superior, anterior, left) in world axes at heading 0 (facing east).
BASE = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])

# Default mountings (docs/architecture.md §3): columns are the sensor x, y, z axes in segment coordinates
# (superior, anterior, left).
MOUNTINGS: dict[str, np.ndarray] = {
    # worn on the back: x superior, z = −anterior (out of the back), y = left
    "pelvis": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]),
    "thorax": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]),
    # worn on the front of the thigh: x superior, z anterior, y = right
    "thigh": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]),
    # worn on the side of the head: x superior, y anterior, z = left
    "head": np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]),
}

# A sensor put on wrongly, as a 180° turn in sensor axes applied after the mounting.
FLIPS: dict[str, np.ndarray] = {
    "upside_down": np.diag([-1.0, -1.0, 1.0]),  # x points down the segment
    "inside_out": np.diag([1.0, -1.0, -1.0]),  # z faces the skin
    "both": np.diag([-1.0, 1.0, -1.0]),
}


def _rot_x(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([o, z, z, z, c, -s, z, s, c], axis=-1).reshape(*np.shape(a), 3, 3)


def _rot_z(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([c, -s, z, s, c, z, z, z, o], axis=-1).reshape(*np.shape(a), 3, 3)


def segment_rotation(heading_deg: ArrayLike, theta_deg: ArrayLike,
                     roll_deg: ArrayLike) -> np.ndarray:
    """(N, 3, 3) segment → world rotations from heading, sagittal inclination and roll (degrees).

    Equals ``Rz(ψ) · BASE · R_left(θ) · R_sup(φ)``: in segment coordinates (s, a, l) the
    inclination turns about l (s toward a) and the roll about s (a toward l); both right-handed,
    so θ > 0 tips the superior axis forward. Written out in closed form for speed.
    """
    psi = np.radians(np.asarray(heading_deg, dtype=float))
    th = np.radians(np.asarray(theta_deg, dtype=float))
    ph = np.radians(np.asarray(roll_deg, dtype=float))
    cp, sp = np.cos(psi), np.sin(psi)
    ct, st = np.cos(th), np.sin(th)
    cf, sf = np.cos(ph), np.sin(ph)
    # rows of BASE · R_left(θ) · R_sup(φ)
    x0 = (st, ct * cf, -ct * sf)
    x1 = (np.zeros_like(st), sf, cf)
    x2 = (ct, -st * cf, st * sf)
    out = np.empty((*np.shape(th), 3, 3))
    for j in range(3):
        out[..., 0, j] = cp * x0[j] - sp * x1[j]
        out[..., 1, j] = sp * x0[j] + cp * x1[j]
        out[..., 2, j] = x2[j]
    return out


def reference_segment_rotation(heading_deg: ArrayLike, theta_deg: ArrayLike,
                               roll_deg: ArrayLike) -> np.ndarray:
    """``segment_rotation`` as the literal product of elementary rotations (for checking)."""
    psi, th, ph = (np.radians(np.asarray(a, dtype=float)) for a in (heading_deg, theta_deg,
                                                                      roll_deg))
    return _rot_z(psi) @ BASE @ _rot_z(th) @ _rot_x(ph)


def rotation_vector(r: np.ndarray) -> np.ndarray:
    """(N, 3) rotation vectors of (N, 3, 3) rotations with angles below π."""
    vee = np.stack([r[:, 2, 1] - r[:, 1, 2], r[:, 0, 2] - r[:, 2, 0], r[:, 1, 0] - r[:, 0, 1]], 1)
    sin2 = np.linalg.norm(vee, axis=1)  # 2 sin(angle)
    cos2 = r[:, 0, 0] + r[:, 1, 1] + r[:, 2, 2] - 1.0  # 2 cos(angle)
    angle = np.arctan2(sin2, cos2)
    small = sin2 < 1e-12
    scale = np.where(small, 0.5, angle / np.where(small, 1.0, sin2))
    return vee * scale[:, None]


def sagittal_theta(r_seg: np.ndarray) -> np.ndarray:
    """Sagittal theta in degrees: atan2(−up_anterior, up_superior) with up in segment axes."""
    up = r_seg[..., 2, :]  # world z expressed in segment coordinates = third row of R_seg
    return np.degrees(np.arctan2(-up[..., 1], up[..., 0]))


def truth_angles(
    theta_pelvis: np.ndarray,
    theta_thigh: np.ndarray,
    theta_thorax: np.ndarray,
    theta_head: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Segment angles from the segments' sagittal thetas (neutral standing is θ = 0)."""
    pelvic_tilt = theta_pelvis
    thigh_inclination = -theta_thigh
    trunk = theta_thorax
    neck = (
        np.full_like(pelvic_tilt, np.nan) if theta_head is None else theta_head - theta_thorax
    )
    return {
        "pelvic_tilt": pelvic_tilt,
        "thigh_inclination": thigh_inclination,
        "hip_flexion": thigh_inclination + pelvic_tilt,
        "trunk_inclination": trunk,
        "lumbar_flexion": trunk - pelvic_tilt,
        "neck_flexion": neck,
    }


def axis_angle_matrix(axis: np.ndarray, angle_rad: float) -> np.ndarray:
    """Rotation matrix of ``angle_rad`` about the unit ``axis`` (Rodrigues)."""
    axis = np.asarray(axis, dtype=float)
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    return np.eye(3) + np.sin(angle_rad) * k + (1.0 - np.cos(angle_rad)) * (k @ k)


def mounting_matrix(location: str, flip: str | None = None) -> np.ndarray:
    """Sensor → segment rotation of the declared mounting, with an optional flip."""
    m = MOUNTINGS[location]
    return m if flip is None else m @ FLIPS[flip]

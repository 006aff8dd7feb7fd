"""Sensor-to-segment rotations: declared mountings, and calibrations refined from data.

A calibration is a rotation matrix ``R`` whose rows are the segment's ``superior``, ``anterior``
and ``left`` axes written in sensor coordinates, so ``R @ v_sensor`` is ``v`` in segment axes.
It starts from the mounting declared in the config (documented defaults) and is refined from a
standing-neutral pose when one is given, or automatically (see ``autocalibrate``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

AXES = {"x": 0, "y": 1, "z": 2}

DEFAULT_MOUNTING: dict[str, tuple[str, str]] = {
    "pelvis": ("x", "-z"),
    "thorax": ("x", "-z"),
    "thigh": ("x", "z"),
    "head": ("x", "y"),
}
"""(superior, anterior) sensor axes per location when the config declares nothing."""


def axis_vector(spec: str) -> np.ndarray:
    """Unit vector for an axis spec such as ``"x"``, ``"-z"`` or ``"+y"``."""
    s = spec.strip().lower()
    sign = -1.0 if s.startswith("-") else 1.0
    name = s.lstrip("+-")
    if name not in AXES:
        raise ValueError(f"bad axis {spec!r}: expected x, y or z with an optional sign")
    v = np.zeros(3)
    v[AXES[name]] = sign
    return v


def frame_from_axes(superior: np.ndarray, anterior: np.ndarray) -> np.ndarray:
    """Rotation with rows (superior, anterior, left); anterior is made orthogonal to superior."""
    s = superior / np.linalg.norm(superior)
    a = anterior - np.dot(anterior, s) * s
    norm = np.linalg.norm(a)
    if norm < 1e-6:
        raise ValueError("anterior axis is parallel to superior axis")
    a = a / norm
    return np.vstack((s, a, np.cross(s, a)))


@dataclass(frozen=True)
class Calibration:
    """Sensor→segment rotation for one location and how it was obtained.

    ``walk_up`` is the mean up direction (sensor axes) seen while walking when it was set: later
    walking bouts compared against it reveal a slipped sensor. ``notes`` says what was found
    (flips, slips) for reports and logs.
    """

    location: str
    R: np.ndarray
    source: str = "declared"
    walk_up: np.ndarray | None = None
    notes: tuple[str, ...] = field(default=())

    @classmethod
    def declared(cls, location: str, superior: str | None = None, anterior: str | None = None) -> Calibration:
        ds, da = DEFAULT_MOUNTING[location]
        s, a = axis_vector(superior or ds), axis_vector(anterior or da)
        if abs(np.dot(s, a)) > 0.5:
            raise ValueError(f"{location}: superior {superior!r} and anterior {anterior!r} are parallel")
        return cls(location, frame_from_axes(s, a))

    def to_segment(self, v: np.ndarray) -> np.ndarray:
        """Vectors (N, 3) in sensor axes → segment axes (superior, anterior, left)."""
        return v @ self.R.T

    def with_superior(self, up: np.ndarray, source: str, note: str | None = None) -> Calibration:
        """A calibration whose superior axis is ``up`` (sensor axes), anterior kept as close as can be."""
        R = frame_from_axes(up, self.R[1])
        notes = self.notes + ((note,) if note else ())
        return replace(self, R=R, source=source, notes=notes)

    def rotated(self, old_up: np.ndarray, new_up: np.ndarray, note: str) -> Calibration:
        """Follow a sensor that slipped: the direction that was ``old_up`` now reads ``new_up``."""
        rot = rotation_between(new_up, old_up)
        return replace(self, R=self.R @ rot, walk_up=new_up, notes=self.notes + (note,))


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation matrix taking unit direction ``a`` onto ``b``."""
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    v = np.cross(a, b)
    c = float(np.dot(a, b))
    if c < -0.999999:  # opposite: any perpendicular axis will do
        axis = np.cross(a, [1.0, 0, 0] if abs(a[0]) < 0.9 else [0, 1.0, 0])
        axis /= np.linalg.norm(axis)
        return 2 * np.outer(axis, axis) - np.eye(3)
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx / (1 + c)


def angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    """Angle between two directions in degrees."""
    c = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.degrees(np.arccos(np.clip(c, -1, 1))))


def from_pose(declared: Calibration, still_acc: np.ndarray) -> Calibration:
    """Calibrate from a neutral standing pose: the mean specific force over a still window is up."""
    up = np.asarray(still_acc, float).reshape(-1, 3).mean(axis=0)
    if not np.isfinite(up).all() or np.linalg.norm(up) < 5.0:
        raise ValueError(f"{declared.location}: calibration pose has no usable gravity reading")
    return declared.with_superior(up, "pose")

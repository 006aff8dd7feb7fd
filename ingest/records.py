"""Typed records that flow out of ingest: raw sensor sample blocks, locations and angle names.

Every later stage talks in these; they hold numpy arrays of many samples, never one sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

LOCATIONS: tuple[str, ...] = ("pelvis", "thigh", "thorax", "head")
"""Body locations a sensor can be worn at, in the order files and reports list them."""

ANGLE_NAMES: tuple[str, ...] = (
    "pelvic_tilt",
    "thigh_inclination",
    "hip_flexion",
    "trunk_inclination",
    "lumbar_flexion",
    "neck_flexion",
)
"""Segment angles of docs/architecture.md §3, in degrees at every boundary."""

GRAVITY = 9.80665


def row_norms(v: np.ndarray, keepdims: bool = False) -> np.ndarray:
    """Length of each 3-vector along the last axis: what ``np.linalg.norm(v, axis=-1)`` gives,
    bit for bit (the same squares summed in the same order, in ``v``'s precision), without its
    temporary copies — several times faster on many rows."""
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    out = np.sqrt(x * x + y * y + z * z)
    return out[..., None] if keepdims else out


@dataclass(slots=True)
class SensorBlock:
    """Consecutive samples of one sensor on the host clock.

    ``t`` is (N,) float64 Unix seconds, ``acc`` (N, 3) m/s² (gravity included), ``gyr`` (N, 3)
    rad/s or None for accelerometer-only sensors, ``mag`` (N, 3) µT or None.
    """

    location: str
    t: np.ndarray
    acc: np.ndarray
    gyr: np.ndarray | None = None
    mag: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.location not in LOCATIONS:
            raise ValueError(f"unknown location {self.location!r}; expected one of {LOCATIONS}")
        n = len(self.t)
        for name in ("acc", "gyr", "mag"):
            arr = getattr(self, name)
            if arr is not None and arr.shape != (n, 3):
                raise ValueError(f"{self.location}.{name} has shape {arr.shape}, expected ({n}, 3)")

    def __len__(self) -> int:
        return len(self.t)

    @classmethod
    def concat(cls, parts: Sequence[SensorBlock]) -> SensorBlock:
        """One block of consecutive ``parts`` of the same sensor; a channel missing in any part
        (e.g. gyro on one side of a mode change) is left out of the result."""
        if not parts:
            raise ValueError("concat needs at least one block")
        if len({p.location for p in parts}) != 1:
            raise ValueError("concat joins blocks of one location only")

        def joined(name: str) -> np.ndarray | None:
            arrays = [getattr(p, name) for p in parts]
            return None if any(a is None for a in arrays) else np.concatenate(arrays)

        return cls(parts[0].location, joined("t"), joined("acc"), joined("gyr"), joined("mag"))

    def slice(self, start: int, stop: int) -> SensorBlock:
        """The samples ``[start, stop)`` as a new block sharing memory with this one."""
        return SensorBlock(
            self.location,
            self.t[start:stop],
            self.acc[start:stop],
            None if self.gyr is None else self.gyr[start:stop],
            None if self.mag is None else self.mag[start:stop],
        )


"""Typed records that flow out of ingest: raw sensor sample blocks and segment-angle blocks.

Every later stage talks in these; they hold numpy arrays of many samples, never one sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
"""Segment angles of DESIGN §3, in degrees at every boundary."""

GRAVITY = 9.80665


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

    def slice(self, start: int, stop: int) -> SensorBlock:
        """The samples ``[start, stop)`` as a new block sharing memory with this one."""
        return SensorBlock(
            self.location,
            self.t[start:stop],
            self.acc[start:stop],
            None if self.gyr is None else self.gyr[start:stop],
            None if self.mag is None else self.mag[start:stop],
        )


@dataclass(slots=True)
class AngleBlock:
    """Segment angles and posture features on the common analysis clock.

    ``angles`` maps every name in ``ANGLE_NAMES`` to an (M,) float array in degrees, NaN where
    the sensors it needs are absent or in a gap. ``tilt`` maps each present location to the
    segment's full angle from vertical (any direction, degrees) and ``roll`` to its sideways
    component; ``motion`` is the (M,) dynamic-acceleration intensity (m/s², RMS over the frame)
    per location, and ``cadence`` the (M,) step-frequency estimate in Hz (NaN when not periodic).
    """

    t: np.ndarray
    angles: dict[str, np.ndarray]
    tilt: dict[str, np.ndarray] = field(default_factory=dict)
    roll: dict[str, np.ndarray] = field(default_factory=dict)
    motion: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.t)

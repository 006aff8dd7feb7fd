"""What an emulated sensor measures: physical acc/gyro/mag in its own axes at given host times.

:class:`SwayMotion` is a self-contained signal (the wearer standing, swaying gently in the
sagittal plane around a per-location lean) that needs nothing else. :class:`WearerMotion`
adapts the synthetic wearer of ``posturewatch.simulators`` (``iter_blocks(config, chunk_s)``),
interpolating its blocks onto the emulator's sample times.
"""

from __future__ import annotations

import math
import zlib
from typing import Protocol

import numpy as np

from posturewatch.ingest.records import GRAVITY

EARTH_FIELD_UT = np.array([20.0, 0.0, -44.0])  # horizontal north, vertical down (mid-Europe)


class MotionSource(Protocol):
    def sample(self, location: str, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(acc m/s², gyr rad/s, mag µT), each (len(t), 3), in the sensor's axes."""
        ...


class SwayMotion:
    """Standing with a slow sagittal sway; the sensor's x axis points up the segment.

    ``lean_deg`` is a per-location forward lean, ``sway_deg``/``sway_hz`` the sway, ``noise``
    the standard deviation of white noise added to acc (m/s²) and 1/50 of it to gyro (rad/s).
    """

    def __init__(
        self,
        *,
        lean_deg: dict[str, float] | None = None,
        sway_deg: float = 0.5,
        sway_hz: float = 0.2,
        noise: float = 0.02,
        seed: int = 0,
    ) -> None:
        self.lean_deg = lean_deg or {"pelvis": 5.0, "thigh": 0.0, "thorax": 10.0, "head": 15.0}
        self.sway = math.radians(sway_deg)
        self.sway_w = 2 * math.pi * sway_hz
        self.noise = noise
        self.rng = np.random.default_rng(seed)

    def sample(self, location: str, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t = np.asarray(t, dtype=np.float64)
        # crc32, not hash(): str hashes change with PYTHONHASHSEED, so runs would differ
        phase = (zlib.crc32(location.encode()) % 1000) / 1000 * 2 * math.pi
        lean = math.radians(self.lean_deg.get(location, 0.0))
        theta = lean + self.sway * np.sin(self.sway_w * t + phase)
        rate = self.sway * self.sway_w * np.cos(self.sway_w * t + phase)
        c, s = np.cos(theta), np.sin(theta)
        zero = np.zeros_like(theta)
        # A tilt about the sensor's y axis: gravity's reaction leaves x toward z.
        acc = GRAVITY * np.column_stack([c, zero, s])
        gyr = np.column_stack([zero, rate, zero])
        ex, _, ez = EARTH_FIELD_UT
        mag = np.column_stack([-ez * c + ex * s, zero + EARTH_FIELD_UT[1], -ez * s - ex * c])
        if self.noise:
            n = len(t)
            acc = acc + self.rng.normal(0.0, self.noise, (n, 3))
            gyr = gyr + self.rng.normal(0.0, self.noise / 50, (n, 3))
            mag = mag + self.rng.normal(0.0, self.noise * 10, (n, 3))
        return acc, gyr, mag


class WearerMotion:
    """The synthetic wearer's sensor streams, interpolated onto the emulator's sample times.

    ``blocks`` iterates :class:`~posturewatch.ingest.records.SensorBlock` objects or dicts of
    them by location (what ``posturewatch.simulators.iter_blocks`` yields); the wearer's
    timeline is shifted so it starts at ``start`` on the host clock.
    """

    def __init__(self, blocks, start: float, fallback: MotionSource | None = None) -> None:
        self._blocks = iter(blocks)
        self._start = start
        self._origin: float | None = None
        self._fallback = fallback or SwayMotion()
        self._buffer: dict[str, list[np.ndarray]] = {}
        self._t_end: dict[str, float] = {}
        self._exhausted = False

    def _fill_until(self, location: str, t_needed: float) -> None:
        while self._t_end.get(location, -math.inf) < t_needed and not self._exhausted:
            try:
                item = next(self._blocks)
            except StopIteration:
                self._exhausted = True
                return
            for block in item.values() if isinstance(item, dict) else (item,):
                self._add(block)

    def _add(self, block) -> None:
        if len(block.t) == 0:  # a sensor lost the whole window: nothing to interpolate from
            return
        if self._origin is None:
            self._origin = float(block.t[0])
        t = np.asarray(block.t) - self._origin + self._start
        gyr = block.gyr if block.gyr is not None else np.zeros_like(block.acc)
        mag = block.mag if block.mag is not None else np.tile(EARTH_FIELD_UT, (len(t), 1))
        self._buffer.setdefault(block.location, []).append(np.column_stack([t, block.acc, gyr, mag]))
        self._t_end[block.location] = float(t[-1])

    def sample(self, location: str, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t = np.asarray(t, dtype=np.float64)
        self._fill_until(location, float(t[-1]))
        parts = self._buffer.get(location)
        if not parts:
            return self._fallback.sample(location, t)
        rows = parts[0] if len(parts) == 1 else np.concatenate(parts)
        keep_from = np.searchsorted(rows[:, 0], t[0] - 1.0)
        if keep_from > 1 or len(parts) > 1:
            rows = rows[max(0, keep_from - 1):]
            self._buffer[location] = [rows]
        # linear interpolation of all nine columns at once (np.interp per column costs 9 calls)
        times = rows[:, 0]
        if len(times) < 2:
            out = np.repeat(rows[:1, 1:], len(t), axis=0)
        else:
            i = np.minimum(np.maximum(np.searchsorted(times, t), 1), len(times) - 1)
            span = times[i] - times[i - 1]
            w = (t - times[i - 1]) / np.where(span > 0, span, 1.0)
            w = np.minimum(np.maximum(w, 0.0), 1.0)[:, None]  # held at the ends, as np.interp does
            out = rows[i - 1, 1:] * (1.0 - w) + rows[i, 1:] * w
        return out[:, 0:3], out[:, 3:6], out[:, 6:9]

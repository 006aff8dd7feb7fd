"""The pipeline's working state between pushes: per-sensor fusion and framing (``SensorState``)
and the frames made but not yet final in posture (``PendingFrames``); and ``worn_only``, which
leaves sensors known to be off the body out of the posture."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from posturewatch.ingest.frames import FRAME_HZ, SensorFrames, reduce_to_frames, rolling_motion
from posturewatch.ingest.fusion import GravityTracker
from posturewatch.ingest.records import ANGLE_NAMES, SensorBlock

MOTION_WINDOW_FRAMES = 2 * FRAME_HZ


class SensorState:
    """Per-location state: fusion filter, samples not yet framed, a tail of frames for motion."""

    def __init__(self, location: str) -> None:
        self.location = location
        self.tracker: GravityTracker | None = None
        self.t = np.zeros(0)
        self.up = np.zeros((0, 3))
        self.acc = np.zeros((0, 3))
        self.tail: SensorFrames | None = None
        self.waiting: list[SensorBlock] = []

    def add(self, block: SensorBlock) -> None:
        """Fuse a block into up directions (the filter starts once the sample rate is known)."""
        if self.tracker is None:  # need a few samples to know the rate
            self.waiting.append(block)
            t = np.concatenate([b.t for b in self.waiting])
            steps = np.diff(t)
            steps = steps[steps > 0]
            if len(steps) < 7:
                return
            rate = 1.0 / float(np.median(steps))
            self.tracker = GravityTracker(rate)
            blocks, self.waiting = self.waiting, []
        else:
            blocks = [block]
        for b in blocks:
            up = self.tracker.update(b.t, b.acc, b.gyr)
            self.t = np.concatenate((self.t, b.t))
            self.up = np.concatenate((self.up, up))
            self.acc = np.concatenate((self.acc, b.acc))

    def add_all(self, blocks: list[SensorBlock]) -> None:
        """``add`` each block in turn, the buffers joined once. The filter gets a minute at a
        time still: its temporaries then stay in the processor's cache (one call over ten
        minutes is slower, not faster)."""
        if self.tracker is None or len(blocks) == 1:
            for b in blocks:
                self.add(b)
            return
        ups = [self.tracker.update(b.t, b.acc, b.gyr) for b in blocks]
        self.t = np.concatenate((self.t, *(b.t for b in blocks)))
        self.up = np.concatenate((self.up, *ups))
        self.acc = np.concatenate((self.acc, *(b.acc for b in blocks)))

    def frames(self, k0: int, k1: int) -> tuple[SensorFrames, np.ndarray]:
        """Frames ``[k0, k1)`` and their trailing motion; consumed samples are dropped."""
        fr = reduce_to_frames(self.t, self.up, self.acc, k0, k1)
        cut = np.searchsorted(self.t, k1 / FRAME_HZ - 1e-9)
        self.t, self.up, self.acc = self.t[cut:], self.up[cut:], self.acc[cut:]
        joined = self.tail.concat(fr) if self.tail is not None and self.tail.k1 == k0 else fr
        motion = rolling_motion(joined, MOTION_WINDOW_FRAMES)[len(joined) - len(fr) :]
        self.tail = joined.slice(-MOTION_WINDOW_FRAMES, len(joined))
        return fr, motion


@dataclass
class PendingFrames:
    """Consecutive frames on the analysis clock: times, raw posture codes, angles, and per
    location the mean specific force and whether the sensor had data."""

    t: np.ndarray
    raw: np.ndarray
    angles: dict[str, np.ndarray]
    acc: dict[str, np.ndarray]
    present: dict[str, np.ndarray]
    quality: np.ndarray  # per frame bitmask of angles undefined by geometry
    sure: np.ndarray  # lying confirmed by the thigh (short lying bouts are kept)
    # offline only: per name, the raw posture without each sensor used (analytics.offbody)
    alt: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def empty(cls) -> PendingFrames:
        return cls(np.zeros(0), np.zeros(0, np.int8), {a: np.zeros(0) for a in ANGLE_NAMES}, {}, {},
                   np.zeros(0, np.uint8), np.zeros(0, bool))

    def extend(self, more: PendingFrames) -> None:
        """Append ``more``; a location that joins later has no data for the frames before it."""
        before = len(self.t)
        for loc in more.acc:
            if loc not in self.acc:
                self.acc[loc] = np.full((before, 3), np.nan)
                self.present[loc] = np.zeros(before, bool)
        self.t = np.concatenate((self.t, more.t))
        self.raw = np.concatenate((self.raw, more.raw))
        self.quality = np.concatenate((self.quality, more.quality))
        self.sure = np.concatenate((self.sure, more.sure))
        for name in self.alt.keys() | more.alt.keys():
            self.alt[name] = np.concatenate((self.alt.get(name, no_alternative(name, before)),
                                             more.alt.get(name, no_alternative(name, len(more.t)))))
        for name in self.angles:
            self.angles[name] = np.concatenate((self.angles[name], more.angles[name]))
        for loc in self.acc:
            self.acc[loc] = np.concatenate((self.acc[loc], more.acc[loc]))
            self.present[loc] = np.concatenate((self.present[loc], more.present[loc]))

    def take(self, count: int) -> PendingFrames:
        """Remove and return the first ``count`` frames."""
        head = PendingFrames(self.t[:count], self.raw[:count], {k: v[:count] for k, v in self.angles.items()},
                       {k: v[:count] for k, v in self.acc.items()},
                       {k: v[:count] for k, v in self.present.items()}, self.quality[:count],
                       self.sure[:count], {k: v[:count] for k, v in self.alt.items()})
        self.alt = {k: v[count:] for k, v in self.alt.items()}
        self.t, self.raw, self.quality = self.t[count:], self.raw[count:], self.quality[count:]
        self.sure = self.sure[count:]
        self.angles = {k: v[count:] for k, v in self.angles.items()}
        self.acc = {k: v[count:] for k, v in self.acc.items()}
        self.present = {k: v[count:] for k, v in self.present.items()}
        return head


def no_alternative(name: str, n: int) -> np.ndarray:
    """``n`` frames of an alternative posture (``alt:<loc>``, code −1) or its sure lying
    (``sure:<loc>``) where there is none: the sensor was not used there."""
    return np.zeros(n, bool) if name.startswith("sure:") else np.full(n, -1, np.int8)


def worn_only(frames: Mapping[str, SensorFrames], motion: Mapping[str, np.ndarray],
               worn: Mapping[str, np.ndarray]) -> tuple[dict[str, SensorFrames], dict[str, np.ndarray]]:
    """Frames and motion for classification: a sensor known to be off the body says nothing about
    posture (when every sensor is off they are kept; the wearer is then marked not worn)."""
    if all(w.all() for w in worn.values()) or not any(w.any() for w in worn.values()):
        return dict(frames), dict(motion)
    out, out_motion = {}, {}
    for loc, fr in frames.items():
        off = ~worn.get(loc, np.ones(len(fr), bool))
        out_motion[loc] = np.where(off, np.nan, motion[loc]) if loc in motion else None
        if off.any():
            fr = SensorFrames(fr.k0, np.where(off, 0, fr.n), np.where(off[:, None], np.nan, fr.up),
                              fr.acc, fr.mag_sum, fr.mag_sq)
        out[loc] = fr
    return out, {k: v for k, v in out_motion.items() if v is not None}


def finite_only(block: SensorBlock, counters: Counter[str]) -> SensorBlock | None:
    """The block without samples whose time or readings are not finite (counted); None if empty."""
    if len(block) == 0:
        return None
    t, acc, gyr = block.t, block.acc, block.gyr
    # checked whole first (nearly every block is clean): per-row reductions are far slower
    if (np.isfinite(t).all() and np.isfinite(acc).all() and (gyr is None or np.isfinite(gyr).all())
            and (len(t) < 2 or bool((t[1:] > t[:-1]).all()))):
        return block
    ok = np.isfinite(t) & np.isfinite(acc).all(axis=1)
    if gyr is not None:
        ok &= np.isfinite(gyr).all(axis=1)
    if len(t) > 1:
        ok[1:] &= np.diff(t) > 0
    if ok.all():
        return block
    counters[f"{block.location}_bad_samples"] += int((~ok).sum())
    if not ok.any():
        return None
    idx = np.flatnonzero(ok)
    return SensorBlock(block.location, block.t[idx], block.acc[idx],
                       None if block.gyr is None else block.gyr[idx],
                       None if block.mag is None else block.mag[idx])

"""One sensor's per-second features for learning its mounting, reduced batch by batch as a
recording streams by in the first pass (``ingest.prepass``): per whole second the mean specific
force and the motion (what ``ingest.autocal`` works on), kept only for the seconds before a limit
(a segment's first day), so memory never depends on the recording's length."""

from __future__ import annotations

import numpy as np

from posturewatch.ingest.autocal import seconds
from posturewatch.ingest.frames import FRAME_HZ, SensorFrames, reduce_to_frames
from posturewatch.ingest.records import SensorBlock

MOTION_FRAMES = 2 * FRAME_HZ  # autocal's motion window, carried across batches


class SecondFeatures:
    """One location's per-second features, reduced batch by batch."""

    def __init__(self, limit: int) -> None:
        self.limit = limit  # seconds from here on are not kept
        self.pending: list[SensorBlock] = []
        self.tail: SensorFrames | None = None
        self.done_k: int | None = None
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def reduce(self, upto_s: float) -> None:
        """Whole seconds before ``upto_s``."""
        if not self.pending:
            return
        b = self.pending[0] if len(self.pending) == 1 else SensorBlock.concat(self.pending)
        cut = int(np.searchsorted(b.t, upto_s))
        take, rest = b.slice(0, cut), b.slice(cut, len(b))
        self.pending = [rest] if len(rest) else []
        if not len(take):
            return
        if np.floor(take.t[0]) >= self.limit:  # past the segment's first day: nothing is kept
            self.tail, self.done_k = None, None
            return
        first = int(np.floor(take.t[0])) * FRAME_HZ
        k0 = self.done_k if self.done_k is not None and first - self.done_k <= MOTION_FRAMES else first
        k1 = (int(np.floor(take.t[-1])) + 1) * FRAME_HZ
        acc = np.asarray(take.acc, dtype=np.float64)
        fr = reduce_to_frames(take.t, None, acc, k0, k1)  # the features need no up direction
        skip = 0
        if self.tail is not None and self.tail.k0 + len(self.tail) == k0:
            skip = len(self.tail)
            fr = _concat(self.tail, fr)
        mean, motion, idx = seconds(fr)
        s = skip // FRAME_HZ
        e = s + int(np.searchsorted(idx[s:], self.limit))
        if e > s:
            self.parts.append((idx[s:e], mean[s:e].astype(np.float32), motion[s:e].astype(np.float32)))
        keep = min(len(fr), MOTION_FRAMES)
        self.tail = _slice(fr, len(fr) - keep, len(fr))
        self.done_k = k1

    def on_grid(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Means (n, 3) and motion (n,) for seconds ``lo..hi-1``, NaN where none; parts inside
        are consumed."""
        acc = np.full((hi - lo, 3), np.nan)
        mot = np.full(hi - lo, np.nan)
        rest = []
        for idx, mean, motion in self.parts:
            inside = (idx >= lo) & (idx < hi)
            acc[idx[inside] - lo] = mean[inside]
            mot[idx[inside] - lo] = motion[inside]
            if not inside.all():
                rest.append((idx[~inside], mean[~inside], motion[~inside]))
        self.parts = rest
        return acc, mot


def _slice(f: SensorFrames, a: int, b: int) -> SensorFrames:
    return SensorFrames(f.k0 + a, f.n[a:b], f.up[a:b], f.acc[a:b], f.mag_sum[a:b], f.mag_sq[a:b])


def _concat(a: SensorFrames, b: SensorFrames) -> SensorFrames:
    return SensorFrames(a.k0, *(np.concatenate((getattr(a, n), getattr(b, n)))
                                for n in ("n", "up", "acc", "mag_sum", "mag_sq")))

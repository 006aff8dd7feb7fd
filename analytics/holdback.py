"""A delay line of final frames, so that decisions taken later can still be backdated onto them.

Non-wear is sure only minutes after the sensors were put down and a night only an hour or more
after lying down; both are backdated. Live (hold 0) frames go out at once and carry what was
known then; a replay or a daily report can hold frames back for as long as those decisions take,
and then every frame carries the backdated answer. Memory is bounded by the hold time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class HeldFrames:
    """Frames with per-frame arrays: ``t``, ``posture``, ``quality`` and per-name ``angles``/``present``."""

    t: np.ndarray
    posture: np.ndarray
    angles: dict[str, np.ndarray]
    present: dict[str, np.ndarray]
    quality: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.t)

    def cut(self, i: int) -> tuple[HeldFrames, HeldFrames]:
        """The first ``i`` frames and the rest."""
        def part(sl: slice) -> HeldFrames:
            return HeldFrames(self.t[sl], self.posture[sl], {k: v[sl] for k, v in self.angles.items()},
                              {k: v[sl] for k, v in self.present.items()}, self.quality[sl],
                              {k: v[sl] for k, v in self.extra.items()})
        return part(slice(0, i)), part(slice(i, None))

    @classmethod
    def join(cls, parts: list[HeldFrames]) -> HeldFrames:
        """Consecutive parts as one; a location missing from a part has no data there."""
        first = parts[0]
        if len(parts) == 1:
            return first
        names = sorted({k for p in parts for k in p.present})

        def cat(get, default):
            return np.concatenate([get(p) if get(p) is not None else default(p) for p in parts])
        return cls(
            cat(lambda p: p.t, None), cat(lambda p: p.posture, None),
            {k: cat(lambda p, k=k: p.angles.get(k), lambda p: np.full(len(p), np.nan)) for k in first.angles},
            {k: cat(lambda p, k=k: p.present.get(k), lambda p: np.zeros(len(p), bool)) for k in names},
            cat(lambda p: p.quality, None),
            {k: cat(lambda p, k=k: p.extra.get(k), None) for k in first.extra},
        )


class HoldBack:
    """Holds frames for ``hold_s`` seconds (of frame time) before letting them out."""

    def __init__(self, hold_s: float) -> None:
        self.hold_s = max(0.0, float(hold_s))
        self._parts: list[HeldFrames] = []

    def push(self, frames: HeldFrames, final: bool = False) -> HeldFrames | None:
        """Add frames; return those older than the newest − ``hold_s`` (all when ``final``)."""
        if len(frames):
            self._parts.append(frames)
        if not self._parts:
            return None
        if final or self.hold_s == 0.0:
            out, self._parts = HeldFrames.join(self._parts), []
            return out
        newest = float(self._parts[-1].t[-1])
        limit = newest - self.hold_s
        ready: list[HeldFrames] = []
        while self._parts and float(self._parts[0].t[-1]) < limit:
            ready.append(self._parts.pop(0))
        if self._parts:
            i = int(np.searchsorted(self._parts[0].t, limit, side="left"))
            if i > 0:
                head, self._parts[0] = self._parts[0].cut(i)
                ready.append(head)
        return HeldFrames.join(ready) if ready else None

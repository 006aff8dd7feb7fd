"""Posture decided again for the frames a backdated non-wear span of one sensor now covers (offline).

A sensor put down is known to be off only ``nonwear.confirm_s`` after it came to rest; until then
its frames went into the posture as if it were worn (a thorax sensor flat on the desk makes a
sitter look lying; a thigh sensor on a chair says standing or sitting, whatever the wearer does).
Live that cannot be helped. A replay holds its frames back until non-wear is sure, so there the
posture of the backdated span is decided again from the sensors still on the body: each frame
carries the raw posture without each sensor it used (``alternatives``); once a span covers the
frame, that decision is cleaned of short bouts and, without the thigh, sitting vs standing
follows the pelvis' transitions from the posture the thigh told before it was put down — as the
live path does once the sensor is known off.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from posturewatch.analytics.holdback import HeldFrames
from posturewatch.analytics.posture import (
    PostureFeatures,
    PostureSettings,
    classify_frames,
    clean_bouts,
    runs,
    sure_lying,
)
from posturewatch.analytics.records import Posture
from posturewatch.analytics.seated import SeatedFromTransitions, SeatedSettings
from posturewatch.ingest.frames import FRAME_HZ

HANDLING_FRAMES = int(SeatedSettings().handling_s * FRAME_HZ)
PELVIS_FORCE = "pelvis_force"  # |specific force| of the pelvis per frame, in HeldFrames.extra


def alternatives(features: PostureFeatures, settings: PostureSettings, n: int) -> dict[str, np.ndarray]:
    """Per sensor used (with another one worn beside it): the raw posture without it
    (``alt:<loc>``, −1 where it had no data) and where that is sure lying (``sure:<loc>``)."""
    used = [loc for loc, v in features.tilt.items() if np.isfinite(v).any()]
    if len(used) < 2:
        return {}
    out = {}
    for loc in used:
        rest = features.without(loc)
        raw = classify_frames(rest, settings, n)
        raw[~np.isfinite(features.tilt[loc])] = -1
        out[f"alt:{loc}"] = raw
        out[f"sure:{loc}"] = sure_lying(rest, settings, n)
    return out


class OffBodyRelabel:
    """Streaming: relabels held frames in place once non-wear spans are backdated onto them."""

    def __init__(self, settings: PostureSettings) -> None:
        self.settings = settings
        self._open: dict[str, SeatedFromTransitions] = {}  # a thigh-off run reaching the last block's end
        # the postures of the last frames passed: the seed is taken from before the sensor was
        # handled (taking it off takes seconds, in which it told nothing of the body)
        self._tail = np.zeros(0, np.int8)

    def apply(self, held: HeldFrames, off: Mapping[str, np.ndarray]) -> int:
        """Relabel the frames of ``held`` that a sensor, now known ``off`` there, had a say in;
        returns how many frames changed."""
        changed = 0
        for loc, mask in off.items():
            alt = held.extra.get(f"alt:{loc}")
            redo = mask & (alt >= 0) & (held.posture != Posture.NOT_WORN) if alt is not None else None
            if redo is None or not redo.any():
                self._open.pop(loc, None)
                continue
            starts, lengths, values = runs(redo)
            for a, ln, v in zip(starts.tolist(), lengths.tolist(), values.tolist(), strict=True):
                if v:
                    changed += self._run(held, loc, a, a + ln)
            if not redo[-1]:
                self._open.pop(loc, None)
        self._tail = np.concatenate((self._tail, held.posture))[-HANDLING_FRAMES:]
        return changed

    def _run(self, held: HeldFrames, loc: str, a: int, b: int) -> int:
        labels = clean_bouts(held.extra[f"alt:{loc}"][a:b], self.settings, FRAME_HZ,
                             held.extra[f"sure:{loc}"][a:b])
        force = held.extra.get(PELVIS_FORCE)
        if loc == "thigh" and force is not None and "pelvic_tilt" in held.angles:
            seated = self._open.get(loc) if a == 0 else None
            if seated is None:
                seated = SeatedFromTransitions()
                before = np.concatenate((self._tail, held.posture[:a]))[-HANDLING_FRAMES:]
                seated.seed(int(before[0]) if len(before) else int(Posture.UNKNOWN))
            empty = np.zeros(0)
            labels = seated.push(held.t[a:b], labels, held.angles["pelvic_tilt"][a:b], force[a:b],
                                 empty, empty, empty)
            if b == len(held):
                self._open[loc] = seated
        before = held.posture[a:b].copy()
        held.posture[a:b] = labels
        return int((before != labels).sum())

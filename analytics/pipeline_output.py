"""What the pipeline gives out per push: the frames that became final, with their angles, posture,
episode events, wear, activity, steps, transitions, nights and mounting notes (``PipelineOutput``;
``analytics.pipeline`` makes them)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from posturewatch.analytics.records import EpisodeEvent
from posturewatch.analytics.transitions import Transition
from posturewatch.ingest.records import ANGLE_NAMES


@dataclass
class PipelineOutput:
    """Frames that became final: 10 Hz times, angles (deg), posture codes, and episode events."""

    t: np.ndarray
    angles: dict[str, np.ndarray]
    posture: np.ndarray
    events: list[EpisodeEvent]
    present: dict[str, np.ndarray] = field(default_factory=dict)
    # per frame bitmask of angles undefined by geometry (ingest.angles.UNDEFINED_BIT)
    angle_quality: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))
    steps: np.ndarray = field(default_factory=lambda: np.zeros(0))  # heel-strike times (s)
    transitions: list[Transition] = field(default_factory=list)  # sit-to-stand / stand-to-sit
    # per frame: inside the night's main lying period (awakenings out of bed excluded)
    in_bed: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    # (time, note) of each change to a sensor's mounting since the last push: slips followed,
    # sensors put back on, mountings learnt (the notes of ``Pipeline.calibration_log``)
    mountings: list[tuple[float, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.in_bed) != len(self.t):
            self.in_bed = np.zeros(len(self.t), bool)

    @classmethod
    def empty(cls) -> PipelineOutput:
        return cls(np.zeros(0), {a: np.zeros(0) for a in ANGLE_NAMES}, np.zeros(0, np.int8), [])

    @classmethod
    def joined(cls, a: PipelineOutput, b: PipelineOutput) -> PipelineOutput:
        """``a`` then ``b`` (the close of a segment before a gap, then what followed it)."""
        def cat(x: dict, y: dict, na: int, nb: int, fill) -> dict:
            return {k: np.concatenate((x.get(k, np.full(na, fill)), y.get(k, np.full(nb, fill))))
                    for k in x.keys() | y.keys()}
        na, nb = len(a), len(b)
        return cls(np.concatenate((a.t, b.t)), cat(a.angles, b.angles, na, nb, np.nan),
                   np.concatenate((a.posture, b.posture)).astype(np.int8), a.events + b.events,
                   cat(a.present, b.present, na, nb, False),
                   np.concatenate((a.angle_quality, b.angle_quality)).astype(np.uint8),
                   np.concatenate((a.steps, b.steps)), a.transitions + b.transitions,
                   np.concatenate((a.in_bed, b.in_bed)), a.mountings + b.mountings)

    def __len__(self) -> int:
        return len(self.t)

"""What a local day adds up to, beyond seconds per posture: the day's activity figures.

``DayActivity`` is fed the final frames of one local day, slice by slice (``analytics.days``
cuts them at local midnight), and keeps running sums: wear time (and whether the day is valid:
enough hours worn while awake), time in bed, lying awake, sitting, standing and walking; sitting
bouts of 30 min or more (a bout ends only with a break of ``sitting_break_s``, as for the
prolonged-sitting episode), breaks per sitting hour, the share of sitting in posterior pelvic
tilt, forward-head minutes, trunk bends and how many were lumbar-dominant, sit-to-stand
transitions and steps. ``values()`` is the numeric summary. Every sum is over frames or runs of
frames (numpy), never per sample; memory does not grow with the day.

"In bed" comes from the frames' ``in_bed`` mask when the pipeline provides one; without it no
time counts as in bed and every worn second counts as awake.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from posturewatch.analytics.episodes import EpisodeSettings
from posturewatch.analytics.posture import runs
from posturewatch.analytics.records import Posture, posture_in
from posturewatch.analytics.transitions import SIT_TO_STAND, STAND_TO_SIT
from posturewatch.ingest.frames import FRAME_S

LONG_SITTING_S = 30 * 60.0
_UNWORN = (int(Posture.UNKNOWN), int(Posture.NOT_WORN))
_NO_BEND = (int(Posture.LYING), int(Posture.NOT_WORN), int(Posture.UNKNOWN))
_UPRIGHT_STILL = (int(Posture.SITTING), int(Posture.STANDING))


@dataclass(frozen=True)
class DaySettings:
    """``valid_wear_h``: hours worn while awake for a day to count as valid."""

    valid_wear_h: float = 10.0
    episodes: EpisodeSettings = field(default_factory=EpisodeSettings)


@dataclass
class SittingBouts:
    """Sitting bouts across slices (and days): a bout ends after a break of ``break_s``."""

    break_s: float
    start: float | None = None
    last: float = -np.inf  # end of the latest sitting frame

    def add(self, t: np.ndarray, sitting: np.ndarray) -> list[float]:
        """Lengths (s) of the bouts that ended in these frames."""
        ended = []
        starts, lengths, values = runs(sitting)
        for a, n, v in zip(starts.tolist(), lengths.tolist(), values.tolist(), strict=True):
            if not v:
                continue
            t0, t1 = float(t[a]), float(t[a + n - 1]) + FRAME_S
            if self.start is not None and t0 - self.last >= self.break_s:
                ended.append(self.last - self.start)
                self.start = None
            if self.start is None:
                self.start = t0
            self.last = t1
        if len(t) and self.start is not None and float(t[-1]) + FRAME_S - self.last >= self.break_s:
            ended.append(self.last - self.start)
            self.start = None
        return ended

    def finish(self) -> list[float]:
        done = [self.last - self.start] if self.start is not None else []
        self.start = None
        return done


@dataclass
class DayActivity:
    """Running activity sums of one local day (seconds unless named otherwise)."""

    settings: DaySettings = field(default_factory=DaySettings)
    worn_s: float = 0.0
    worn_awake_s: float = 0.0
    in_bed_s: float = 0.0
    lying_awake_s: float = 0.0
    sitting_s: float = 0.0
    standing_s: float = 0.0
    walking_s: float = 0.0
    posterior_tilt_sitting_s: float = 0.0
    forward_head_s: float = 0.0
    bends: int = 0
    lumbar_bends: int = 0
    long_sitting_bouts: int = 0
    longest_sitting_bout_s: float = 0.0
    sit_to_stand: int = 0
    stand_to_sit: int = 0
    sit_to_stand_total_s: float = 0.0
    steps: int = 0

    def add(self, frames, i: int, j: int, lo: float, hi: float, carry: DayCarry) -> None:
        """Frames ``[i, j)`` of a pipeline output that fall on this day, ``[lo, hi)`` (its local
        midnights), with the output's steps, transitions and episode events on this day;
        ``carry`` holds what runs over midnight."""
        codes = np.asarray(frames.posture[i:j], np.int64)
        in_bed = getattr(frames, "in_bed", None)
        bed = np.zeros(len(codes), bool) if in_bed is None or len(in_bed) != len(frames.t) \
            else np.asarray(in_bed[i:j], bool)
        worn = ~posture_in(codes, _UNWORN)
        # on their feet nobody is in bed: the night's edges (getting up) count as awake standing
        bed &= posture_in(codes, (int(Posture.LYING), int(Posture.SITTING)))
        awake = worn & ~bed
        self.worn_s += float(worn.sum()) * FRAME_S
        self.worn_awake_s += float(awake.sum()) * FRAME_S
        self.in_bed_s += float((bed & worn).sum()) * FRAME_S
        for name, code in (("lying_awake_s", Posture.LYING), ("sitting_s", Posture.SITTING),
                           ("standing_s", Posture.STANDING), ("walking_s", Posture.WALKING)):
            setattr(self, name, getattr(self, name) + float((awake & (codes == code)).sum()) * FRAME_S)
        self._angles(frames, i, j, codes, carry)
        t = frames.t[i:j]
        for length in carry.bouts.add(t, codes == Posture.SITTING):
            self._bout(length)
        steps = np.asarray(frames.steps)
        self.steps += int(((steps >= lo) & (steps < hi)).sum())
        for tr in frames.transitions:
            if lo <= tr.start < hi:
                if tr.kind == SIT_TO_STAND:
                    self.sit_to_stand += 1
                    self.sit_to_stand_total_s += tr.duration_s
                elif tr.kind == STAND_TO_SIT:
                    self.stand_to_sit += 1
        self.lumbar_bends += sum(1 for e in frames.events
                                 if e.type == "end" and e.episode.kind == "lumbar_bend" and lo <= e.ts < hi)

    def _angles(self, frames, i: int, j: int, codes: np.ndarray, carry: DayCarry) -> None:
        ep = self.settings.episodes
        angles = frames.angles
        with np.errstate(invalid="ignore"):
            tilt = angles["pelvic_tilt"][i:j] <= ep.tilt_enter
            # forward head as the episode defines it: trunk forward short of a bend, and the neck
            # flexed too where a head sensor measures it
            trunk, neck = angles["trunk_inclination"][i:j], angles["neck_flexion"][i:j]
            head = (trunk >= ep.head_enter) & (trunk < ep.bend_limit)
            head &= ~np.isfinite(neck) | (neck >= ep.neck_enter)
            bent = (angles["trunk_inclination"][i:j] >= ep.bend_limit) & ~posture_in(codes, _NO_BEND)
        self.posterior_tilt_sitting_s += float((tilt & (codes == Posture.SITTING)).sum()) * FRAME_S
        self.forward_head_s += float((head & posture_in(codes, _UPRIGHT_STILL)).sum()) * FRAME_S
        # a bend starts where the trunk goes past the limit after ≥ bend_gap_s below it
        t = frames.t[i:j][bent]
        if len(t):
            gaps = np.diff(np.concatenate(([carry.last_bent], t)))
            self.bends += int((gaps > ep.bend_gap_s + FRAME_S / 2).sum())
            carry.last_bent = float(t[-1])

    def _bout(self, length: float) -> None:
        self.longest_sitting_bout_s = max(self.longest_sitting_bout_s, length)
        if length >= LONG_SITTING_S:
            self.long_sitting_bouts += 1

    def finish(self, carry: DayCarry) -> None:
        """The stream ends inside this day: its open sitting bout ends too."""
        for length in carry.bouts.finish():
            self._bout(length)

    @property
    def valid(self) -> bool:
        return self.worn_awake_s >= self.settings.valid_wear_h * 3600.0

    def values(self) -> dict[str, float]:
        """The day's activity figures, all numeric (minutes, counts, shares 0..1, 0/1 flags)."""
        sitting_h = self.sitting_s / 3600.0
        return {
            "wear_min": self.worn_s / 60.0,
            "wear_awake_min": self.worn_awake_s / 60.0,
            "valid_day": 1.0 if self.valid else 0.0,
            "in_bed_min": self.in_bed_s / 60.0,
            "lying_awake_min": self.lying_awake_s / 60.0,
            "sitting_awake_min": self.sitting_s / 60.0,
            "standing_min": self.standing_s / 60.0,
            "walking_min": self.walking_s / 60.0,
            "long_sitting_bouts": float(self.long_sitting_bouts),
            "longest_sitting_bout_min": self.longest_sitting_bout_s / 60.0,
            "breaks_per_sitting_hour": _ratio(self.sit_to_stand, sitting_h),
            "posterior_tilt_share": _ratio(self.posterior_tilt_sitting_s, self.sitting_s),
            "forward_head_min": self.forward_head_s / 60.0,
            "bends": float(self.bends),
            "lumbar_bends": float(self.lumbar_bends),
            "lumbar_bend_share": _ratio(self.lumbar_bends, self.bends),
            "sit_to_stand": float(self.sit_to_stand),
            "stand_to_sit": float(self.stand_to_sit),
            "sit_to_stand_mean_s": _ratio(self.sit_to_stand_total_s, self.sit_to_stand),
            "steps": float(self.steps),
            "cadence_spm": _ratio(self.steps, self.walking_s / 60.0),
        }


@dataclass
class DayCarry:
    """State that runs over midnight: the open sitting bout and the last bent frame."""

    bouts: SittingBouts
    last_bent: float = -np.inf


def _ratio(a: float, b: float) -> float:
    return float(a) / float(b) if b > 0 else 0.0


def write_daily_csv(days: Iterable[tuple[str, Mapping[str, float]]], path: str | Path) -> Path:
    """``daily.csv``: one row per local day (``day`` = its ISO date), one column per figure
    (the union over the days; a figure a day lacks is 0)."""
    rows = list(days)
    names = sorted({k for _, values in rows for k in values})
    path = Path(path)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["day", *names])
        for day, values in rows:
            w.writerow([day, *(f"{float(values.get(k, 0.0)):.6g}" for k in names)])
    return path

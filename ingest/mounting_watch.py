"""Live mounting learning and slip watching, fed with frames as they become final.

``MountingLearner`` is the live form of ``autocalibrate``: it keeps the first hour of frames and
re-learns the mountings at the end of each walking bout and each long quiet-standing bout, so a
daemon started with no calibration pose corrects itself as soon as the wearer walks (the replay
does the same in a pre-pass and starts with the learner switched off). It also watches for a
sensor that slips: at the end of each walking bout every sensor's mean up direction is compared
with the one seen walking when its calibration was made, and a sensor that turned by more than
``AutoCalSettings.slip_deg`` is re-calibrated by that rotation. While the wearer sits or stands
still, a slip shows as a step in one sensor alone (see ``slip_step``) and is followed at once.

A sensor put back on after it was off the body may sit the other way round (a phone back in a
pocket upside down or facing the leg): its mounting is then unknown (``put_back``) until the
next walk says which way its long axis points up, and for the thigh until the next sitting says
which way its front faces (up, on a seated thigh). Meanwhile ``sign_free`` names it, so that the
caller decides posture from what does not depend on the sensor's sign.

It never sees posture classes by name (ingest knows nothing of the classifier): the caller says
which integer codes mean walking, standing and sitting, and which are still postures (with names).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import numpy as np

from posturewatch.ingest.autocal import AutoCalSettings, autocalibrate
from posturewatch.ingest.frames import FRAME_HZ, SensorFrames, runs
from posturewatch.ingest.mounting import Calibration, angle_deg, rotation_between
from posturewatch.ingest.records import row_norms
from posturewatch.ingest.slip_step import SHARP_LOCATIONS, SPAN_S, Step, find_steps, per_second

log = logging.getLogger(__name__)

SLIP_WINDOW_S = 30.0  # the end of a walk is compared, so a slip early in a long walk is not diluted
MIN_SLIP_BOUT_S = 20.0  # shorter walks (and standing bouts) are not evidence
MIN_WALK_FRAMES = FRAME_HZ * 5  # finite frames of a sensor a walking comparison needs
UNKNOWN_UP, UNKNOWN_FRONT = "up", "front"  # what is still unknown of a sensor put back on
# 180° turns of the segment frame (rows: superior, anterior, left): about the anterior axis (the
# sensor's long axis was put on pointing down) and about the superior axis (its front faces back)
TURN_ABOUT_ANTERIOR = np.diag([-1.0, 1.0, -1.0])
TURN_ABOUT_SUPERIOR = np.diag([1.0, -1.0, -1.0])


@dataclass
class MountingUpdate:
    """What one block of final frames changed: new calibrations by location, timestamped notes for
    the calibration log (learnt mountings, slips) and the locations seen to slip."""

    calibrations: dict[str, Calibration] = field(default_factory=dict)
    notes: list[tuple[float, str]] = field(default_factory=list)
    slipped: list[str] = field(default_factory=list)


class MountingLearner:
    """Learns mountings from the first hour of wear and follows sensors that slip.

    Learning runs only when every calibration it starts from is a declared one (a calibration
    pose or a pre-pass knows better); it stops after ``horizon_s`` of frames, after the first slip
    (it would keep returning the mounting from before it) and once a calibration pose is applied.
    """

    def __init__(
        self,
        calibrations: Mapping[str, Calibration],
        s: AutoCalSettings | None = None,
        *,
        walking: int,
        standing: int,
        sitting: int | None = None,
        declared_for: Callable[[str], Calibration],
        still: Mapping[int, str] | None = None,
        horizon_s: float = 3600.0,
    ) -> None:
        self.declared = dict(calibrations)
        self.s = s or AutoCalSettings()
        self.walking, self.standing = int(walking), int(standing)
        self.sitting = None if sitting is None else int(sitting)
        self.unknown: dict[str, str] = {}  # location → UNKNOWN_UP / UNKNOWN_FRONT (put back on)
        self._sit: list[np.ndarray] = []  # a sitting thigh's specific force, while its front is unknown
        self.declared_for = declared_for
        self.horizon = int(horizon_s * FRAME_HZ)
        self.active = not any(c.source != "declared" for c in calibrations.values())
        self._frames: dict[str, list[SensorFrames]] = {}
        self._k0: int | None = None
        self._k1 = 0
        self._walk: dict[str, np.ndarray] = {}  # the last SLIP_WINDOW_S of walking, per location
        self._walk_len = 0  # frames of the current walk
        self.still = {int(k): v for k, v in (still or {}).items()}
        self._steps = _StepBuffer()

    def put_back(self, location: str, ts: float) -> list[tuple[float, str]]:
        """``location`` was put back on at ``ts`` after being off the body: its mounting is unknown
        until a walk (and, for the thigh, a sitting) says it again. Returns the log note."""
        if self.active:  # the first hour's evidence now mixes two mountings
            self.active = False
            self._frames.clear()
        self.unknown[location] = UNKNOWN_UP
        self._steps._reset()
        when = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return [(float(ts), f"{location}: put back on at {when}; mounting unknown until the next walk")]

    def sign_free(self) -> frozenset[str]:
        """Locations whose mounting is not known: put back on and not learnt again."""
        return frozenset(self.unknown)

    @staticmethod
    def guessed(calibrations: Mapping[str, Calibration]) -> frozenset[str]:
        """Locations whose mounting was never learnt, only declared (maybe the other way up)."""
        return frozenset(loc for loc, c in calibrations.items() if c.source == "declared")

    def add(self, location: str, frames: SensorFrames) -> None:
        """Frames as they are made (before posture is final): evidence while learning."""
        if not self.active or not len(frames):
            return
        if self._k0 is None:
            self._k0 = frames.k0
        self._frames.setdefault(location, []).append(frames)
        self._k1 = max(self._k1, frames.k1)

    def observe(
        self,
        t: np.ndarray,
        posture: np.ndarray,
        acc: Mapping[str, np.ndarray],
        calibrations: Mapping[str, Calibration],
    ) -> MountingUpdate:
        """Final frames: times ``t`` (s), posture codes and per location the mean specific force
        (N, 3, sensor axes) with the calibrations in use; returns what changed."""
        if any(c.source == "pose" for c in calibrations.values()):
            self.active = False
        update = MountingUpdate()
        current = dict(calibrations)
        window = int(SLIP_WINDOW_S * FRAME_HZ)
        starts, lengths, values = runs(np.asarray(posture))
        for a, ln, code in zip(starts.tolist(), lengths.tolist(), values.tolist(), strict=True):
            if code == self.walking:
                for loc, v in acc.items():
                    prev = self._walk.get(loc, np.zeros((0, 3)))
                    self._walk[loc] = np.concatenate((prev, v[a : a + ln]))[-window:]
                self._walk_len += ln
                continue
            if self._walk_len:
                self._end_walk(float(t[a]), current, update)
            if code == self.standing and ln >= MIN_SLIP_BOUT_S * FRAME_HZ:
                self._learn(float(t[a] + ln / FRAME_HZ), current, update)
            self._sitting(code, acc.get("thigh"), a, ln, float(t[a] + ln / FRAME_HZ), current, update)
        if self.still:
            for step in self._steps.push(t, posture, acc, self.still, self.s.slip_deg):
                self._stepped(step, current, update)
        return update

    def _learn(self, ts: float, current: dict[str, Calibration], update: MountingUpdate) -> None:
        """Re-learn every mounting from the frames kept so far (while active)."""
        if not self.active or self._k0 is None:
            return
        k0, k1 = self._k0, self._k1
        frames = {loc: SensorFrames.covering(parts, k0, k1) for loc, parts in self._frames.items()}
        declared = {loc: self.declared.get(loc) or self.declared_for(loc) for loc in frames}
        learnt = {loc: c for loc, c in autocalibrate(frames, declared, self.s).items()
                  if c.source.startswith("walking")}
        if k1 - k0 >= self.horizon:
            self.active = False
            self._frames.clear()
        for loc, cal in learnt.items():
            if loc not in current or cal.source != current[loc].source:
                update.notes.append((ts, f"{loc}: mounting learnt from {cal.source}"))
            self._set(loc, cal, current, update)

    def _end_walk(self, ts: float, current: dict[str, Calibration], update: MountingUpdate) -> None:
        """A walk ended at ``ts``: learn from it, then compare each sensor's up with its calibration's."""
        if self._walk_len >= MIN_SLIP_BOUT_S * FRAME_HZ:
            self._learn(ts, current, update)
            for loc, v in self._walk.items():
                if self.unknown.get(loc) == UNKNOWN_UP:
                    self._walk_up(loc, v, ts, current, update)
                elif loc not in self.unknown:
                    self._compare(loc, v, ts, current, update)
        self._walk_len = 0
        self._walk.clear()

    def _compare(
        self, loc: str, acc: np.ndarray, ts: float, current: dict[str, Calibration], update: MountingUpdate
    ) -> None:
        up = _walk_mean_up(acc)
        if up is None:
            return
        cal = current.get(loc) or self.declared_for(loc)
        if cal.walk_up is None:
            self._set(loc, Calibration(cal.location, cal.R, cal.source, up, cal.notes), current, update)
            return
        moved = angle_deg(up, cal.walk_up)
        if moved <= self.s.slip_deg:
            return
        when = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        note = f"{loc}: sensor moved by {moved:.1f}° (seen walking at {when}); re-calibrated"
        log.info(note)
        update.notes.append((ts, note))
        update.slipped.append(loc)
        self._set(loc, cal.rotated(cal.walk_up, up, note), current, update)
        # Learning would keep returning the mounting from before the slip: stop it.
        self.active = False

    def _walk_up(
        self, loc: str, acc: np.ndarray, ts: float, current: dict[str, Calibration], update: MountingUpdate
    ) -> None:
        """A sensor put back on, seen walking: walking keeps every segment near vertical, so its
        mean up must read superior. If it reads inferior the sensor went on the other way up."""
        up = _walk_mean_up(acc)
        if up is None:
            return
        cal = current.get(loc) or self.declared_for(loc)
        R = cal.R
        flipped = float((R @ up)[0]) < 0.0
        if flipped:
            R = TURN_ABOUT_ANTERIOR @ R
        # the walking direction of the old calibration, in the new sensor axes: follow the few
        # degrees by which the sensor sits differently now
        before = R.T @ (cal.R @ cal.walk_up) if cal.walk_up is not None else up
        how = "upside down; turned" if flipped else "the same way up"
        when = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        note = f"{loc}: put back on {how} (seen walking at {when})"
        new = replace(cal, R=R, notes=cal.notes + (note,)).rotated(before, up, note)
        update.notes.append((ts, note))
        self._set(loc, new, current, update)
        if loc == "thigh" and self.sitting is not None:
            self.unknown[loc] = UNKNOWN_FRONT  # which way the front faces: the next sitting says
        else:
            del self.unknown[loc]

    def _sitting(self, code: int, thigh: np.ndarray | None, a: int, ln: int, ts: float,
                 current: dict[str, Calibration], update: MountingUpdate) -> None:
        """Gather a sitting thigh's specific force (across blocks) while its front is unknown;
        decide once ``MIN_SLIP_BOUT_S`` of it are in."""
        if code != self.sitting or thigh is None or self.unknown.get("thigh") != UNKNOWN_FRONT:
            self._sit.clear()
            return
        self._sit.append(thigh[a : a + ln])
        if sum(len(x) for x in self._sit) >= MIN_SLIP_BOUT_S * FRAME_HZ:
            self._thigh_front(np.concatenate(self._sit), ts, current, update)
            self._sit.clear()

    def _thigh_front(
        self, acc: np.ndarray, ts: float, current: dict[str, Calibration], update: MountingUpdate
    ) -> None:
        """A thigh put back on, seen sitting: a seated thigh's front faces up. If its anterior axis
        reads down, the sensor faces the other way (inside out)."""
        acc = acc[np.isfinite(acc).all(axis=1)]
        if len(acc) < MIN_WALK_FRAMES:
            return
        cal = current.get("thigh") or self.declared_for("thigh")
        g = cal.to_segment(acc.mean(axis=0)[None, :])[0]
        g /= np.linalg.norm(g)
        if abs(g[1]) < 0.5:  # rolled far out (cross-legged): no answer yet
            return
        del self.unknown["thigh"]
        when = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        if g[1] > 0:
            update.notes.append((ts, f"thigh: put back on facing the same way (seen sitting at {when})"))
            return
        note = f"thigh: put back on facing the other way (seen sitting at {when}); turned"
        update.notes.append((ts, note))
        self._set("thigh", replace(cal, R=TURN_ABOUT_SUPERIOR @ cal.R, notes=cal.notes + (note,)),
                  current, update)

    def _stepped(self, step: Step, current: dict[str, Calibration], update: MountingUpdate) -> None:
        """Follow a sensor that slipped while still: rotate its calibration (and the walking
        reference the next walk is compared with) by the step."""
        cal = current.get(step.location) or self.declared_for(step.location)
        when = datetime.fromtimestamp(step.second, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        name = self.still.get(step.code, "still")
        note = (f"{step.location}: sensor moved by {step.moved:.1f}° (a step while {name} at {when}); "
                "re-calibrated")
        log.info(note)
        turn = rotation_between(step.before, step.after)  # old up direction → new
        walk_up = None if cal.walk_up is None else turn @ cal.walk_up
        new = replace(cal, R=cal.R @ turn.T, walk_up=walk_up, notes=cal.notes + (note,))
        update.notes.append((float(step.second), note))
        update.slipped.append(step.location)
        self._set(step.location, new, current, update)
        self.active = False

    @staticmethod
    def _set(loc: str, cal: Calibration, current: dict[str, Calibration], update: MountingUpdate) -> None:
        current[loc] = cal
        update.calibrations[loc] = cal


class _StepBuffer:
    """The last ``SPAN_S`` seconds of final frames, so a step is looked for across blocks; each
    candidate second is examined once."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.t = np.zeros(0)
        self.codes = np.zeros(0, np.int64)
        self.acc: dict[str, np.ndarray] = {}

    def push(
        self, t: np.ndarray, posture: np.ndarray, acc: Mapping[str, np.ndarray], still: Mapping[int, str],
        slip_deg: float,
    ) -> list[Step]:
        if not len(t) or not acc:
            return []
        if len(self.t) and abs(t[0] - self.t[-1] - 1.0 / FRAME_HZ) > 1e-6:
            self._reset()  # frames do not follow on: start again
        if not len(self.t):  # start at a whole second
            first = int(np.argmax(np.round(t * FRAME_HZ).astype(np.int64) % FRAME_HZ == 0))
            if round(t[first] * FRAME_HZ) % FRAME_HZ:
                return []
            t, posture, acc = t[first:], posture[first:], {k: v[first:] for k, v in acc.items()}
        n_before = len(self.t)
        for loc in acc:
            self.acc.setdefault(loc, np.full((n_before, 3), np.nan))
        nan = np.full((len(t), 3), np.nan)
        self.acc = {loc: np.concatenate((v, acc.get(loc, nan))) for loc, v in self.acc.items()}
        self.t = np.concatenate((self.t, t))
        self.codes = np.concatenate((self.codes, np.asarray(posture, np.int64)))
        seconds, ups = None, {}
        for loc, v in self.acc.items():
            seconds, ups[loc] = per_second(self.t, v)
        n = len(seconds)
        frames = self.codes[: n * FRAME_HZ].reshape(n, FRAME_HZ)
        same = (frames == frames[:, :1]).all(axis=1) & np.isin(frames[:, 0], list(still))
        code = np.where(same, frames[:, 0], -1)
        frames = {loc: (self.t, _unit_rows(v)) for loc, v in self.acc.items() if loc in SHARP_LOCATIONS}
        steps = find_steps(seconds, ups, code, slip_deg, frames)
        if steps:  # what came before the step describes the old mounting: look afresh
            self._reset()
        elif n >= SPAN_S:
            done = (n - SPAN_S + 1) * FRAME_HZ  # frames of the candidates examined
            self.t, self.codes = self.t[done:], self.codes[done:]
            self.acc = {k: v[done:] for k, v in self.acc.items()}
        return steps


def _unit_rows(v: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return v / row_norms(v, keepdims=True)


def _walk_mean_up(acc: np.ndarray) -> np.ndarray | None:
    """The unit mean of a walk's frame accelerations; None if too few frames have data."""
    acc = acc[np.isfinite(acc).all(axis=1)]
    if len(acc) < MIN_WALK_FRAMES:
        return None
    up = acc.mean(axis=0)
    return up / np.linalg.norm(up)

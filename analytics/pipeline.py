"""The analysis pipeline, block by block: samples → fused up directions → 10 Hz frames → segment
angles → posture → episode events. The replay and the live daemon both push blocks into it.

Frames are final once ``until`` has passed them; posture is decided ``POSTURE_DELAY_S`` later
(a bout's length must be known before a short blip can be told from a real change), so each
push returns the frames that became final in posture, with their angles and episode events.
Final frames also go to the mounting learner, which learns mountings and follows slipped sensors.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from posturewatch.analytics.bridge import GapBridge
from posturewatch.analytics.episodes import EpisodeDetectors, EpisodeSettings, Frames
from posturewatch.analytics.holdback import HeldFrames, HoldBack
from posturewatch.analytics.nonwear import NonWearDetector, NonWearSettings
from posturewatch.analytics.offbody import PELVIS_FORCE, OffBodyRelabel, alternatives
from posturewatch.analytics.pipeline_output import PipelineOutput
from posturewatch.analytics.pipeline_state import PendingFrames, SensorState, finite_only, worn_only
from posturewatch.analytics.posture import (
    PostureFeatures,
    PostureSettings,
    classify_frames,
    clean_bouts,
    sure_lying,
)
from posturewatch.analytics.records import Posture
from posturewatch.analytics.seated import SeatedFromTransitions
from posturewatch.analytics.sleep import InBedTracker, SleepSettings
from posturewatch.analytics.steps import StepCounter
from posturewatch.analytics.transitions import Transition, TransitionFinder
from posturewatch.ingest.align import ClockModel
from posturewatch.ingest.angles import (
    angle_quality,
    lateral_roll,
    sagittal_inclination,
    sagittal_undefined,
    segment_angles,
    tilt_from_vertical,
)
from posturewatch.ingest.autocal import AutoCalSettings
from posturewatch.ingest.frames import (
    FRAME_HZ,
    FRAME_S,
    SensorFrames,
    frame_index,
)
from posturewatch.ingest.mounting import Calibration
from posturewatch.ingest.mounting_watch import MountingLearner
from posturewatch.ingest.records import SensorBlock, row_norms

POSTURE_DELAY_S = 15.0
CONTEXT_S = 30.0
STILL_POSTURES = (Posture.SITTING, Posture.STANDING)  # where a slipped sensor shows as a step


@dataclass
class PipelineSettings:
    posture: PostureSettings = field(default_factory=PostureSettings)
    episodes: EpisodeSettings = field(default_factory=EpisodeSettings)
    autocal: AutoCalSettings = field(default_factory=AutoCalSettings)
    mountings: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    nonwear: NonWearSettings = field(default_factory=NonWearSettings)
    sleep: SleepSettings = field(default_factory=SleepSettings)
    timezone: str = "UTC"  # the wearer's zone: nights are told by local time
    # Seconds frames are held back after their posture is final, so that non-wear (sure after
    # nonwear.confirm_s) and nights (sure after sleep.min_night_s) are backdated onto them.
    # 0 (live): frames carry what is known at once.
    hold_nonwear_s: float = 0.0
    hold_sleep_s: float = 0.0

    def offline(self) -> PipelineSettings:
        """These settings with frames held back until non-wear and nights are sure (a replay)."""
        return replace(self, hold_nonwear_s=self.nonwear.backdate_max_s,
                       hold_sleep_s=self.sleep.min_night_s + self.sleep.gap_s,
                       sleep=replace(self.sleep, provisional_s=0.0))  # held frames get final answers

    def declared(self, location: str) -> Calibration:
        sup, ant = self.mountings.get(location, (None, None))
        return Calibration.declared(location, sup, ant)


class _OneByOne(Exception):
    """Steps taken together would not give what pushing them one by one gives."""


class Pipeline:
    """Stateful analysis of one wearer's sensors; push blocks in time order, read final frames."""

    def __init__(
        self,
        settings: PipelineSettings | None = None,
        calibrations: Mapping[str, Calibration] | None = None,
        clocks: Mapping[str, ClockModel] | None = None,
    ) -> None:
        self.settings = settings or PipelineSettings()
        self.calibrations: dict[str, Calibration] = dict(calibrations or {})
        self.clocks = dict(clocks or {})
        self.sensors: dict[str, SensorState] = {}
        self.k_next: int | None = None
        self.detectors = EpisodeDetectors(self.settings.episodes)
        self.steps = StepCounter()
        self.transitions = TransitionFinder()
        self.seated = SeatedFromTransitions()
        self.nonwear = NonWearDetector(self.settings.nonwear)
        self.sleep = InBedTracker(self.settings.sleep, self.settings.timezone)
        self._held_nonwear = HoldBack(self.settings.hold_nonwear_s)
        self._held_sleep = HoldBack(self.settings.hold_sleep_s)
        self._offbody = OffBodyRelabel(self.settings.posture)  # backdated non-wear, offline
        self._later_steps = np.zeros(0)  # steps found among frames still held back
        self._later_moves: list[Transition] = []
        self.counters: Counter[str] = Counter()
        self.calibration_log: list[tuple[float, str]] = []
        self._notes_out = 0  # notes of the log already handed out with an output
        self._ctx = np.zeros(0, np.int8)  # raw posture of already emitted frames
        self._ctx_sure = np.zeros(0, bool)
        self._bridge = GapBridge()  # short packet losses do not change posture
        self._newest = -np.inf  # the newest sample so far (on the common clock)
        self._pending = PendingFrames.empty()  # framed, posture not yet final
        # With no calibration given the mountings are learnt live from walking (and standing).
        self.learner = MountingLearner(
            self.calibrations, self.settings.autocal, walking=Posture.WALKING, standing=Posture.STANDING,
            sitting=Posture.SITTING,
            declared_for=self.settings.declared, still={p: p.label for p in STILL_POSTURES},
        )

    # -- public ---------------------------------------------------------------------------------
    def push(self, blocks: Iterable[SensorBlock], until: float | None = None) -> PipelineOutput:
        """Add samples; frames before ``until`` (default: the newest sample − 0.5 s) become final.

        Samples more than ``episodes.max_gap_s`` after every earlier one start a new segment: the
        one before the gap is closed (``_restart``), nothing is framed over the gap.
        """
        newest = -np.inf
        head = None
        for block in blocks:
            block = finite_only(block, self.counters)
            if block is None:
                continue
            if self._after_gap(block, newest):
                closed = self._restart()
                head = closed if head is None else PipelineOutput.joined(head, closed)
                newest = -np.inf
            block = self._on_clock(block)
            if block is None:
                continue
            self._sensor(block.location).add(block)
            newest = max(newest, float(block.t[-1]))
        self._newest = max(self._newest, newest)
        if until is None:
            until = newest - 0.5
        if self.k_next is None or not np.isfinite(until):
            return head or PipelineOutput.empty()
        out = self.step_out(until)
        return out if head is None else PipelineOutput.joined(head, out)

    def take_steps(self, steps: Sequence[tuple[Sequence[SensorBlock], float]]) -> bool:
        """Take the samples of several consecutive pushes ``(blocks, until)`` at once (checked,
        put on the clock and fused per sensor, without the per-push work); ``step_out(until)`` for
        each step in turn then gives what ``push`` would have. False, with nothing taken, when the steps
        must go through ``push`` one by one: a sensor not started yet, or a gap that restarts."""
        if self.k_next is None or not all(np.isfinite(u) for _, u in steps):
            return False
        counters, newest_before, k_next = self.counters.copy(), self._newest, self.k_next
        taken: dict[str, list[SensorBlock]] = {}
        try:
            for blocks, until in steps:
                newest = -np.inf
                for block in blocks:
                    block = finite_only(block, self.counters)
                    if block is None:
                        continue
                    sensor = self.sensors.get(block.location)
                    if sensor is None or sensor.tracker is None or self._after_gap(block, newest):
                        raise _OneByOne
                    block = self._on_clock(block)  # late against the frames made by the steps before
                    if block is not None:
                        taken.setdefault(block.location, []).append(block)
                        newest = max(newest, float(block.t[-1]))
                self._newest = max(self._newest, newest)
                self.k_next = max(self.k_next, int(np.floor(until * FRAME_HZ + 1e-9)))
        except _OneByOne:
            self.counters, self._newest = counters, newest_before
            return False
        finally:
            self.k_next = k_next
        for location, blocks in taken.items():
            self.sensors[location].add_all(blocks)
        return True

    def step_out(self, until: float) -> PipelineOutput:
        """Frames before ``until`` made final (the samples are in): what a push returns."""
        self._advance(int(np.floor(until * FRAME_HZ + 1e-9)))
        return self._noted(self._emit(final=False))

    def _noted(self, out: PipelineOutput) -> PipelineOutput:
        """``out`` with the mounting notes logged since the last output."""
        out.mountings = self.calibration_log[self._notes_out:]
        self._notes_out = len(self.calibration_log)
        return out

    def _after_gap(self, block: SensorBlock, newest: float) -> bool:
        """Whether ``block`` starts more than ``episodes.max_gap_s`` after every sample so far."""
        if self.k_next is None:
            return False
        t0 = float(self.clocks[block.location].apply(block.t[:1])[0]) if block.location in self.clocks \
            else float(block.t[0])
        return t0 - max(newest, self._newest) > self.settings.episodes.max_gap_s

    def _restart(self) -> PipelineOutput:
        """Close the segment before a long gap (frames final, open episodes ended at its end) and
        start the next one afresh (fusion, posture context, motion, learning), keeping the
        mountings, clocks, counters and calibration log."""
        out = self.close()
        counters, log_, noted = self.counters, self.calibration_log, self._notes_out
        self.__init__(self.settings, self.calibrations, self.clocks)
        self.counters, self.calibration_log, self._notes_out = counters, log_, noted
        self.counters["segments_after_gaps"] += 1
        return out

    def close(self) -> PipelineOutput:
        """Finalize everything pushed so far and end open episodes (end of a recording)."""
        ends = [s.t[-1] for s in self.sensors.values() if len(s.t)]
        if ends and self.k_next is not None:
            self._advance(int(frame_index(np.array([max(ends)]))[0]) + 1)
        out = self._noted(self._emit(final=True))
        if self.k_next is not None:
            out.events += self.detectors.close(self.k_next / FRAME_HZ)
        return out

    # -- stages, in the order samples meet them -------------------------------------------------
    def _on_clock(self, block: SensorBlock) -> SensorBlock | None:
        """The block on the common clock, without samples before the frames already made
        (counted as late); the first block starts the frame clock. None if nothing is left."""
        t = self.clocks[block.location].apply(block.t) if block.location in self.clocks else block.t
        if self.k_next is not None:
            late = t < self.k_next / FRAME_HZ
            if late.any():
                self.counters[f"{block.location}_late_samples"] += int(late.sum())
                keep = int(np.argmin(late)) if not late.all() else len(t)
                block, t = block.slice(keep, len(t)), t[keep:]
                if len(block) == 0:
                    return None
        else:
            self.k_next = int(frame_index(t[:1])[0])
        return SensorBlock(block.location, t, block.acc, block.gyr, block.mag)

    def _sensor(self, location: str) -> SensorState:
        """The location's fusion state; a new location starts from its declared mounting."""
        sensor = self.sensors.get(location)
        if sensor is None:
            sensor = self.sensors[location] = SensorState(location)
            if location not in self.calibrations:
                self.calibrations[location] = self.settings.declared(location)
        return sensor

    def _advance(self, k_end: int) -> None:
        """Make frames up to ``k_end``: per sensor frames → segment angles → raw posture."""
        if self.k_next is None or k_end <= self.k_next:
            return
        k0, n = self.k_next, k_end - self.k_next
        frames, motion = self._frames(k0, k_end)
        frames_worn, motion = worn_only(frames, motion, self.nonwear.add(frames, motion))
        # a dead-still sensor says nothing of motion (a thigh sensor on a charger while the wearer
        # walks): the next sensor judges it
        motion = {loc: np.where(self.nonwear.still.get(loc, False), np.nan, m) for loc, m in motion.items()}
        for loc, k in self.nonwear.put_back(k0, k_end):  # maybe on the other way round now
            self.calibration_log += self.learner.put_back(loc, k / FRAME_HZ)
        theta, tilt, roll, undefined = self._segments(frames_worn)
        bridged = [{loc: self._bridge.fill(f"{name}:{loc}", v) for loc, v in part.items()}
                   for name, part in (("theta", theta), ("tilt", tilt), ("roll", roll))]
        features = PostureFeatures(*bridged, motion, self.learner.sign_free(),
                                   self.learner.guessed(self.calibrations))
        raw = classify_frames(features, self.settings.posture, n)
        # held back for non-wear (a replay): the posture without each sensor, should it turn out off
        alt = alternatives(features, self.settings.posture, n) if self.settings.hold_nonwear_s else {}
        # k / 10 is exact at whole seconds (k * 0.1 is not), so seconds bin cleanly downstream
        t = (k0 + np.arange(n)) / FRAME_HZ
        self._pending.extend(PendingFrames(t, raw, segment_angles(theta, n, undefined),
                                     {k: f.acc for k, f in frames.items()},
                                     {k: f.n > 0 for k, f in frames_worn.items()},  # on the body
                                     angle_quality(undefined, n),
                                     sure_lying(features, self.settings.posture, n), alt))
        self.k_next = k_end

    def _frames(self, k0: int, k1: int) -> tuple[dict[str, SensorFrames], dict[str, np.ndarray]]:
        """Every sensor's frames ``[k0, k1)`` and trailing motion; the learner keeps them as evidence."""
        frames, motion = {}, {}
        for loc, sensor in self.sensors.items():
            frames[loc], motion[loc] = sensor.frames(k0, k1)
            self.learner.add(loc, frames[loc])
        return frames, motion

    def _segments(self, frames: Mapping[str, SensorFrames]) -> tuple[dict, dict, dict, dict]:
        """Per location: sagittal inclination, tilt from vertical and lateral roll (deg), and
        where the sagittal inclination is undefined (gravity across the sagittal plane)."""
        theta, tilt, roll, undefined = {}, {}, {}, {}
        for loc, fr in frames.items():
            seg = self.calibrations[loc].to_segment(fr.up)
            theta[loc], tilt[loc], roll[loc] = (sagittal_inclination(seg), tilt_from_vertical(seg),
                                                lateral_roll(seg))
            # a sensor put back on and not learnt again may be the other way round: no angle
            undefined[loc] = sagittal_undefined(seg) | (loc in self.learner.unknown)
        return theta, tilt, roll, undefined

    def _emit(self, final: bool) -> PipelineOutput:
        """Frames whose posture is now final: bouts → mountings → episodes."""
        pending = len(self._pending.t)
        count = pending if final else max(0, pending - int(POSTURE_DELAY_S * FRAME_HZ))
        if count == 0:
            return self._wear_and_bed(None, final) if final else PipelineOutput.empty()
        posture = self._bouts(count)
        done = self._pending.take(count)
        posture = self._seated(done, posture)
        posture[self.nonwear.wearer_off(done.t)] = Posture.NOT_WORN
        # a sensor known to be off the body is no evidence of its mounting (a thigh sensor on
        # the charger while the wearer walks is not a thigh that slipped by 137°)
        self._mountings(done.t, posture, {loc: np.where(done.present[loc][:, None], acc, np.nan)
                                          for loc, acc in done.acc.items()})
        steps, moves = self._activity(done, posture)
        self._later_steps = np.concatenate((self._later_steps, steps))
        self._later_moves += moves
        extra = dict(done.alt)
        if extra and "pelvis" in done.acc:
            extra[PELVIS_FORCE] = np.linalg.norm(done.acc["pelvis"], axis=1)
        held = self._held_nonwear.push(HeldFrames(done.t, posture, done.angles, done.present,
                                                  done.quality, extra), final)
        return self._wear_and_bed(held, final)

    def _seated(self, done: PendingFrames, posture: np.ndarray) -> np.ndarray:
        """Without a worn thigh, sitting vs standing follows the pelvis' postural transitions, from
        what the thigh told before it was put down."""
        if "pelvis" not in done.acc:
            return posture
        thigh = done.present.get("thigh")
        ahead = self._pending
        force = [row_norms(f.acc["pelvis"]) for f in (done, ahead)]
        return self.seated.push(done.t, posture, done.angles["pelvic_tilt"], force[0],
                                ahead.t, ahead.angles["pelvic_tilt"], force[1], known=thigh,
                                rest_since=self.nonwear.rest_since("thigh"))

    def _activity(self, done: PendingFrames, posture: np.ndarray) -> tuple[np.ndarray, list[Transition]]:
        """Steps and sit-to-stand transitions among final frames; pending ones are look-ahead."""
        ahead = self._pending
        thigh, pelvis = "thigh_inclination", "pelvic_tilt"
        force = [row_norms(f.acc["pelvis"]) if "pelvis" in f.acc else None
                 for f in (done, ahead)]
        steps = self.steps.push(done.t, posture, done.angles[thigh], force[0], ahead.angles[thigh], force[1])
        moves = self.transitions.push(done.t, posture, done.angles[thigh], done.angles[pelvis],
                                      ahead.t, ahead.angles[thigh], ahead.angles[pelvis])
        return steps, moves

    def _wear_and_bed(self, held: HeldFrames | None, final: bool) -> PipelineOutput:
        """Non-wear backdated onto held frames, nights found and backdated, then episodes."""
        if held is not None and len(held):
            held.posture[self.nonwear.wearer_off(held.t)] = Posture.NOT_WORN
            k = frame_index(held.t)
            off = {loc: self.nonwear.sensor_off(loc, k) for loc in self.nonwear.tracks}
            self.counters["relabelled_off_body"] += self._offbody.apply(held, off)
            self.nonwear.blank_angles(held.t, held.angles)  # one sensor off: its angles, backdated
            self.nonwear.prune(int(frame_index(held.t[-1:])[0]))
            self.sleep.add(held.t, held.posture)
        held = self._held_sleep.push(held, final) if held is not None else None
        if held is None or not len(held):
            return PipelineOutput.empty()
        in_bed = self.sleep.in_bed(held.t)
        self.sleep.prune(float(held.t[-1]))
        events = self.detectors.push(Frames(held.t, held.posture, held.angles, FRAME_S))
        out = PipelineOutput(held.t, held.angles, held.posture, events, held.present, held.quality,
                             in_bed=in_bed)
        out.steps, out.transitions = self._release_activity(float(held.t[-1]) + FRAME_S, final)
        return out

    def _release_activity(self, until: float, final: bool) -> tuple[np.ndarray, list[Transition]]:
        """Steps and transitions go out with the frames they fall in (non-wear and nights may
        hold frames back after the steps were found)."""
        if final:
            until = np.inf
        steps, self._later_steps = (self._later_steps[self._later_steps < until],
                                    self._later_steps[self._later_steps >= until])
        moves = [m for m in self._later_moves if m.start < until]
        self._later_moves = [m for m in self._later_moves if m.start >= until]
        return steps, moves

    def _bouts(self, count: int) -> np.ndarray:
        """Final posture of the first ``count`` pending frames: raw decisions cleaned of short bouts,
        with the emitted frames before and the pending ones after as context."""
        raw, sure = self._pending.raw, self._pending.sure
        labels = clean_bouts(np.concatenate((self._ctx, raw)), self.settings.posture, FRAME_HZ,
                             np.concatenate((self._ctx_sure, sure)))
        posture = labels[len(self._ctx) : len(self._ctx) + count].astype(np.int8)
        keep = int(CONTEXT_S * FRAME_HZ)
        self._ctx = np.concatenate((self._ctx, raw[:count]))[-keep:]
        self._ctx_sure = np.concatenate((self._ctx_sure, sure[:count]))[-keep:]
        return posture

    def _mountings(self, t: np.ndarray, posture: np.ndarray, acc: Mapping[str, np.ndarray]) -> None:
        """Hand final frames to the mounting learner; apply and log what it changed."""
        update = self.learner.observe(t, posture, acc, self.calibrations)
        self.calibrations.update(update.calibrations)
        self.calibration_log += update.notes
        for loc in update.slipped:
            self.counters[f"{loc}_slips"] += 1

"""The analysis pipeline, block by block: samples → fused up directions → 10 Hz frames → segment
angles → posture → episode events. The replay and the live daemon both push blocks into it.

Frames are final once ``until`` has passed them; posture is decided ``POSTURE_DELAY_S`` later
(a bout's length must be known before a short blip can be told from a real change), so each
push returns the frames that became final in posture, with their angles and episode events.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from posturewatch.analytics.episodes import EpisodeDetectors, EpisodeSettings, Frames
from posturewatch.analytics.posture import (
    PostureFeatures,
    PostureSettings,
    classify_frames,
    clean_bouts,
    runs,
)
from posturewatch.analytics.records import EpisodeEvent, Posture
from posturewatch.ingest.align import ClockModel
from posturewatch.ingest.angles import (
    angle_quality,
    lateral_roll,
    sagittal_inclination,
    sagittal_undefined,
    segment_angles,
    tilt_from_vertical,
)
from posturewatch.ingest.autocal import AutoCalSettings, MountingLearner
from posturewatch.ingest.frames import (
    FRAME_HZ,
    FRAME_S,
    SensorFrames,
    frame_index,
    reduce_to_frames,
    rolling_motion,
)
from posturewatch.ingest.fusion import GravityTracker
from posturewatch.ingest.mounting import Calibration, angle_deg
from posturewatch.ingest.records import ANGLE_NAMES, SensorBlock

log = logging.getLogger(__name__)

POSTURE_DELAY_S = 15.0
CONTEXT_S = 30.0
MOTION_WINDOW_FRAMES = 2 * FRAME_HZ
SLIP_WINDOW_S = 30.0
MIN_SLIP_BOUT_S = 20.0


@dataclass
class PipelineSettings:
    posture: PostureSettings = field(default_factory=PostureSettings)
    episodes: EpisodeSettings = field(default_factory=EpisodeSettings)
    autocal: AutoCalSettings = field(default_factory=AutoCalSettings)
    mountings: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)

    def declared(self, location: str) -> Calibration:
        sup, ant = self.mountings.get(location, (None, None))
        return Calibration.declared(location, sup, ant)


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
                   np.concatenate((a.angle_quality, b.angle_quality)).astype(np.uint8))

    def __len__(self) -> int:
        return len(self.t)


class _Sensor:
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

    def frames(self, k0: int, k1: int) -> tuple[SensorFrames, np.ndarray]:
        """Frames ``[k0, k1)`` and their trailing motion; consumed samples are dropped."""
        fr = reduce_to_frames(self.t, self.up, self.acc, k0, k1)
        cut = np.searchsorted(self.t, k1 / FRAME_HZ - 1e-9)
        self.t, self.up, self.acc = self.t[cut:], self.up[cut:], self.acc[cut:]
        if self.tail is not None and self.tail.k0 + len(self.tail) == k0:
            joined = _concat_frames(self.tail, fr)
        else:
            joined = fr
        motion = rolling_motion(joined, MOTION_WINDOW_FRAMES)[len(joined) - len(fr) :]
        keep = min(len(joined), MOTION_WINDOW_FRAMES)
        self.tail = _slice_frames(joined, len(joined) - keep, len(joined))
        return fr, motion


def _slice_frames(f: SensorFrames, a: int, b: int) -> SensorFrames:
    return SensorFrames(f.k0 + a, f.n[a:b], f.up[a:b], f.acc[a:b], f.mag_sum[a:b], f.mag_sq[a:b])


def _concat_frames(a: SensorFrames, b: SensorFrames) -> SensorFrames:
    return SensorFrames(
        a.k0,
        np.concatenate((a.n, b.n)),
        np.concatenate((a.up, b.up)),
        np.concatenate((a.acc, b.acc)),
        np.concatenate((a.mag_sum, b.mag_sum)),
        np.concatenate((a.mag_sq, b.mag_sq)),
    )


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
        self.sensors: dict[str, _Sensor] = {}
        self.k_next: int | None = None
        self.detectors = EpisodeDetectors(self.settings.episodes)
        self.counters: Counter[str] = Counter()
        self.calibration_log: list[tuple[float, str]] = []
        self._ctx = np.zeros(0, np.int8)  # raw posture of already emitted frames
        self._pend_raw = np.zeros(0, np.int8)
        self._pend_t = np.zeros(0)
        self._pend_angles: dict[str, np.ndarray] = {a: np.zeros(0) for a in ANGLE_NAMES}
        self._pend_acc: dict[str, np.ndarray] = {}
        self._pend_present: dict[str, np.ndarray] = {}
        self._pend_quality = np.zeros(0, np.uint8)
        self._walk: dict[str, np.ndarray] = {}
        self._walk_len = 0
        # With no calibration given the mountings are learnt live from walking (and standing).
        self.learner = MountingLearner(self.calibrations, self.settings.autocal)
        self.learner.active = not any(c.source != "declared" for c in self.calibrations.values())

    # -- ingest ---------------------------------------------------------------------------------
    def push(self, blocks: Iterable[SensorBlock], until: float | None = None) -> PipelineOutput:
        """Add samples; frames before ``until`` (default: the newest sample − 0.5 s) become final.

        Samples more than ``episodes.max_gap_s`` after every earlier one start a new segment: the
        one before the gap is closed (``_restart``), nothing is framed over the gap.
        """
        newest = -np.inf
        head = None
        for block in blocks:
            if len(block) == 0:
                continue
            block = self._finite(block)
            if len(block) == 0:
                continue
            t = self.clocks[block.location].apply(block.t) if block.location in self.clocks else block.t
            last = max(newest, getattr(self, "_newest", -np.inf))
            if self.k_next is not None and t[0] - last > self.settings.episodes.max_gap_s:
                head = self._restart() if head is None else PipelineOutput.joined(head, self._restart())
                newest = -np.inf
            if self.k_next is not None:
                late = t < self.k_next / FRAME_HZ
                if late.any():
                    self.counters[f"{block.location}_late_samples"] += int(late.sum())
                    block = block.slice(int(np.argmin(late)) if not late.all() else len(t), len(t))
                    t = t[len(t) - len(block) :]
                    if len(block) == 0:
                        continue
            block = SensorBlock(block.location, t, block.acc, block.gyr, block.mag)
            sensor = self.sensors.get(block.location)
            if sensor is None:
                sensor = self.sensors[block.location] = _Sensor(block.location)
                if block.location not in self.calibrations:
                    self.calibrations[block.location] = self.settings.declared(block.location)
            sensor.add(block)
            newest = max(newest, float(t[-1]))
            if self.k_next is None:
                self.k_next = int(frame_index(t[:1])[0])
        self._newest = max(newest, getattr(self, "_newest", -np.inf))
        if until is None:
            until = newest - 0.5
        if self.k_next is None or not np.isfinite(until):
            return head or PipelineOutput.empty()
        k_end = int(np.floor(until * FRAME_HZ + 1e-9))
        if k_end > self.k_next:
            self._frame(self.k_next, k_end)
            self.k_next = k_end
        out = self._emit(final=False)
        return out if head is None else PipelineOutput.joined(head, out)

    def _restart(self) -> PipelineOutput:
        """Close the segment before a long gap (frames final, open episodes ended at its end) and
        start the next one afresh (fusion, posture context, motion, learning), keeping the
        mountings, clocks, counters and calibration log."""
        out = self.close()
        counters, log_ = self.counters, self.calibration_log
        self.__init__(self.settings, self.calibrations, self.clocks)
        self.counters, self.calibration_log = counters, log_
        self._newest = -np.inf
        self.counters["segments_after_gaps"] += 1
        return out

    def _finite(self, block: SensorBlock) -> SensorBlock:
        """The block without samples whose time or readings are not finite (counted)."""
        ok = np.isfinite(block.t) & np.isfinite(block.acc).all(axis=1)
        if block.gyr is not None:
            ok &= np.isfinite(block.gyr).all(axis=1)
        if len(block) and len(block.t) > 1:
            ok[1:] &= np.diff(block.t) > 0
        if ok.all():
            return block
        self.counters[f"{block.location}_bad_samples"] += int((~ok).sum())
        idx = np.flatnonzero(ok)
        return SensorBlock(block.location, block.t[idx], block.acc[idx],
                           None if block.gyr is None else block.gyr[idx],
                           None if block.mag is None else block.mag[idx])

    def close(self) -> PipelineOutput:
        """Finalize everything pushed so far and end open episodes (end of a recording)."""
        ends = [s.t[-1] for s in self.sensors.values() if len(s.t)]
        if ends and self.k_next is not None:
            k_end = int(frame_index(np.array([max(ends)]))[0]) + 1
            if k_end > self.k_next:
                self._frame(self.k_next, k_end)
                self.k_next = k_end
        out = self._emit(final=True)
        if self.k_next is not None:
            out.events += self.detectors.close(self.k_next / FRAME_HZ)
        return out

    # -- stages ---------------------------------------------------------------------------------
    def _frame(self, k0: int, k1: int) -> None:
        n = k1 - k0
        theta, tilt, roll, motion, undefined = {}, {}, {}, {}, {}
        for loc, sensor in self.sensors.items():
            fr, mot = sensor.frames(k0, k1)
            self.learner.add(loc, fr)
            seg = self.calibrations[loc].to_segment(fr.up)
            theta[loc] = sagittal_inclination(seg)
            tilt[loc] = tilt_from_vertical(seg)
            roll[loc] = lateral_roll(seg)
            undefined[loc] = sagittal_undefined(seg)
            motion[loc] = mot
            self._pend_acc[loc] = np.concatenate((self._pend_acc.get(loc, np.zeros((0, 3))), fr.acc))
            prev = self._pend_present.get(loc, np.zeros(0, bool))
            self._pend_present[loc] = np.concatenate((prev, fr.n > 0))
        angles = segment_angles(theta, n, undefined)
        self._pend_quality = np.concatenate((self._pend_quality, angle_quality(undefined, n)))
        raw = classify_frames(PostureFeatures(theta, tilt, roll, motion), self.settings.posture, n)
        self._pend_raw = np.concatenate((self._pend_raw, raw))
        # k / 10 is exact at whole seconds (k * 0.1 is not), so seconds bin cleanly downstream
        self._pend_t = np.concatenate((self._pend_t, (k0 + np.arange(n)) / FRAME_HZ))
        for name in ANGLE_NAMES:
            self._pend_angles[name] = np.concatenate((self._pend_angles[name], angles[name]))

    def _emit(self, final: bool) -> PipelineOutput:
        pending = len(self._pend_raw)
        count = pending if final else max(0, pending - int(POSTURE_DELAY_S * FRAME_HZ))
        if count == 0:
            return PipelineOutput.empty()
        labels = clean_bouts(np.concatenate((self._ctx, self._pend_raw)), self.settings.posture, FRAME_HZ)
        posture = labels[len(self._ctx) : len(self._ctx) + count].astype(np.int8)
        t = self._pend_t[:count]
        angles = {k: v[:count] for k, v in self._pend_angles.items()}
        present = {k: v[:count] for k, v in self._pend_present.items()}
        acc = {k: v[:count] for k, v in self._pend_acc.items()}
        self._ctx = np.concatenate((self._ctx, self._pend_raw[:count]))[-int(CONTEXT_S * FRAME_HZ) :]
        self._pend_raw, self._pend_t = self._pend_raw[count:], self._pend_t[count:]
        self._pend_angles = {k: v[count:] for k, v in self._pend_angles.items()}
        self._pend_present = {k: v[count:] for k, v in self._pend_present.items()}
        self._pend_acc = {k: v[count:] for k, v in self._pend_acc.items()}
        quality, self._pend_quality = self._pend_quality[:count], self._pend_quality[count:]
        self._watch_slips(t, posture, acc)
        events = self.detectors.push(Frames(t, posture, angles, FRAME_S))
        return PipelineOutput(t, angles, posture, events, present, quality)

    def _watch_slips(self, t: np.ndarray, posture: np.ndarray, acc: dict[str, np.ndarray]) -> None:
        """At the end of each walking bout, compare each sensor's mean up with its calibration;
        while the mountings are still being learnt, walking and standing bouts are evidence."""
        window = int(SLIP_WINDOW_S * FRAME_HZ)
        starts, lengths, values = runs(posture)
        for a, ln, label in zip(starts.tolist(), lengths.tolist(), values.tolist(), strict=True):
            if label == Posture.WALKING:
                for loc, v in acc.items():
                    prev = self._walk.get(loc, np.zeros((0, 3)))
                    self._walk[loc] = np.concatenate((prev, v[a : a + ln]))[-window:]
                self._walk_len += ln
                continue
            if self._walk_len:
                self._end_walk(float(t[a]))
            if label == Posture.STANDING and ln >= MIN_SLIP_BOUT_S * FRAME_HZ:
                self._learn(float(t[a] + ln / FRAME_HZ))

    def _learn(self, ts: float) -> None:
        if not self.learner.active:
            return
        for loc, cal in self.learner.learn(self.settings.declared).items():
            if cal.source != self.calibrations[loc].source:
                self.calibration_log.append((ts, f"{loc}: mounting learnt from {cal.source}"))
            self.calibrations[loc] = cal

    def _end_walk(self, ts: float) -> None:
        if self._walk_len < MIN_SLIP_BOUT_S * FRAME_HZ:
            self._walk_len = 0
            self._walk.clear()
            return
        self._learn(ts)
        for loc, v in self._walk.items():
            v = v[np.isfinite(v).all(axis=1)]
            if len(v) < FRAME_HZ * 5:
                continue
            up = v.mean(axis=0)
            up /= np.linalg.norm(up)
            cal = self.calibrations[loc]
            if cal.walk_up is None:
                self.calibrations[loc] = Calibration(cal.location, cal.R, cal.source, up, cal.notes)
                continue
            moved = angle_deg(up, cal.walk_up)
            if moved > self.settings.autocal.slip_deg:
                when = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
                note = f"{loc}: sensor moved by {moved:.1f}° (seen walking at {when}); re-calibrated"
                log.info(note)
                self.counters[f"{loc}_slips"] += 1
                self.calibration_log.append((ts, note))
                self.calibrations[loc] = cal.rotated(cal.walk_up, up, note)
                # Learning would keep returning the mounting from before the slip: stop it.
                self.learner.active = False
        self._walk_len = 0
        self._walk.clear()

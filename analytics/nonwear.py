"""Non-wear: telling a sensor resting on a table, a chair, a charger or in a bag from a still body.

A single still sensor says little — a sleeper's thigh or a reader's pelvis can be as still as a
sensor on a table. What a body cannot do is keep a sensor *dead* still, so the test is relative
to the sensor's own noise: the 1 s means of its specific force must vary no more than its
frame-to-frame noise predicts (breathing, the body's slow sway and every fidget add variation
well beyond that; a sensor at rest adds none). On top of that, the three sensors of one body
must agree:

- the wearer is off when every worn sensor has been dead still *at the same time* for
  ``confirm_s`` (breathing on the upper back alone keeps a sleeper "on");
- one sensor alone is off when it stays dead still for ``confirm_s`` while another sensor shows
  body motion (a turn in bed, a walk, standing up): a body that moves carries its sensors along;
- or while the others, worn by someone sitting on at a desk, make at least ``shift_events``
  separate movements (a shift in the chair, a reach, crossing the legs: the 1 s mean specific
  force of another sensor changes by ``shift_ms2`` within ``shift_lag_s``) that it does not share.
  Breathing alone moves the upper back far less than that, and a sleeper's turn moves every
  sensor, so a still sleeper or sitter with a dead-still thigh stays worn. Such a span starts no
  earlier than the sensor's stillness: a thigh sensor put face up on a seat points the way it did
  on the seated thigh, so its up direction alone cannot tell the put-down moment.

Once sure, the span is backdated to the put-down moment: the last time the sensor's fused up
direction was more than ``carry_deg`` from where it rests, which also covers a bag carried while
walking (it sways a few degrees; a worn thigh swings tens of degrees). A sensor is back on when its
up direction leaves the resting one by more than ``carry_deg`` (picked up).

Frames arrive at 10 Hz; all work is on numpy blocks, with a bounded history per sensor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from posturewatch.ingest.angles import ANGLE_SEGMENTS
from posturewatch.ingest.frames import FRAME_HZ, SensorFrames, runs
from posturewatch.ingest.records import row_norms

SECOND = FRAME_HZ  # frames per second


@dataclass(frozen=True)
class NonWearSettings:
    """How sure the detector must be before calling a sensor off (seconds, degrees)."""

    enabled: bool = True
    confirm_s: float = 600.0  # dead still for this long (live: the frames after it are not_worn)
    window_s: float = 60.0  # stillness is judged over this trailing window
    # variance of the 1 s means over the window / variance predicted by the sensor noise;
    # ~1 at rest, far above with any body motion (breathing, sway)
    still_ratio: float = 2.5
    still_floor: float = 1e-5  # (m/s²)²: below this the sensor is still whatever its noise
    # frame-to-frame variance (sum of axes, (m/s²)²) above which it is motion, not sensor noise:
    # a walk or a shake has small 1 s variation relative to its fast variation, yet is not still
    noise_cap: float = 0.01
    carry_deg: float = 12.0  # off the body the 1 s mean up direction stays this close to its rest
    # another sensor moving like a walking body (std of |acc| over 2 s, m/s²) for this many
    # seconds while a sensor stays dead still: the body moved without it
    body_motion: float = 1.0
    body_motion_s: float = 5.0
    backdate_max_s: float = 1800.0  # how far back the put-down moment is searched
    # body movements of the other sensors that a dead-still sensor did not share (seated wear)
    shift_ms2: float = 0.3  # change of the 1 s mean specific force (≈ 1.7° of tilt) …
    shift_lag_s: float = 3.0  # … within this long
    shift_events: int = 3  # this many separate movements while it stays dead still …
    shift_gap_s: float = 10.0  # … each this long after the previous one


@dataclass
class Span:
    """One not-worn span in frame numbers, ``[k0, k1)``; ``k1`` None while still off."""

    location: str
    k0: int
    k1: int | None = None


class _Track:
    """One sensor: a tail of frames for the stillness window and a history for backdating."""

    def __init__(self, location: str, s: NonWearSettings) -> None:
        self.location = location
        self.k_end = 0  # frame just after the last one seen
        keep = int(s.window_s * SECOND) + SECOND
        self.keep = keep
        self.acc = np.zeros((0, 3))
        self.ok = np.zeros(0, bool)
        self._ring = np.full((int(s.backdate_max_s * SECOND), 3), np.nan)  # up directions, for backdating
        self._pos = self._filled = 0
        self.still_since: int | None = None  # frame from which it has been dead still
        self.body_moved = 0  # frames of body motion on other sensors during that still run
        self.shifts = 0  # separate movements of the other sensors during that still run
        self.shifted = np.zeros(0, bool)  # per new frame: this sensor's 1 s mean moved (a shift)
        self.last_shift = -(1 << 62)  # frame of the last movement of the other sensors seen
        self.picked_up = False  # picked up during the current still window
        self.rest: np.ndarray | None = None  # up direction while off
        self.span: Span | None = None

    def _remember(self, up: np.ndarray) -> None:
        size = len(self._ring)
        up = up[-size:]
        idx = (self._pos + np.arange(len(up))) % size
        self._ring[idx] = up
        self._pos = (self._pos + len(up)) % size
        self._filled = min(size, self._filled + len(up))

    def history(self, count: int | None = None) -> np.ndarray:
        """Up directions of the last ``count`` frames seen (oldest first, at most ``backdate_max_s``)."""
        count = self._filled if count is None else min(count, self._filled)
        idx = (self._pos - count + np.arange(count)) % len(self._ring)
        return self._ring[idx]

    def add(self, fr: SensorFrames, s: NonWearSettings) -> np.ndarray:
        """Per frame: dead still over the trailing window."""
        if fr.k0 != self.k_end:  # a jump in frames: start the window again
            self.acc, self.ok = np.zeros((0, 3)), np.zeros(0, bool)
            self._pos = self._filled = 0
            self.still_since = None
        self.k_end = fr.k1
        ok = fr.n > 0
        acc = np.where(ok[:, None], fr.acc, 0.0)
        joined_acc = np.concatenate((self.acc, acc))
        joined_ok = np.concatenate((self.ok, ok))
        means = _means_1s(joined_acc, joined_ok)  # both tests look at the same 1 s means
        still = _dead_still(joined_acc, joined_ok, int(s.window_s * SECOND), s, means)[-len(fr):]
        self.shifted = _shifted(joined_acc, joined_ok, s, means)[-len(fr):]
        self.acc, self.ok = joined_acc[-self.keep:], joined_ok[-self.keep:]
        self.smooth_up = _mean_1s(np.concatenate((self.history(SECOND - 1), fr.up)))[-len(fr):]
        self._remember(fr.up)
        return still


def _mean_1s(up: np.ndarray) -> np.ndarray:
    """Trailing 1 s mean of up directions (a bag's sway and a stride average out); NaN rows skipped."""
    ok = np.isfinite(up).all(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        total = _window_sum(np.where(ok[:, None], up, 0.0), SECOND)
        return total / _window_sum(ok.astype(float), SECOND)[:, None]


def _angle_deg(up: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Angle (deg) of each row of ``up`` from ``ref``; NaN rows count as 0 (no evidence)."""
    cos = np.clip(up @ ref, -1.0, 1.0)
    return np.nan_to_num(np.degrees(np.arccos(cos)), nan=0.0)


def _window_sum(x: np.ndarray, w: int) -> np.ndarray:
    """Trailing sums over ``w`` rows (fewer at the start), as differences of one running sum."""
    if x.dtype != np.float64 or w < 1:
        c = np.concatenate((np.zeros((1, *x.shape[1:])), np.cumsum(x, axis=0)))
        hi = np.arange(1, len(x) + 1)
        return c[hi] - c[np.maximum(hi - w, 0)]
    # the same differences taken by slices (fancy indexing costs more than the sums)
    c = np.empty((len(x) + 1, *x.shape[1:]))
    c[0] = 0.0
    np.cumsum(x, axis=0, out=c[1:])
    out = np.empty_like(x)
    head = min(w, len(x) + 1)
    np.subtract(c[1:head], c[0], out=out[: head - 1])
    np.subtract(c[head:], c[: len(x) + 1 - head], out=out[head - 1:])
    return out


def _means_1s(acc: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Trailing 1 s means of the specific force and whether each is full enough (a lost packet
    or two leaves the mean good enough)."""
    n1 = _window_sum(ok.astype(float), SECOND)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean1 = _window_sum(acc, SECOND) / n1[:, None]
    return mean1, n1 >= SECOND - 2


def _shifted(acc: np.ndarray, ok: np.ndarray, s: NonWearSettings,
             means: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Per frame: has the 1 s mean specific force changed by ``shift_ms2`` within ``shift_lag_s``?"""
    lag = int(s.shift_lag_s * SECOND)
    mean1, full = means if means is not None else _means_1s(acc, ok)
    out = np.zeros(len(acc), bool)
    if len(acc) > lag:
        change = row_norms(mean1[lag:] - mean1[:-lag])
        out[lag:] = full[lag:] & full[:-lag] & (change > s.shift_ms2)
    return out


def _dead_still(acc: np.ndarray, ok: np.ndarray, w: int, s: NonWearSettings,
                means: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Per frame: over the trailing ``w`` frames, do the 1 s means of the specific force vary no
    more than the frame-to-frame noise predicts?"""
    mean1, full = means if means is not None else _means_1s(acc, ok)
    m = np.where(full[:, None], mean1, 0.0)
    cnt = _window_sum(full.astype(float), w)
    s1 = _window_sum(m, w)
    s2 = _window_sum(m * m, w)
    with np.errstate(invalid="ignore", divide="ignore"):
        var_means = (s2 / cnt[:, None] - (s1 / cnt[:, None]) ** 2).sum(axis=1)
    d = np.zeros_like(acc)
    d[1:] = acc[1:] - acc[:-1]
    pair = np.zeros(len(acc), bool)
    pair[1:] = ok[1:] & ok[:-1]
    d[~pair] = 0.0
    npair = _window_sum(pair.astype(float), w)
    with np.errstate(invalid="ignore", divide="ignore"):
        var_frame = (_window_sum((d * d).sum(axis=1), w) / npair) / 2.0
    predicted = var_frame / SECOND  # a 1 s mean of independent frame means
    enough = (cnt >= 0.5 * w) & (npair >= 0.5 * w)
    return enough & (var_frame <= s.noise_cap) & (
        (var_means <= s.still_ratio * predicted) | (var_means <= s.still_floor))


class NonWearDetector:
    """Streaming non-wear detector over the pipeline's frames."""

    def __init__(self, settings: NonWearSettings | None = None) -> None:
        self.settings = settings or NonWearSettings()
        self.tracks: dict[str, _Track] = {}
        self.spans: list[Span] = []  # per sensor, newest last; old closed ones are pruned
        self._all_still_since: int | None = None
        self.still: dict[str, np.ndarray] = {}  # per location: the last frames added, dead still

    # -- public ---------------------------------------------------------------------------------
    def add(self, frames: Mapping[str, SensorFrames],
            motion: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Take new frames (all locations cover the same frames); returns per location whether each
        frame is worn as far as is known now (off from the moment the detector became sure)."""
        s = self.settings
        if not frames:
            return {}
        any_fr = next(iter(frames.values()))
        k0, n = any_fr.k0, len(any_fr)
        worn = {loc: np.ones(n, bool) for loc in frames}
        if not s.enabled or n == 0:
            return worn
        still, present = {}, {}
        for loc, fr in frames.items():
            track = self.tracks.setdefault(loc, _Track(loc, s))
            still[loc] = track.add(fr, s)
            present[loc] = fr.n > 0
        self.still = still
        moved = {loc: np.nan_to_num(m, nan=0.0) > s.body_motion for loc, m in motion.items()}
        at_all = self._all_still(still, present, k0)
        for loc, fr in frames.items():
            worn[loc] = self._follow(loc, fr, still, moved, k0, at_all)
        return worn

    def wearer_off(self, t: np.ndarray) -> np.ndarray:
        """Whether every sensor was off at frame times ``t`` (as known now, backdated)."""
        k = np.floor(np.asarray(t) * FRAME_HZ + 1e-9).astype(np.int64)
        off = None
        for loc in self.tracks:
            o = self.sensor_off(loc, k)
            off = o if off is None else off & o
        return np.zeros(len(k), bool) if off is None else off

    def put_back(self, k0: int, k1: int) -> list[tuple[str, int]]:
        """(location, frame) of each sensor picked up again within frames ``[k0, k1)``."""
        return [(sp.location, sp.k1) for sp in self.spans if sp.k1 is not None and k0 <= sp.k1 < k1]

    def sensor_off(self, location: str, k: np.ndarray) -> np.ndarray:
        """Whether ``location`` was off at frames ``k``."""
        out = np.zeros(len(k), bool)
        for sp in self.spans:
            if sp.location == location:
                out |= (k >= sp.k0) & (k < (sp.k1 if sp.k1 is not None else np.iinfo(np.int64).max))
        return out

    def rest_since(self, location: str) -> float | None:
        """When ``location`` came to rest (s): its open span's start, else the start of its current
        dead-still run; None while it moves."""
        track = self.tracks.get(location)
        if track is None:
            return None
        k = track.span.k0 if track.span is not None else track.still_since
        return None if k is None else k / FRAME_HZ

    def blank_angles(self, t: np.ndarray, angles: dict[str, np.ndarray]) -> None:
        """Set the angles a sensor off the body was needed for to NaN at frame times ``t``, in
        place (frames held back get the backdated spans: the first ``confirm_s`` too)."""
        k = np.floor(np.asarray(t) * FRAME_HZ + 1e-9).astype(np.int64)
        for loc in {sp.location for sp in self.spans}:
            off = self.sensor_off(loc, k)
            if off.any():
                for name, needs in ANGLE_SEGMENTS.items():
                    if loc in needs and name in angles:
                        angles[name] = np.where(off, np.nan, angles[name])

    def prune(self, before_k: int) -> None:
        """Forget closed spans that ended before frame ``before_k`` (already emitted)."""
        self.spans = [sp for sp in self.spans if sp.k1 is None or sp.k1 > before_k]

    # -- internals ------------------------------------------------------------------------------
    def _follow(self, loc: str, fr: SensorFrames, still: dict, moved: dict, k0: int,
                at_all: int | None) -> np.ndarray:
        """Advance one sensor's off/on state over the new frames; returns its worn mask.
        ``at_all`` is the frame (in this block) where every sensor had been still long enough."""
        s, track = self.settings, self.tracks[loc]
        n = len(fr)
        worn = np.ones(n, bool)
        w, confirm = int(s.window_s * SECOND), int(s.confirm_s * SECOND)
        others_moved = np.zeros(n, bool)
        for other, m in moved.items():
            if other != loc:
                others_moved |= m
        shift_start = self._shift_starts(loc, k0, n)
        i = 0
        while i < n:
            if track.span is not None:  # off: until picked up
                dev = _angle_deg(track.smooth_up[i:], track.rest)
                far = np.flatnonzero(dev > s.carry_deg)
                j = i + (int(far[0]) if len(far) else n - i)
                worn[i:j] = False
                if j < n:
                    track.span.k1 = k0 + j
                    track.span, track.rest, track.still_since = None, None, None
                    track.picked_up = True
                i = j
                continue
            _, lengths, values = runs(still[loc][i:])
            j = i + int(lengths[0])
            if not values[0] or track.picked_up:  # a new off needs a still run begun after the pick-up
                track.still_since, track.body_moved, track.shifts = None, 0, 0
                track.picked_up = track.picked_up and bool(values[0])
                i = j
                continue
            if track.still_since is None:  # the window before the first still frame was still too
                track.still_since, track.body_moved, track.shifts = k0 + i - w, 0, 0
            moved_so_far = track.body_moved + np.cumsum(others_moved[i:j])
            shifts_so_far = track.shifts + np.cumsum(shift_start[i:j])
            long_enough = k0 + np.arange(i, j) >= track.still_since + confirm
            walked = (moved_so_far >= s.body_motion_s * SECOND) & long_enough
            sat_on = (shifts_so_far >= s.shift_events) & long_enough
            sure = walked | sat_on
            if at_all is not None and i <= at_all < j:
                sure[at_all - i:] = True
            if sure.any():
                at = i + int(np.argmax(sure))
                by_shifts = bool(sat_on[at - i]) and not walked[at - i] and at_all != at
                self._go_off(loc, k0 + at, not_before=track.still_since if by_shifts else None)
                i = at if track.span is not None else j
                continue
            track.body_moved, track.shifts = int(moved_so_far[-1]), int(shifts_so_far[-1])
            i = j
        return worn

    def _shift_starts(self, loc: str, k0: int, n: int) -> np.ndarray:
        """Per new frame: does a separate movement of the other worn sensors begin here
        (``shift_gap_s`` after the previous one)? Sensors already off give no evidence."""
        track = self.tracks[loc]
        shifted = np.zeros(n, bool)
        for other, t in self.tracks.items():
            if other != loc and t.span is None and len(t.shifted) == n:
                shifted |= t.shifted
        frames = k0 + np.flatnonzero(shifted)
        starts = np.zeros(n, bool)
        if len(frames):
            previous = np.concatenate(([track.last_shift], frames[:-1]))
            begin = frames[frames - previous > self.settings.shift_gap_s * SECOND]
            starts[begin - k0] = True
            track.last_shift = int(frames[-1])
        return starts

    def _go_off(self, loc: str, k: int, not_before: int | None = None) -> None:
        """Mark ``loc`` off from frame ``k``, backdated to its put-down moment (as far as the
        history reaches, and not before frame ``not_before``)."""
        track = self.tracks[loc]
        hist = track.history()
        upto = len(hist) - (track.k_end - k)  # history rows before frame k
        recent = hist[max(upto - int(self.settings.window_s * SECOND), 0):upto]
        if len(recent) == 0 or not np.isfinite(recent).any():
            return
        rest = np.nanmean(recent, axis=0)
        track.rest = rest / np.linalg.norm(rest)
        dev = _angle_deg(_mean_1s(hist[:upto]), track.rest)
        far = np.flatnonzero(dev > self.settings.carry_deg)
        start = k - upto + (int(far[-1]) + 1 if len(far) else 0)
        if not_before is not None:
            start = max(start, not_before)
        track.span = Span(loc, start)
        self.spans.append(track.span)

    def _all_still(self, still: dict, present: dict, k0: int) -> int | None:
        """The frame (in this block) at which every sensor with data had been dead still at once
        for ``confirm_s``: the wearer took them off. None if not in this block."""
        s = self.settings
        n = len(next(iter(still.values())))
        together = np.ones(n, bool)
        for loc in still:
            together &= still[loc] | ~present[loc]
        together &= np.any([present[loc] for loc in still], axis=0)
        w, confirm = int(s.window_s * SECOND), int(s.confirm_s * SECOND)
        starts, lengths, values = runs(together)
        found = None
        for a, ln, v in zip(starts.tolist(), lengths.tolist(), values.tolist(), strict=True):
            if not v:
                self._all_still_since = None
                continue
            if self._all_still_since is None:
                self._all_still_since = k0 + a - w
            need = self._all_still_since + confirm - k0
            if need < a + ln and found is None:
                found = max(need, a)
        return found

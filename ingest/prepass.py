"""The first pass over a recording of any length: segments, clocks per segment, mountings.

A recording is cut into segments wherever no sensor has a sample for longer than the gap limit
(minutes to months: the analysis restarts after it). While the file streams by, each sensor is
reduced to what the offline extras need, never kept whole:

* clocks: every six hours of a segment are aligned from content on their own (``ingest.align``
  needs only the magnitudes |acc| and |gyr| at its 50 Hz, with their times); the lags of the
  pieces are then joined by one line per segment, the pieces that agree with the best-supported
  one (weighted by their windows) outvoting a wrong one;
* mountings: per whole second the mean specific force and the motion (what ``ingest.autocal``
  works on) of the first day of data, from which the mountings are learnt before any sample is
  analysed; after a long gap the first day of the new segment re-checks them (a sensor put on
  again differently is re-learnt) as soon as that segment ends.

Memory is six hours of magnitudes plus a day of per-second features: never more for a longer
recording, nothing per second of a gap.
"""

from __future__ import annotations

import logging
import warnings
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from posturewatch.ingest.align import (
    ESTIMATED,
    NOT_ENOUGH_ACTIVITY,
    AlignSettings,
    ClockModel,
    estimate_clock_models,
)
from posturewatch.ingest.autocal import AutoCalSettings, autocalibrate_seconds
from posturewatch.ingest.mounting import Calibration, angle_deg
from posturewatch.ingest.records import SensorBlock
from posturewatch.ingest.second_features import SecondFeatures

log = logging.getLogger(__name__)

EXCERPT_S = 6 * 3600.0  # magnitudes held at a time for clock alignment
AGREE_S = 0.03  # pieces whose lags are this close to a line belong to it
RECHECK_GAP_S = 3600.0  # after a gap this long the mountings are checked against the new data
RELEARN_DEG = 15.0  # a sensor put on again this differently is re-learnt (less: the evidence's noise)
LEARN_S = 86400  # per-second features kept of a segment (and of the start) for the mountings


@dataclass
class Segment:
    """A stretch without a gap longer than the limit (file times of its first and last sample)."""

    start: float
    end: float
    samples: int = 0
    clocks: dict[str, ClockModel] = field(default_factory=dict)
    calibrations: dict[str, Calibration] | None = None  # set when re-learnt after a long gap

    @property
    def hours(self) -> float:
        return (self.end - self.start) / 3600.0


@dataclass
class _Lag:
    centre: float
    lag: float
    drift: float
    n_windows: int


def _no_gap(blocks: Mapping[str, SensorBlock], last: float, max_gap_s: float) -> bool:
    """Whether the merged times of ``blocks`` (after ``last``) hold no gap over ``max_gap_s``,
    told without sorting them: no sensor has one of its own and their spans follow on. False
    also when unsure (then the caller sorts)."""
    reach = last
    for t in sorted((b.t for b in blocks.values()), key=lambda t: float(t[0])):
        if float(t[0]) - reach > max_gap_s:
            return False
        if len(t) > 1:
            steps = t[1:] - t[:-1]
            if float(steps.max()) > max_gap_s or float(steps.min()) < 0:  # a gap, or not in order
                return False
        reach = max(reach, float(t[-1]))
    return True


def _magnitudes(b: SensorBlock, grid_hz: float) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Times and |acc|, |gyr| / √3 (float32): all that clock alignment looks at, averaged over
    groups of samples down to about the alignment's grid rate (its anti-alias filter anyway)."""
    def norm(v: np.ndarray) -> np.ndarray:
        return (np.sqrt(np.einsum("ij,ij->i", v, v, dtype=np.float64)) / np.sqrt(3.0)).astype(np.float32)

    t, acc, gyr = b.t, norm(b.acc), None if b.gyr is None else norm(b.gyr)
    rate = 1.0 / float(np.median(np.diff(t))) if len(t) > 10 else 0.0
    k = int(rate / grid_hz) if np.isfinite(rate) else 1
    if k < 2:
        return t, acc, gyr
    n = len(t) // k * k

    def mean(x: np.ndarray) -> np.ndarray:
        if k == 2:  # pairs (100 Hz): the same sum and halving as ``mean``, without its slow reduction
            return ((x[0:n:2].astype(np.float64) + x[1:n:2]) / 2).astype(x.dtype)
        return x[:n].reshape(-1, k).mean(axis=1, dtype=np.float64).astype(x.dtype)
    return mean(t), mean(acc), None if gyr is None else mean(gyr)


def _as_block(loc: str, parts: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]) -> SensorBlock:
    """Magnitudes as a block whose three axes all read m/√3 (a view: |row| is m again)."""
    t = np.concatenate([p[0] for p in parts])
    acc = np.concatenate([p[1] for p in parts])
    gyr = None if any(p[2] is None for p in parts) else np.concatenate([p[2] for p in parts])
    return SensorBlock(loc, t, np.broadcast_to(acc[:, None], (len(t), 3)),
                       None if gyr is None else np.broadcast_to(gyr[:, None], (len(t), 3)))


class Prepass:
    """Feed ``add`` the file's batches in time order, then ``finish``."""

    def __init__(self, max_gap_s: float, align: bool = True, reference: str | None = None,
                 align_settings: AlignSettings | None = None, *,
                 declared: Callable[[str], Calibration] | None = None,
                 given: Mapping[str, Calibration] | None = None,
                 autocal: AutoCalSettings | None = None) -> None:
        self.max_gap_s = max_gap_s
        self.align = align
        self.reference = reference
        self.align_settings = align_settings or AlignSettings()
        self.segments: list[Segment] = []
        self.features: dict[str, SecondFeatures] = {}
        self.declared = declared or Calibration.declared
        self.given = dict(given or {})
        self.autocal = autocal or AutoCalSettings()
        self.closed = 0
        self.first: dict[str, Calibration] | None = dict(self.given) if self.given else None
        self.current: dict[str, Calibration] = dict(self.given)
        self.notes: list[str] = []
        self._initial: list[dict[str, tuple[np.ndarray, np.ndarray]]] = []
        self._initial_s = 0
        self.clock_status: Counter[str] = Counter()
        self._last: float | None = None
        self._excerpt: dict[str, list[SensorBlock]] = {}
        self._excerpt_end = 0.0
        self._lags: dict[str, list[_Lag]] = {}
        self._failures: dict[str, Counter[str]] = {}

    # ------------------------------------------------------------------ streaming
    def add(self, blocks: Mapping[str, SensorBlock]) -> None:
        blocks = {loc: b for loc, b in blocks.items() if len(b)}
        if not blocks:
            return
        if self.reference is None:
            self.reference = "pelvis" if "pelvis" in blocks else sorted(blocks)[0]
        if self._last is not None and _no_gap(blocks, self._last, self.max_gap_s):
            starts, ts = np.zeros(0), np.array([max(float(b.t[-1]) for b in blocks.values())])
        else:
            ts = np.sort(np.concatenate([b.t for b in blocks.values()]))
            prev = np.concatenate(([self._last], ts)) if self._last is not None else ts
            gaps = np.flatnonzero(np.diff(prev) > self.max_gap_s)
            starts = prev[gaps + 1] if self._last is not None or len(gaps) else np.zeros(0)
        if self._last is None:
            self._open(float(ts[0]))
        for start in starts.tolist():  # the batch holds the end of a segment and what follows
            head = {loc: b.slice(0, int(np.searchsorted(b.t, start))) for loc, b in blocks.items()}
            self._feed(head)
            self._close()
            self._open(start)
            blocks = {loc: b.slice(int(np.searchsorted(b.t, start)), len(b)) for loc, b in blocks.items()}
        self._feed(blocks)
        self._last = float(ts[-1])

    def _open(self, start: float) -> None:
        self.segments.append(Segment(start, start))
        for f in self.features.values():
            f.limit = int(np.floor(start)) + LEARN_S
        self._excerpt, self._excerpt_end = {}, start + EXCERPT_S
        self._lags, self._failures = {}, {}

    def _feed(self, blocks: Mapping[str, SensorBlock]) -> None:
        blocks = {loc: b for loc, b in blocks.items() if len(b)}
        if not blocks:
            return
        seg = self.segments[-1]
        seg.samples += sum(len(b) for b in blocks.values())
        seg.end = max(seg.end, max(float(b.t[-1]) for b in blocks.values()))
        for loc, b in blocks.items():
            features = self.features.setdefault(loc, SecondFeatures(int(np.floor(seg.start)) + LEARN_S))
            features.pending.append(b)
        for f in self.features.values():
            f.reduce(np.floor(seg.end) - 1.0)
        if not self.align:
            return
        mags = {loc: _magnitudes(b, self.align_settings.rate_hz) for loc, b in blocks.items()}
        while mags:
            later = {}
            for loc, (t, acc, gyr) in mags.items():
                cut = int(np.searchsorted(t, self._excerpt_end))
                if cut:
                    self._excerpt.setdefault(loc, []).append((t[:cut], acc[:cut],
                                                              None if gyr is None else gyr[:cut]))
                if cut < len(t):
                    later[loc] = (t[cut:], acc[cut:], None if gyr is None else gyr[cut:])
            if later:
                self._align_excerpt()
                self._excerpt_end += EXCERPT_S
            mags = later

    def _align_excerpt(self) -> None:
        parts, self._excerpt = self._excerpt, {}
        if self.reference not in parts or len(parts) < 2:
            return
        blocks = {loc: _as_block(loc, p) for loc, p in parts.items()}
        del parts
        ref = blocks[self.reference]
        centre = 0.5 * (float(ref.t[0]) + float(ref.t[-1]))
        quiet = logging.getLogger("posturewatch.ingest.align")
        level = quiet.level
        quiet.setLevel(logging.ERROR)  # an hour without walking is normal; counted below instead
        try:
            models = estimate_clock_models(blocks, self.reference, settings=self.align_settings)
        except ValueError as exc:
            log.info("clock alignment of an excerpt failed: %s", exc)
            return
        finally:
            quiet.setLevel(level)
        for loc, m in models.items():
            if loc == self.reference:
                continue
            if m.estimated:
                self._lags.setdefault(loc, []).append(
                    _Lag(centre, float(m.apply(np.array([centre]))[0] - centre), m.drift, m.n_windows))
            else:
                self._failures.setdefault(loc, Counter())[m.status] += 1

    def _close(self) -> None:
        seg = self.segments[-1]
        for f in self.features.values():
            f.reduce(np.inf)
        lo = int(np.floor(seg.start))
        hi = min(int(np.floor(seg.end)) + 1, lo + LEARN_S)
        self._mountings({loc: f.on_grid(lo, hi) for loc, f in self.features.items()}, hi - lo)
        self.closed += 1
        for f in self.features.values():
            f.tail, f.done_k, f.parts = None, None, []
        if not self.align:
            return
        self._align_excerpt()
        if self.reference is None:
            return
        seg.clocks[self.reference] = ClockModel.identity(seg.start)
        for loc in self.features:
            if loc != self.reference:
                seg.clocks[loc] = self._clock_line(loc, seg.start)
                self.clock_status[seg.clocks[loc].status] += 1

    def _clock_line(self, loc: str, t0: float) -> ClockModel:
        """One line through a sensor's hourly lags (robust: a wrong hour is outvoted)."""
        lags = self._lags.get(loc, [])
        if not lags:
            failures = self._failures.get(loc)
            status = failures.most_common(1)[0][0] if failures else NOT_ENOUGH_ACTIVITY
            return ClockModel.identity(t0, status)
        n = int(sum(p.n_windows for p in lags))
        if len(lags) == 1:
            p = lags[0]
            return ClockModel(p.lag + p.drift * (t0 - p.centre), p.drift, t0, n_windows=n,
                              status=ESTIMATED if p.drift else "offset_only")
        c = np.array([p.centre for p in lags])
        y = np.array([p.lag for p in lags])
        w = np.array([p.n_windows for p in lags], dtype=np.float64)
        # each piece's own line as a candidate; the one most windows agree with wins
        support = [w[np.abs(y - (p.lag + p.drift * (c - p.centre))) <= AGREE_S].sum() for p in lags]
        best = lags[int(np.argmax(support))]
        used = np.abs(y - (best.lag + best.drift * (c - best.centre))) <= AGREE_S
        if used.sum() < 2:
            return ClockModel(best.lag + best.drift * (t0 - best.centre), best.drift, t0,
                              n_windows=best.n_windows, status=ESTIMATED)
        cm = float(np.average(c[used], weights=w[used]))
        b, a = np.polyfit(c[used] - cm, y[used], 1, w=np.sqrt(w[used]))
        if abs(b) > 1.5 * self.align_settings.max_drift:
            b, a = best.drift, best.lag + best.drift * (cm - best.centre)
        rms = float(np.sqrt(np.average((y[used] - a - b * (c[used] - cm)) ** 2, weights=w[used])))
        return ClockModel(float(a + b * (t0 - cm)), float(b), t0, rms, int(w[used].sum()), ESTIMATED)

    # ------------------------------------------------------------------ mountings
    def _mountings(self, features: dict[str, tuple[np.ndarray, np.ndarray]], seconds: int) -> None:
        """A closed segment's features: evidence for the first mountings, or a re-check."""
        if self.given:
            return
        if self.first is None:
            self._initial.append(features)
            self._initial_s += seconds
            if self._initial_s >= LEARN_S:
                self._learn_first()
            return
        i = len(self.segments) - 1
        if i == 0 or self.segments[i].start - self.segments[i - 1].end < RECHECK_GAP_S:
            return
        for loc in features:
            self.current.setdefault(loc, self.declared(loc))
        again = _learn(features, self.current, self.autocal)
        changed = {}
        for loc, cal in again.items():
            if not cal.source.startswith("walking"):
                continue
            old = self.current[loc]
            moved = max(angle_deg(cal.R[0], old.R[0]), angle_deg(cal.R[1], old.R[1]))
            if moved > max(RELEARN_DEG, self.autocal.slip_deg):
                changed[loc] = cal
                self.notes.append(f"segment {i + 1}: {loc} is worn {moved:.0f}° differently after the "
                                  "gap; mounting re-learnt from that segment")
        if changed:
            self.current = {**self.current, **changed}
            self.segments[i].calibrations = dict(self.current)

    def _learn_first(self) -> None:
        """The mountings from the first day of data (its segments joined, a NaN second between)."""
        parts, self._initial = self._initial, []
        locs = sorted({loc for p in parts for loc in p})
        decl = {loc: self.declared(loc) for loc in locs}
        gap = (np.full((1, 3), np.nan), np.full(1, np.nan))
        joined = {}
        for loc in locs:
            pieces = []
            for p in parts:
                n = len(next(iter(p.values()))[1])
                pieces += [p.get(loc, (np.full((n, 3), np.nan), np.full(n, np.nan))), gap]
            joined[loc] = (np.concatenate([x[0] for x in pieces]), np.concatenate([x[1] for x in pieces]))
        self.first = _learn(joined, decl, self.autocal) if locs else decl
        self.current = dict(self.first)

    # ------------------------------------------------------------------ results
    def finish(self) -> tuple[dict[str, Calibration], list[str]]:
        """Close the last segment; the mountings for the start and notes on re-checks."""
        if self.segments and self.closed < len(self.segments):
            self._close()
        if self.first is None:
            self._learn_first()
        first = {loc: self.declared(loc) for loc in self.features}
        first.update(self.first or {})
        return first, self.notes


def _learn(per, declared, autocal: AutoCalSettings) -> dict[str, Calibration]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a sensor without data in a segment: NaN
        return autocalibrate_seconds(per, declared, autocal)

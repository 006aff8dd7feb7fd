"""Device clock → host clock: offset and drift from the lower envelope of arrival delay.

A BLE notification can only arrive *after* its samples were taken, and the radio only ever adds
latency, so for each notification ``delay = host_arrival − device_time(last sample)`` is the
clock offset plus a latency that is sometimes close to its minimum. The lower envelope of those
delays over a sliding history, fitted with a straight line, gives offset (intercept) and drift
(slope) at once; the mapped host time of a sample is ``device_time + envelope(device_time)``.

The fit is the classic "line under all points, as high as possible on average" (a linear
programme whose optimum is the lower-convex-hull edge straddling the mean abscissa), taken over
per-bucket minima so it costs nothing per sample.

Devices without timestamps get a pseudo device time from their sample count at the nominal rate
(:class:`CountedClock`); the same envelope then yields the true rate, and a notification that
arrives later than the envelope allows means samples went missing, so the count is advanced and
the gap stays a gap instead of being squeezed out. Decoders unwrap counter rollovers; a clock that
jumps backwards (a reboot) or far off the envelope resets the history.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np


def lower_envelope_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Intercept and slope (at ``x = 0``) of the line under all points, highest on average.

    Among lines with ``a + b·x_i ≤ y_i`` for every point, maximise ``Σ (a + b·x_i)``: the optimum
    is the edge of the lower convex hull that spans the mean of ``x``.
    """
    order = np.argsort(x, kind="stable")
    xs, ys = x[order].tolist(), y[order].tolist()
    hull: list[tuple[float, float]] = []
    for px, py in zip(xs, ys, strict=True):
        if hull and px == hull[-1][0]:
            if py >= hull[-1][1]:
                continue
            hull.pop()
        while len(hull) >= 2:
            (ax, ay), (bx, by) = hull[-2], hull[-1]
            if (bx - ax) * (py - ay) - (by - ay) * (px - ax) <= 0:
                hull.pop()
            else:
                break
        hull.append((px, py))
    if len(hull) == 1:
        return hull[0][1], 0.0
    mean_x = float(np.mean(xs))
    for (ax, ay), (bx, by) in zip(hull, hull[1:], strict=False):
        if bx >= mean_x:
            slope = (by - ay) / (bx - ax)
            return ay - slope * ax, slope
    (ax, ay), (bx, by) = hull[-2], hull[-1]
    slope = (by - ay) / (bx - ax)
    return ay - slope * ax, slope


class ClockMapper:
    """Maps one device's timestamps (seconds, unwrapped) to host Unix time, block by block.

    ``window_s`` is the sliding history the envelope is fitted over, ``bucket_s`` the width of the
    per-bucket minima it keeps, ``min_span_s`` how much history a drift estimate needs,
    ``reset_after_s`` how far off the envelope (or backwards) a notification may be before the
    device is taken to have rebooted, ``max_drift_ppm`` the plausible clock-rate error.
    """

    def __init__(
        self,
        *,
        window_s: float = 600.0,
        bucket_s: float = 1.0,
        min_span_s: float = 3.0,
        reset_after_s: float = 5.0,
        max_drift_ppm: float = 1000.0,
    ) -> None:
        self.window_s = window_s
        self.bucket_s = bucket_s
        self.min_span_s = min_span_s
        self.reset_after_s = reset_after_s
        self.max_drift = max_drift_ppm * 1e-6
        self.resets = 0
        self._buckets: deque[list[float]] = deque()  # [bucket index, device time, min delay]
        self._intercept = math.nan  # delay at device time ``_x_ref``
        self._slope = 0.0
        self._x_ref = 0.0
        self._last_device = -math.inf
        self._last_host = -math.inf

    @property
    def ready(self) -> bool:
        return bool(self._buckets)

    @property
    def drift_ppm(self) -> float:
        """Device clock rate error: positive when the device clock runs slow against the host."""
        return self._slope * 1e6

    def offset_at(self, device_time: float) -> float:
        """Host minus device time (offset plus minimum latency) at ``device_time``."""
        return self._intercept + self._slope * (device_time - self._x_ref)

    def excess(self, device_time: float, arrival: float) -> float:
        """How much later than the envelope allows a sample of ``device_time`` arrived."""
        if not self.ready:
            return 0.0
        return arrival - device_time - self.offset_at(device_time)

    def reset(self) -> None:
        """Forget the history (device rebooted or its clock jumped)."""
        self._buckets.clear()
        self._intercept = math.nan
        self._slope = 0.0
        self._last_device = -math.inf
        self.resets += 1

    def map(self, device_time: np.ndarray, arrival: float) -> np.ndarray:
        """Host times of one notification's samples; ``arrival`` is when it reached the host."""
        device_time = np.asarray(device_time, dtype=np.float64)
        if device_time.size == 0:
            return device_time.copy()
        last = float(device_time[-1])
        if self.ready and (
            device_time[0] < self._last_device - self.reset_after_s
            or abs(self.excess(last, arrival)) > self.reset_after_s
        ):
            self.reset()
        self._observe(last, arrival - last)
        self._last_device = max(self._last_device, last)
        host = device_time + (self._intercept + self._slope * (device_time - self._x_ref))
        # Keep the host timeline strictly increasing across refits of the envelope.
        floor = self._last_host + 1e-6 * np.arange(1, host.size + 1)
        host = np.maximum(host, floor)
        self._last_host = float(host[-1])
        return host

    def _observe(self, x: float, delay: float) -> None:
        index = math.floor(x / self.bucket_s)
        if self._buckets and self._buckets[-1][0] == index:
            bucket = self._buckets[-1]
            if delay < bucket[2]:
                bucket[1], bucket[2] = x, delay
        else:
            self._buckets.append([index, x, delay])
            while self._buckets and self._buckets[0][1] < x - self.window_s:
                self._buckets.popleft()
            self._refit()
        if delay < self.offset_at(x):
            # A faster-than-envelope arrival proves the line too high: lower it at once.
            self._intercept -= self.offset_at(x) - delay

    def _refit(self) -> None:
        data = np.array([(b[1], b[2]) for b in self._buckets])
        x, y = data[:, 0], data[:, 1]
        self._x_ref = float(x[-1])
        if x[-1] - x[0] < self.min_span_s:
            self._slope = 0.0
            self._intercept = float(y.min())
            return
        intercept, slope = lower_envelope_line(x - self._x_ref, y)
        self._slope = min(max(slope, -self.max_drift), self.max_drift)
        # With a clamped slope, lift the line until it touches the points from below again.
        self._intercept = float(np.min(y - self._slope * (x - self._x_ref)))
        if self._slope == slope:
            self._intercept = intercept


class CountedClock:
    """Pseudo device time from sample counts, for devices that send no timestamps.

    Samples are numbered in arrival order at the nominal rate; the envelope fit then recovers the
    real rate (``rate_hz``). A notification arriving later than the envelope allows means samples
    were lost: by more than ``silence_s`` at once, or by at least ``persist_periods`` sample
    periods for every notification over ``persist_s`` once the rate is known (BLE latency jitters
    within a connection interval, so one late notification alone proves nothing).
    """

    def __init__(
        self,
        nominal_rate_hz: float,
        *,
        silence_s: float = 0.25,
        persist_s: float = 2.0,
        persist_periods: float = 0.75,
        settle_s: float = 30.0,
        max_rate_error: float = 0.05,
    ) -> None:
        self.nominal_rate_hz = float(nominal_rate_hz)
        self.mapper = ClockMapper(max_drift_ppm=max_rate_error * 1e6, reset_after_s=math.inf)
        self.silence_s = silence_s
        self.persist_s = persist_s
        self.persist_periods = persist_periods
        self.settle_s = settle_s
        self.lost = 0
        self._next = 0
        self._start_arrival = math.nan
        self._late: deque[tuple[float, float]] = deque()  # (arrival, excess)

    @property
    def rate_hz(self) -> float:
        return self.nominal_rate_hz / (1.0 + self.mapper._slope)

    def reset(self) -> None:
        """Start a new numbering (new connection: the device restarted its stream)."""
        self._next = 0
        self._late.clear()
        self._start_arrival = math.nan
        self.mapper.reset()

    def map(self, n_samples: int, arrival: float, seq: np.ndarray | None = None) -> np.ndarray:
        """Host times of ``n_samples`` new samples that arrived at ``arrival``."""
        if seq is not None:
            return self.mapper.map(np.asarray(seq, dtype=np.float64) / self.nominal_rate_hz, arrival)
        if n_samples <= 0:
            return np.empty(0)
        if math.isnan(self._start_arrival):
            self._start_arrival = arrival
        period = 1.0 / self.nominal_rate_hz
        last = (self._next + n_samples - 1) * period
        missing = self._missing(self.mapper.excess(last, arrival), arrival, period)
        if missing:
            self.lost += missing
            self._next += missing
        index = self._next + np.arange(n_samples, dtype=np.float64)
        self._next += n_samples
        return self.mapper.map(index * period, arrival)

    def _missing(self, excess: float, arrival: float, period: float) -> int:
        if excess > self.silence_s:
            self._late.clear()
            return int(round(excess / period))
        settled = arrival - self._start_arrival >= self.settle_s
        self._late.append((arrival, excess))
        while self._late and self._late[0][0] < arrival - self.persist_s:
            self._late.popleft()
        if not settled or self._late[0][0] > arrival - self.persist_s * 0.9 or len(self._late) < 3:
            return 0
        least = min(e for _, e in self._late)
        if least < self.persist_periods * period:
            return 0
        missing = int(round(least / period))
        self._late = deque((a, e - missing * period) for a, e in self._late)
        return missing

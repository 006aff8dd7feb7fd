"""Per-stream bookkeeping: duplicates dropped and lost samples counted, from seq or time.

A sample is identified by its sequence number when the protocol has one, else by its device
timestamp. Anything not newer than the last accepted sample is a duplicate (a notification the
link delivered twice) and is dropped. A step larger than one sample period means lost samples.
Loss is counted only within one connection: the silence of a reconnect is a gap of the link
(counted by the link on the host clock), not packet loss.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from posturewatch.ingest.protocols.base import DecodedSamples


def _take(samples: DecodedSamples, keep: np.ndarray) -> DecodedSamples:
    def pick(arr: np.ndarray | None) -> np.ndarray | None:
        return None if arr is None else arr[keep]

    return DecodedSamples(
        acc=samples.acc[keep],
        gyr=pick(samples.gyr),
        mag=pick(samples.mag),
        device_time=pick(samples.device_time),
        seq=pick(samples.seq),
        quat=pick(samples.quat),
    )


class StreamAccounting:
    """Counts samples, duplicates and lost samples of one sensor's stream."""

    def __init__(self, nominal_rate_hz: float) -> None:
        self.nominal_period = 1.0 / nominal_rate_hz
        self.samples = 0
        self.duplicates = 0
        self.lost = 0
        self._last_key: float | None = None
        self._steps: deque[float] = deque(maxlen=128)
        self._period: float | None = None
        self._steps_since_median = 0

    @property
    def period_s(self) -> float:
        """Sample period seen on the device clock (median step), nominal until known."""
        if len(self._steps) < 8:
            return self.nominal_period
        if self._period is None or self._steps_since_median >= 32:
            self._period = float(np.median(self._steps))
            self._steps_since_median = 0
        return self._period

    def new_session(self) -> None:
        """A new connection: the next sample starts a fresh baseline."""
        self._last_key = None

    def account(self, samples: DecodedSamples, extra_lost: int = 0) -> DecodedSamples | None:
        """``samples`` without duplicates (None when nothing new); updates the counters.

        ``extra_lost`` adds loss found elsewhere (the counted clock of timestamp-less devices).
        """
        self.lost += extra_lost
        if samples.seq is not None:
            key, period = samples.seq.astype(np.float64), 1.0
        elif samples.device_time is not None:
            key, period = np.asarray(samples.device_time, dtype=np.float64), None
        else:
            self.samples += len(samples)
            return samples if len(samples) else None
        if key.size == 0:
            return None
        previous = -math.inf if self._last_key is None else self._last_key
        running = np.maximum.accumulate(np.concatenate(([previous], key)))
        keep = key > running[:-1]
        dropped = int(key.size - np.count_nonzero(keep))
        self.duplicates += dropped
        if not keep.any():
            return None
        kept_keys = key[keep]
        steps = np.diff(kept_keys if self._last_key is None else np.concatenate(([previous], kept_keys)))
        if steps.size:
            if period is None:
                self._steps.extend(steps[:32].tolist())
                self._steps_since_median += min(32, steps.size)
                period = self.period_s
            missing = np.rint(steps / period).astype(np.int64) - 1
            self.lost += int(missing[missing > 0].sum())
        self._last_key = float(kept_keys[-1])
        self.samples += int(kept_keys.size)
        return samples if dropped == 0 else _take(samples, keep)

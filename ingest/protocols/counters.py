"""Unwrapping of free-running device counters (sequence numbers, clock ticks) to int64.

Devices send narrow unsigned counters that wrap (a u16 frame counter, a u32 millisecond or
microsecond clock). Downstream code wants one monotonic number per sample, so each decoder keeps
one unwrapper per counter and feeds it the raw value of every packet in arrival order.
"""

from __future__ import annotations

from enum import Enum


class Step(Enum):
    """What one raw value did relative to the previous accepted one."""

    FIRST = "first"
    FORWARD = "forward"
    BACKWARDS = "backwards"
    JUMP = "jump"
    REANCHORED = "reanchored"


class CounterUnwrapper:
    """Turns a wrapping ``bits``-wide unsigned counter into a monotonic Python int.

    A step forward of less than half the counter range is taken as real progress (crossing the
    wrap included). A step backwards is rejected (the packet is out of order or its counter is
    corrupt), and so is a step forward beyond ``max_forward`` when given (a corrupt value in a
    protocol without a checksum, which would otherwise make every later packet look old); the
    caller drops a rejected packet. After ``reanchor_after`` rejections in a row the device
    counter has really moved: the unwrapper re-anchors on it, keeping a forward jump and
    continuing from the last accepted value after a step back, so it never stalls for good.
    """

    def __init__(self, bits: int, reanchor_after: int = 3, max_forward: int | None = None) -> None:
        self.modulus = 1 << bits
        self.half = self.modulus >> 1
        self.reanchor_after = reanchor_after
        self.max_forward = max_forward
        self.reset()

    def reset(self) -> None:
        """Forget the history (a new connection starts a new timeline)."""
        self._last_raw: int | None = None
        self._last_value = 0
        self._rejected_run = 0

    @property
    def last_value(self) -> int | None:
        """The last accepted unwrapped value, None before the first."""
        return None if self._last_raw is None else self._last_value

    def unwrap(self, raw: int) -> tuple[int | None, Step]:
        """The unwrapped value of ``raw`` (None when rejected) and what kind of step it was."""
        raw %= self.modulus
        if self._last_raw is None:
            self._last_raw, self._last_value = raw, raw
            return raw, Step.FIRST
        delta = (raw - self._last_raw + self.half) % self.modulus - self.half
        too_far = self.max_forward is not None and delta > self.max_forward
        if delta >= 0 and not too_far:
            self._rejected_run = 0
            self._last_raw = raw
            self._last_value += delta
            return self._last_value, Step.FORWARD
        self._rejected_run += 1
        if self._rejected_run < self.reanchor_after:
            return None, Step.JUMP if too_far else Step.BACKWARDS
        self._rejected_run = 0
        self._last_raw = raw
        self._last_value += max(delta, 0)
        return self._last_value, Step.REANCHORED

"""The host time sample stamps are taken from: the wall clock read once, then carried steadily.

A gateway's wall clock steps: NTP setting a clock that booted with a stale time, a hand-set
clock, a laptop waking up. Stamping every BLE arrival with ``time.time()`` passes such a step
straight into the samples, and a step *backwards* stamps new samples before the ones already
analysed, so the pipeline drops them as late: an hour of wear lost to an hour's step.

``SteadyClock`` anchors a monotonic clock (the event loop's, which is ``time.monotonic`` in a
live run) to the wall clock once and stamps from it. It compares the two on every reading:

* the wall clock ahead of the stamps by more than ``step_s`` is a *forward* step: the clock
  re-anchors to the wall clock at once (the timeline jumps forward, which leaves a gap and never
  an overlap), logs it and counts it in ``steps_forward``;
* the wall clock behind the stamps by more than ``step_s`` is a *backward* step: re-anchoring
  would stamp new samples over seconds already stored, so the stamps keep their steady course,
  ahead of the wall clock by ``lead_s``; it is logged and counted in ``steps_back``. The next
  start of the daemon anchors to the (corrected) wall clock again. Should the wall clock step
  forward again later, the lead shrinks to what is left (never below zero).

Ordinary NTP slewing moves the monotonic clock along with the wall clock, so it never reads as
a step.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

STEP_S = 1.0  # a disagreement larger than this between wall and steady time is a step


class SteadyClock:
    """Wall-anchored steady time; call it for the current stamp. See the module docstring."""

    def __init__(self, wall: Callable[[], float] = time.time,
                 steady: Callable[[], float] | None = None, *, step_s: float = STEP_S) -> None:
        self.wall = wall
        self.step_s = step_s
        self.steps_forward = 0
        self.steps_back = 0
        self.lead_s = 0.0  # how far the stamps run ahead of the wall clock (after a backward step)
        self._steady: Callable[[], float] | None = None
        self._base = 0.0
        if steady is not None:
            self.bind(steady)

    @property
    def anchored(self) -> bool:
        return self._steady is not None

    def bind(self, steady: Callable[[], float]) -> None:
        """Anchor ``steady`` (a monotonic clock) to the wall clock now."""
        self._steady = steady
        self._base = self.wall() - steady()
        self.lead_s = 0.0

    def __call__(self) -> float:
        wall = self.wall()
        if self._steady is None:  # not anchored yet (before streaming): the wall clock itself
            return wall
        stamp = self._base + self._steady()
        lead = stamp - wall
        if lead < -self.step_s:  # the wall clock jumped ahead of us
            log.warning("host clock stepped forward by %.1f s: sample stamps follow it "
                        "(a gap, nothing overlaps)", -lead)
            self.steps_forward += 1
            self._base -= lead
            self.lead_s = 0.0
            return wall
        if lead > self.lead_s + self.step_s:  # the wall clock jumped back (further)
            self.steps_back += 1
            log.warning("host clock stepped back by %.1f s: sample stamps keep their steady course, "
                        "%.1f s ahead of the wall clock, so no stored second is stamped twice; "
                        "the next start follows the wall clock again", lead - self.lead_s, lead)
            self.lead_s = lead
        elif self.lead_s > 0.0 and lead < self.lead_s - self.step_s:  # it came part of the way back
            self.steps_forward += 1
            log.warning("host clock stepped forward by %.1f s: sample stamps %.1f s ahead of it now",
                        self.lead_s - lead, max(lead, 0.0))
            self.lead_s = max(lead, 0.0)
        return stamp

    def stats(self) -> dict[str, float]:
        return {"clock_steps_forward": self.steps_forward, "clock_steps_back": self.steps_back,
                "clock_lead_s": round(self.lead_s, 3)}


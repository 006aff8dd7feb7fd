"""The steady host clock: wall steps never move sample stamps backwards."""

from __future__ import annotations

import numpy as np

from posturewatch.ingest.hostclock import SteadyClock


class Clocks:
    def __init__(self) -> None:
        self.mono, self.offset = 100.0, 1_767_600_000.0

    def wall(self) -> float:
        return self.mono + self.offset

    def steady(self) -> float:
        return self.mono


def readings(clocks: Clocks, clock: SteadyClock, seconds: int, step_at: int | None = None,
             step_s: float = 0.0) -> np.ndarray:
    out = []
    for i in range(seconds * 10):
        if i == step_at:
            clocks.offset += step_s
        clocks.mono += 0.1
        out.append(clock())
    return np.array(out)


def test_before_anchoring_it_reads_the_wall_clock():
    clocks = Clocks()
    clock = SteadyClock(clocks.wall)
    assert clock() == clocks.wall() and not clock.anchored


def test_a_backward_step_is_held_and_counted():
    clocks = Clocks()
    clock = SteadyClock(clocks.wall, clocks.steady)
    t = readings(clocks, clock, 60, step_at=300, step_s=-3600.0)
    assert np.all(np.diff(t) > 0.099)  # steady: every reading 0.1 s after the one before
    assert (clock.steps_back, clock.steps_forward) == (1, 0)
    assert abs(clock.lead_s - 3600.0) < 0.2
    # the wall clock is put right again later: the stamps are in line with it, no overlap
    t2 = readings(clocks, clock, 10, step_at=50, step_s=3600.0)
    assert t2[0] > t[-1] and np.all(np.diff(t2) > 0)
    assert clock.lead_s == 0.0 and clock.steps_forward == 1


def test_a_forward_step_is_followed_and_counted():
    clocks = Clocks()
    clock = SteadyClock(clocks.wall, clocks.steady)
    t = readings(clocks, clock, 60, step_at=300, step_s=3600.0)
    jumps = np.flatnonzero(np.diff(t) > 1.0)
    assert len(jumps) == 1 and abs(np.diff(t)[jumps[0]] - 3600.1) < 0.2
    assert (clock.steps_back, clock.steps_forward) == (0, 1)
    assert abs(t[-1] - clocks.wall()) < 1e-6


def test_a_small_disagreement_is_no_step():
    clocks = Clocks()
    clock = SteadyClock(clocks.wall, clocks.steady)
    readings(clocks, clock, 10, step_at=20, step_s=-0.5)
    readings(clocks, clock, 10, step_at=20, step_s=0.9)
    assert (clock.steps_back, clock.steps_forward) == (0, 0)

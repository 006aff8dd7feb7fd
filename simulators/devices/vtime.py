"""Virtual time for emulated runs: an asyncio loop that jumps over idle waits.

Whenever every task is waiting on a timer, the loop's clock jumps straight to the next timer
instead of sleeping, so a simulated hour of three sensors at 100 Hz takes as long as the CPU
needs to process it. Everything built on ``asyncio.sleep``/``wait_for`` (the daemon's backoffs,
watchdogs, flushes and the emulators' sample timing) runs unmodified. ``now()`` maps the loop's
clock onto a Unix epoch, so host timestamps look real.
"""

from __future__ import annotations

import asyncio
import selectors
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class _LeapingSelector(selectors.DefaultSelector):
    """Never blocks on a timeout: polls, and if nothing is ready, advances the virtual clock."""

    def __init__(self) -> None:
        super().__init__()
        self.loop: VirtualTimeLoop | None = None

    def select(self, timeout: float | None = None):
        events = super().select(0)
        if not events and timeout is not None and timeout > 0 and self.loop is not None:
            self.loop.advance(timeout)
        elif not events and timeout is None:
            events = super().select(None)  # nothing scheduled: only I/O can wake us
        return events


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose ``time()`` advances only by leaping over idle waits."""

    def __init__(self, epoch: float | None = None) -> None:
        selector = _LeapingSelector()
        super().__init__(selector)
        selector.loop = self
        self._virtual = 0.0
        self.epoch = time.time() if epoch is None else float(epoch)

    def time(self) -> float:
        return self._virtual

    def advance(self, seconds: float) -> None:
        self._virtual += seconds

    def now(self) -> float:
        """The virtual Unix time."""
        return self.epoch + self._virtual


def run_virtual(
    main: Callable[[Callable[[], float]], Coroutine[Any, Any, T]], epoch: float | None = None
) -> T:
    """Run ``main(now)`` on a fresh :class:`VirtualTimeLoop`; ``now`` is its Unix clock."""
    loop = VirtualTimeLoop(epoch)
    with asyncio.Runner(loop_factory=lambda: loop) as runner:
        return runner.run(main(loop.now))


def real_now() -> Callable[[], float]:
    """The wall clock, for runs in real time."""
    return time.time

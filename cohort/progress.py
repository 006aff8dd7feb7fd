"""What a cohort run tells the terminal while it goes: n finished of the total, failures, what is
running, and an estimate of the time left.

The estimate is the pace of the recordings finished so far (finished ones per second of wall
time since the first task was submitted) applied to those left. Failures are counted but left out
of the pace: a broken file fails in a millisecond and would make the rest look quick.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


def duration(seconds: float) -> str:
    """``1h02m``, ``3m05s`` or ``42s``."""
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


@dataclass
class CohortProgress:
    total: int  # recordings submitted in this run
    skipped: int = 0  # finished by an earlier run (not in ``total``)
    done: int = 0
    failed: int = 0
    failed_names: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    @property
    def finished(self) -> int:
        return self.done + self.failed

    @property
    def left(self) -> int:
        return self.total - self.finished

    def record(self, participant: str, ok: bool) -> None:
        if ok:
            self.done += 1
        else:
            self.failed += 1
            self.failed_names.append(participant)

    def eta(self, now: float | None = None) -> float | None:
        """Seconds left at the pace so far; None before the first recording finished."""
        elapsed = (now if now is not None else time.monotonic()) - self.started
        if not self.done or not self.left or elapsed <= 0:
            return None
        return self.left * elapsed / self.done

    def counts(self, now: float | None = None) -> str:
        """``3/10 done, 1 failed (BROKEN), elapsed 1m05s, ETA 2m10s``."""
        now = now if now is not None else time.monotonic()
        text = f"{self.done}/{self.total} done" + (f" (+{self.skipped} before)" if self.skipped else "")
        if self.failed:
            names = ", ".join(self.failed_names[:3]) + (", …" if self.failed > 3 else "")
            text += f", {self.failed} failed ({names})"
        text += f", elapsed {duration(now - self.started)}"
        eta = self.eta(now)
        if eta is not None:
            text += f", ETA {duration(eta)}"
        return text

    def finished_line(self, participant: str, what: str, now: float | None = None) -> str:
        """The line printed when a recording finishes."""
        return f"cohort: [{self.finished}/{self.total}] {participant} {what} | {self.counts(now)}"

    def status(self, running: list[str], now: float | None = None) -> str:
        """The live line between finishes: the counts and the recordings in progress."""
        shown = ", ".join(running[:4]) + (f" +{len(running) - 4}" if len(running) > 4 else "")
        return f"cohort: {self.counts(now)} | running {shown or '–'}"

"""A one-line progress indicator on stderr for long jobs (quiet when stderr is not a terminal)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """``Progress("replay")(fraction, detail)`` redraws one line at most ~5 times a second."""

    def __init__(self, label: str, stream: TextIO | None = None, enabled: bool | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.t0 = time.monotonic()
        self._last = 0.0
        self._shown = False

    def __call__(self, fraction: float, detail: str = "") -> None:
        now = time.monotonic()
        if not self.enabled or (now - self._last < 0.2 and fraction < 1.0):
            return
        self._last = now
        elapsed = now - self.t0
        eta = f" ETA {elapsed / fraction - elapsed:4.0f}s" if 0.02 < fraction < 1.0 else ""
        bar = "#" * int(fraction * 30)
        self.stream.write(f"\r{self.label} [{bar:<30}] {fraction * 100:5.1f}%{eta} {detail}\033[K")
        self.stream.flush()
        self._shown = True

    def done(self, message: str = "") -> None:
        if self._shown:
            self.stream.write("\r\033[K")
        if message:
            self.stream.write(message + "\n")
        self.stream.flush()


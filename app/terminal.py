"""One live status line on stderr that log records never run into.

``LiveLine.show`` redraws the line in place (terminals only; elsewhere it prints nothing). The
``LineSafeHandler`` that ``install`` puts on the root logger clears the live line before a log
record is written and draws it again after, so a warning appears on a line of its own.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_active: LiveLine | None = None


class LiveLine:
    """A redrawn status line (at most ``every_s`` apart)."""

    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None,
                 every_s: float = 1.0) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.every_s = every_s
        self.text = ""
        self._last = 0.0

    def __enter__(self) -> LiveLine:
        global _active
        _active = self
        return self

    def __exit__(self, *exc) -> None:
        global _active
        self.clear()
        if self.text and self.enabled:
            self.stream.write(self.text + "\n")
            self.stream.flush()
        self.text = ""
        _active = None

    def show(self, text: str, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self._last < self.every_s):
            return
        self._last = now
        width = 200
        self.text = text[:width]
        self.stream.write("\r\033[K" + self.text)
        self.stream.flush()

    def clear(self) -> None:
        if self.enabled and self.text:
            self.stream.write("\r\033[K")
            self.stream.flush()

    def redraw(self) -> None:
        if self.enabled and self.text:
            self.stream.write(self.text)
            self.stream.flush()


class LineSafeHandler(logging.StreamHandler):
    """A stderr handler that steps around the live line."""

    def emit(self, record: logging.LogRecord) -> None:
        line = _active
        if line is not None and line.stream is self.stream:
            line.clear()
            super().emit(record)
            line.redraw()
        else:
            super().emit(record)


def install(level: int) -> None:
    """Root logging to stderr through ``LineSafeHandler`` (like ``logging.basicConfig``: nothing
    is added when the root logger already has handlers, e.g. under a test runner)."""
    root = logging.getLogger()
    root.setLevel(level)
    if root.handlers:
        return
    handler = LineSafeHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)

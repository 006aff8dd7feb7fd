"""A sink worker's latency trace: when each traced message arrived, was written and acknowledged.

For latency studies (``bench/fleet.py``): one JSON line per stored message of the traced users
and kinds, ``{"user", "kind", "ts_ms", "received", "taken", "write_start", "written", "acked"}``
(wall-clock seconds; ``ts_ms`` is the record's own timestamp, the last field of its line), so a
message can be followed from its publisher to the moment it was queryable. Off unless asked for;
with a short list of users it costs nothing measurable.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path


class LatencyTrace:
    """Appends timing lines to ``path`` for ``users`` (all when None) and ``kinds``."""

    def __init__(self, path: str | Path, users: Iterable[str] | None = None,
                 kinds: Iterable[str] = ("angles",)) -> None:
        self.users = None if users is None else frozenset(users)
        self.kinds = frozenset(kinds)
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def wants(self, user: str, kind: str) -> bool:
        return kind in self.kinds and (self.users is None or user in self.users)

    def record(self, user: str, kind: str, line: str, received: float, taken: float,
               write_start: float, written: float, acked: float) -> None:
        ts_ms = int(line.rsplit(" ", 1)[1])
        self._file.write(json.dumps({
            "user": user, "kind": kind, "ts_ms": ts_ms, "received": received, "taken": taken,
            "write_start": write_start, "written": written, "acked": acked,
        }) + "\n")

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()

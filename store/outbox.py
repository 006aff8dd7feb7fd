"""Durable on-disk outbox in front of MQTT and InfluxDB (SQLite in WAL mode).

Everything a sink accepts is committed here first; a pump removes an item only after its server
acknowledged it (MQTT PUBACK, InfluxDB write success), so an outage or a SIGKILL loses nothing:
the next pump drains the items in order, with the payloads (and so timestamps) they had when
accepted. Delivery is at-least-once; the records' stable identities make redelivery harmless.

Bounded, with this policy: each channel holds at most ``max_rows`` items. When a put would go
past it the oldest *telemetry* items (priority 0: angles, sensor status) are dropped first, and
only when none are left the oldest events (priority 1). Every drop is counted in ``dropped`` and
logged. Items a server rejects as malformed go to a dead-letter table (``dead``), counted too.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

TELEMETRY = 0
EVENT = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    priority INTEGER NOT NULL,
    created REAL NOT NULL,
    meta TEXT NOT NULL,
    payload BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_channel_seq ON outbox (channel, seq);
CREATE TABLE IF NOT EXISTS dead (
    seq INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    created REAL NOT NULL,
    meta TEXT NOT NULL,
    payload BLOB NOT NULL,
    reason TEXT NOT NULL,
    failed REAL NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class OutboxItem:
    seq: int
    channel: str
    payload: bytes
    meta: dict = field(default_factory=dict)
    priority: int = EVENT
    created: float = 0.0


class Outbox:
    """A durable FIFO per channel; safe to share between threads of one process.

    ``synchronous="FULL"`` fsyncs each commit (survives power loss); "NORMAL" still survives a
    killed process, which is all WAL needs for SIGKILL safety, at less I/O.
    """

    def __init__(
        self, path: str | Path, *, max_rows: int = 1_000_000, synchronous: str = "FULL"
    ) -> None:
        if max_rows < 1:
            raise ValueError("max_rows must be ≥ 1")
        if synchronous.upper() not in ("FULL", "NORMAL"):
            raise ValueError("synchronous must be FULL or NORMAL")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_rows = max_rows
        self.dropped: Counter[str] = Counter()
        self._lock = threading.RLock()
        self._listeners: list[threading.Event] = []
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
        self._db.executescript(_SCHEMA)
        self._counts: Counter[str] = Counter(
            dict(self._db.execute("SELECT channel, COUNT(*) FROM outbox GROUP BY channel"))
        )

    # ---- producers ----------------------------------------------------------------------

    def put(
        self, channel: str, payload: bytes | str, *, meta: dict | None = None, priority: int = EVENT
    ) -> int:
        """Persist one item; returns its sequence number once it is on disk."""
        return self.put_many(channel, [(payload, meta or {}, priority)])[0]

    def put_many(
        self, channel: str, items: Iterable[tuple[bytes | str, dict, int]]
    ) -> list[int]:
        """Persist many items in one transaction (one fsync); returns their sequence numbers."""
        now = time.time()
        rows = [
            (channel, int(priority), now, json.dumps(meta), _as_bytes(payload))
            for payload, meta, priority in items
        ]
        if not rows:
            return []
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                seqs = []
                for row in rows:
                    cur = self._db.execute(
                        "INSERT INTO outbox (channel, priority, created, meta, payload)"
                        " VALUES (?, ?, ?, ?, ?)",
                        row,
                    )
                    seqs.append(cur.lastrowid)
                self._counts[channel] += len(rows)
                self._enforce_bound(channel)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                self._counts = Counter(
                    dict(self._db.execute("SELECT channel, COUNT(*) FROM outbox GROUP BY channel"))
                )
                raise
            for event in self._listeners:
                event.set()
        return seqs

    # ---- consumers ----------------------------------------------------------------------

    def peek(self, channel: str, limit: int = 100, after_seq: int = 0) -> list[OutboxItem]:
        """The oldest ``limit`` items of ``channel`` with ``seq > after_seq``, in order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, channel, payload, meta, priority, created FROM outbox"
                " WHERE channel = ? AND seq > ? ORDER BY seq LIMIT ?",
                (channel, after_seq, limit),
            ).fetchall()
        return [OutboxItem(s, c, bytes(p), json.loads(m), pr, cr) for s, c, p, m, pr, cr in rows]

    def ack(self, seqs: Sequence[int]) -> None:
        """Remove delivered items (unknown sequence numbers are ignored: acks may repeat)."""
        if not seqs:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            removed = self._delete(seqs)
            self._db.execute("COMMIT")
        for channel, n in removed.items():
            self._counts[channel] -= n

    def dead_letter(self, seqs: Sequence[int], reason: str) -> None:
        """Move items a server rejected as malformed out of the queue, keeping them for review."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            marks = ",".join("?" * len(seqs))
            self._db.execute(
                "INSERT OR REPLACE INTO dead (seq, channel, created, meta, payload, reason, failed)"
                f" SELECT seq, channel, created, meta, payload, ?, ? FROM outbox WHERE seq IN ({marks})",
                (reason, time.time(), *seqs),
            )
            removed = self._delete(seqs)
            self._db.execute("COMMIT")
        for channel, n in removed.items():
            self._counts[channel] -= n
        log.warning("outbox: %d item(s) dead-lettered: %s", sum(removed.values()), reason)

    def pending(self, channel: str | None = None) -> int:
        with self._lock:
            return sum(self._counts.values()) if channel is None else self._counts[channel]

    def dead_count(self, channel: str | None = None) -> int:
        with self._lock:
            if channel is None:
                return self._db.execute("SELECT COUNT(*) FROM dead").fetchone()[0]
            return self._db.execute(
                "SELECT COUNT(*) FROM dead WHERE channel = ?", (channel,)
            ).fetchone()[0]

    def subscribe(self) -> threading.Event:
        """An event set whenever something is put (pumps wait on it instead of polling)."""
        event = threading.Event()
        with self._lock:
            self._listeners.append(event)
        return event

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ---- internals ----------------------------------------------------------------------

    def _delete(self, seqs: Sequence[int]) -> Counter[str]:
        removed: Counter[str] = Counter()
        for start in range(0, len(seqs), 500):
            chunk = list(seqs[start : start + 500])
            marks = ",".join("?" * len(chunk))
            for channel, n in self._db.execute(
                f"SELECT channel, COUNT(*) FROM outbox WHERE seq IN ({marks}) GROUP BY channel",
                chunk,
            ):
                removed[channel] += n
            self._db.execute(f"DELETE FROM outbox WHERE seq IN ({marks})", chunk)
        return removed

    def _enforce_bound(self, channel: str) -> None:
        excess = self._counts[channel] - self.max_rows
        if excess <= 0:
            return
        for priority_clause in ("AND priority = 0", ""):
            if excess <= 0:
                break
            cur = self._db.execute(
                "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE channel = ?"
                f" {priority_clause} ORDER BY seq LIMIT ?)",
                (channel, excess),
            )
            dropped = cur.rowcount
            excess -= dropped
            self._counts[channel] -= dropped
            if dropped:
                self.dropped[channel] += dropped
                what = "telemetry" if priority_clause else "items"
                log.warning(
                    "outbox %s full (%d): dropped the %d oldest %s", channel, self.max_rows,
                    dropped, what,
                )


def _as_bytes(payload: bytes | str) -> bytes:
    return payload.encode() if isinstance(payload, str) else bytes(payload)

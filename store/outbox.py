"""Durable on-disk outbox in front of MQTT and InfluxDB (SQLite in WAL mode).

Everything a sink accepts is committed here first; a pump removes an item only after its server
acknowledged it (MQTT PUBACK, InfluxDB write success), so an outage or a SIGKILL loses nothing:
the next pump drains the items in order, with the payloads (and so timestamps) they had when
accepted. Delivery is at-least-once; the records' stable identities make redelivery harmless.

Bounded, with this policy: each channel holds at most ``max_rows`` items. When a put would go
past it the oldest *telemetry* items (priority 0: angles, sensor status) are dropped first, and
only when none are left the oldest events (priority 1). Every drop is counted in ``dropped`` and
logged. Items a server rejects as malformed go to a dead-letter table (``dead``), counted too.

A full disk (SQLITE_FULL, or the OS's ENOSPC) neither crashes the producer nor loses what it
handed over: the items that could not be written wait in memory (``held``, bounded by
``max_held``: past it the oldest telemetry goes first, counted in ``dropped``) and are written
ahead of the next put once there is room again; acknowledgements that cannot be deleted are
remembered, so delivered items are never handed out twice. Every failed write is counted in
``disk_full`` and logged once per episode of fullness.
"""

from __future__ import annotations

import contextlib
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
        self.disk_full = 0  # writes that failed for want of space (retried, never lost)
        self.max_held = max_rows
        self._held: list[tuple] = []  # rows accepted while the disk was full, oldest first
        self._acked_unsaved: set[int] = set()  # delivered, delete not yet on disk
        self._lock = threading.RLock()
        self._listeners: list[threading.Event] = []
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
        # a short WAL, checkpointed often and cut back after: on a small or nearly full disk the
        # default (up to 4 MB before the first checkpoint) can take the last free space itself
        self._db.execute("PRAGMA wal_autocheckpoint=64")
        self._db.execute(f"PRAGMA journal_size_limit={1 << 20}")
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
            seqs = self._write_with_held(rows)
            if seqs is None:
                return [-1] * len(rows)
            for event in self._listeners:
                event.set()
        return seqs[-len(rows):]

    def _write_with_held(self, rows: list[tuple]) -> list[int] | None:
        """Held rows then ``rows`` in one transaction; None (rows held) if the disk is full.
        On a full disk the WAL is checkpointed and truncated first: on a small file system it
        is often the WAL itself that took the space."""
        pending = self._held + rows
        if not pending:
            self._retry_deletes()
            return []
        for attempt in range(2):
            try:
                seqs = self._insert(pending)
                break
            except sqlite3.OperationalError as exc:
                if not _is_full(exc):
                    raise
                if attempt == 0:
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                    continue
                self._hold(rows, exc)
                return None
        if self._held:
            log.warning("outbox %s: disk has room again: %d held item(s) written",
                        self.path, len(self._held))
            self._held = []
        self._retry_deletes()
        return seqs

    @property
    def held(self) -> int:
        """Items accepted while the disk was full, waiting in memory to be written."""
        with self._lock:
            return len(self._held)

    def _insert(self, rows: list[tuple]) -> list[int]:
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
            for row in rows:
                self._counts[row[0]] += 1
            for channel in {row[0] for row in rows}:
                self._enforce_bound(channel)
            self._db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            self._counts = Counter(
                dict(self._db.execute("SELECT channel, COUNT(*) FROM outbox GROUP BY channel"))
            )
            raise
        return seqs

    def _hold(self, rows: list[tuple], exc: Exception) -> None:
        self.disk_full += 1 if rows else 0  # a retry of held rows is not a new refusal
        if not self._held:
            log.warning("outbox %s: disk full (%s): holding new items in memory until there is"
                        " room", self.path, exc)
        self._held.extend(rows)
        excess = len(self._held) - self.max_held
        if excess > 0:
            telemetry = [i for i, r in enumerate(self._held) if r[1] == TELEMETRY][:excess]
            drop = set(telemetry) if len(telemetry) == excess else set(range(excess))
            for i in drop:
                self.dropped[self._held[i][0]] += 1
            self._held = [r for i, r in enumerate(self._held) if i not in drop]
            log.warning("outbox %s: disk still full, %d held item(s) dropped", self.path, len(drop))

    # ---- consumers ----------------------------------------------------------------------

    def peek(self, channel: str, limit: int = 100, after_seq: int = 0) -> list[OutboxItem]:
        """The oldest ``limit`` items of ``channel`` with ``seq > after_seq``, in order."""
        with self._lock:
            if self._held or self._acked_unsaved:  # the pumps' polling retries the writes
                self._write_with_held([])
            rows = self._db.execute(
                "SELECT seq, channel, payload, meta, priority, created FROM outbox"
                " WHERE channel = ? AND seq > ? ORDER BY seq LIMIT ?",
                (channel, after_seq, limit + len(self._acked_unsaved)),
            ).fetchall()
            gone = self._acked_unsaved
        items = [OutboxItem(s, c, bytes(p), json.loads(m), pr, cr)
                 for s, c, p, m, pr, cr in rows if s not in gone]
        return items[:limit]

    def ack(self, seqs: Sequence[int]) -> None:
        """Remove delivered items (unknown sequence numbers are ignored: acks may repeat)."""
        if not seqs:
            return
        with self._lock:
            if not self._delete_committed(seqs):
                self.disk_full += 1
                self._acked_unsaved.update(seqs)  # never handed out again; deleted later

    def _retry_deletes(self) -> None:
        if self._acked_unsaved and self._delete_committed(sorted(self._acked_unsaved)):
            self._acked_unsaved.clear()

    def _delete_committed(self, seqs: Sequence[int]) -> bool:
        """Delete ``seqs`` in one transaction and update the counts; False if the disk is full
        (nothing deleted then)."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            removed = self._delete(seqs)
            self._db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if not _is_full(exc):
                raise
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            return False
        for channel, n in removed.items():
            self._counts[channel] -= n
        return True

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
        """Items not delivered yet, including those held in memory while the disk is full."""
        with self._lock:
            # delivered items whose delete waits for room still count: they are on disk
            held = Counter(r[0] for r in self._held)
            if channel is None:
                return sum(self._counts.values()) + sum(held.values())
            return self._counts[channel] + held[channel]

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
            if self._held:
                try:
                    self._insert(self._held)
                    self._held = []
                except sqlite3.OperationalError as exc:
                    log.error("outbox %s: disk still full at close: %d item(s) not saved (%s)",
                              self.path, len(self._held), exc)
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


def _is_full(exc: sqlite3.Error) -> bool:
    """SQLITE_FULL, or an I/O error from a write the OS refused for want of space."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code == sqlite3.SQLITE_FULL or "full" in str(exc).lower() or (
        code is not None and code & 0xFF == sqlite3.SQLITE_IOERR)


def _as_bytes(payload: bytes | str) -> bytes:
    return payload.encode() if isinstance(payload, str) else bytes(payload)

"""The alert policy's state on disk: a ``policy_state`` table in a SQLite file of the user's.

The live outputs keep it in ``outbox.db``, next to the outbox (the daemon's durable state, there
whether or not the embedded store is on).

One row per user: the JSON snapshot (``AlertPolicy.snapshot``, with its version), when it was
saved and a save counter. A save replaces the row in one transaction, so a process killed while
saving leaves the previous snapshot, never half of one. ``PolicySaver`` decides when to save:
after every step that changed the policy (an alert, an episode event, a command, a hold-back)
and at least every ``every_s`` seconds, so the cost is one small upsert per change.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS policy_state (
    user TEXT PRIMARY KEY, version INTEGER NOT NULL, saved_at REAL NOT NULL,
    saves INTEGER NOT NULL, state TEXT NOT NULL);
"""


class PolicyStateStore:
    """Load and save one user's policy snapshot in a SQLite file (WAL, shared with the store)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def load(self, user: str) -> dict | None:
        with self._lock:
            row = self._db.execute("SELECT state FROM policy_state WHERE user = ?",
                                   (user,)).fetchone()
        return None if row is None else json.loads(row[0])

    def save(self, user: str, state: dict, saved_at: float) -> None:
        text = json.dumps(state, separators=(",", ":"), allow_nan=False)
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO policy_state VALUES (?, ?, ?, 1, ?) ON CONFLICT (user) DO UPDATE SET"
                " version = excluded.version, saved_at = excluded.saved_at,"
                " saves = saves + 1, state = excluded.state",
                (user, int(state.get("version", 0)), float(saved_at), text))

    def saves(self, user: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT saves FROM policy_state WHERE user = ?",
                                   (user,)).fetchone()
        return 0 if row is None else int(row[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


class PolicySaver:
    """Saves ``policy`` when its ``changes`` counter moved, or ``every_s`` after the last save."""

    def __init__(self, store: PolicyStateStore, user: str, policy, every_s: float = 300.0) -> None:
        self.store, self.user, self.policy, self.every_s = store, user, policy, every_s
        self._saved_changes: int | None = None
        self._saved_at = float("-inf")
        self.failures = 0

    def restore(self) -> bool:
        """Load the stored snapshot into the policy; False (with a log line) when there is none
        or it cannot be read (the policy then starts fresh)."""
        try:
            state = self.store.load(self.user)
            if state is None:
                return False
            self.policy.restore(state)
        except (ValueError, sqlite3.Error) as exc:
            log.warning("alert state in %s not restored: %s", self.store.path, exc)
            return False
        self._saved_changes = self.policy.changes
        return True

    def maybe_save(self, now: float, force: bool = False) -> bool:
        changed = self.policy.changes != self._saved_changes
        if not (force or changed or now - self._saved_at >= self.every_s):
            return False
        try:
            self.store.save(self.user, self.policy.snapshot(), now)
        except (sqlite3.Error, OSError) as exc:
            self.failures += 1  # counted, retried at the next step; the session goes on
            log.warning("alert state not saved (%d failures): %s", self.failures, exc)
            return False
        self._saved_changes, self._saved_at = self.policy.changes, now
        return True

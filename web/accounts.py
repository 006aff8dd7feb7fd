"""Web accounts: wearers and clinicians in one small SQLite file, passwords hashed with Argon2id.

A wearer account is named after the wearer's user name (their MQTT topic level and store folder)
and sees only that wearer. A clinician account sees the wearers assigned to it. Hashes come from
argon2-cffi's ``PasswordHasher`` (its current RFC 9106 low-memory profile); a hash made with older
parameters is renewed at the next successful login. Checking an unknown name still costs one hash
verification, so response times do not tell which names exist.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

ROLES = ("wearer", "clinician")
MIN_PASSWORD = 8
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    name TEXT PRIMARY KEY, role TEXT NOT NULL, hash TEXT NOT NULL, wearers TEXT NOT NULL,
    created REAL NOT NULL, updated REAL NOT NULL);
"""


class AccountError(ValueError):
    """A name, role, password or assignment that cannot be stored; the message says which."""


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    role: str
    wearers: tuple[str, ...] = ()

    @property
    def visible(self) -> tuple[str, ...]:
        """The wearers whose data this account may see."""
        return (self.name,) if self.role == "wearer" else self.wearers

    def may_see(self, wearer: str) -> bool:
        return wearer in self.visible


def check_name(name: str, what: str = "account name") -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise AccountError(f"{what} {name!r}: use 1–64 letters, digits, '_', '.' or '-' "
                           "(starting with a letter or digit)")
    return name


class Accounts:
    """The accounts file; safe to share between threads (one connection behind a lock)."""

    def __init__(self, path: str | Path, hasher: PasswordHasher | None = None) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.hasher = hasher or PasswordHasher()
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._db.executescript(_SCHEMA)
        self.path.chmod(0o600)
        self._dummy: str | None = None  # made at the first unknown name (hashing takes a while)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ---- management ---------------------------------------------------------------------
    def put(self, name: str, role: str, password: str, wearers: tuple[str, ...] | list[str] = ()) -> bool:
        """Create or replace an account; True when it is new."""
        check_name(name)
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")
        wearers = tuple(check_name(w, "wearer") for w in wearers)
        if role == "wearer" and wearers:
            raise AccountError("--wearers is for clinician accounts (a wearer sees only their own data)")
        now = time.time()
        digest = self.hasher.hash(password)
        with self._lock, self._db:
            new = self._db.execute("SELECT 1 FROM accounts WHERE name = ?", (name,)).fetchone() is None
            self._db.execute(
                "INSERT INTO accounts VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
                " role = excluded.role, hash = excluded.hash, wearers = excluded.wearers,"
                " updated = excluded.updated", (name, role, digest, json.dumps(list(wearers)), now, now))
        return new

    def remove(self, name: str) -> bool:
        with self._lock, self._db:
            return self._db.execute("DELETE FROM accounts WHERE name = ?", (name,)).rowcount > 0

    def all(self) -> list[Account]:
        with self._lock:
            rows = self._db.execute("SELECT name, role, wearers FROM accounts ORDER BY name").fetchall()
        return [Account(n, r, tuple(json.loads(w))) for n, r, w in rows]

    def get(self, name: str) -> Account | None:
        with self._lock:
            row = self._db.execute("SELECT name, role, wearers FROM accounts WHERE name = ?",
                                   (name,)).fetchone()
        return None if row is None else Account(row[0], row[1], tuple(json.loads(row[2])))

    # ---- login --------------------------------------------------------------------------
    def verify(self, name: str, password: str) -> Account | None:
        """The account when the password is right, else None (CPU-heavy: run off the event loop)."""
        with self._lock:
            row = self._db.execute("SELECT hash FROM accounts WHERE name = ?", (name,)).fetchone()
        if row is None and self._dummy is None:
            self._dummy = self.hasher.hash("not a password of anyone")
        digest = row[0] if row else self._dummy
        try:
            self.hasher.verify(digest, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        if self.hasher.check_needs_rehash(digest):
            renewed = self.hasher.hash(password)
            with self._lock, self._db:
                self._db.execute("UPDATE accounts SET hash = ? WHERE name = ?", (renewed, name))
        return self.get(name)

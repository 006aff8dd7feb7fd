"""The account registry: one JSON file listing every broker account and its role.

Roles: a **wearer** (the daemon or phone of one person; the name is also the person's topic level),
a **sink** (a central worker reading every wearer's data through a shared-subscription group) and
a **clinician** (reads the wearers assigned to them, nothing else). Names are checked so that they
are safe as an MQTT topic level, an InfluxDB tag and a word of Mosquitto's ACL file.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

ROLES = ("wearer", "sink", "clinician")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
PREFIX = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
DEFAULT_PREFIX = "posturewatch"
DEFAULT_SINK_GROUP = "posturewatch-sink"
FORMAT_VERSION = 1


class AccountError(ValueError):
    """A request the registry cannot carry out; the message says why in one line."""


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    role: str
    group: str | None = None  # sink: its shared-subscription group
    wearers: tuple[str, ...] = field(default_factory=tuple)  # clinician: who they may read


def check_name(name: str, what: str = "name") -> str:
    if not NAME.fullmatch(name or ""):
        raise AccountError(
            f"bad {what} {name!r}: use 1-64 letters, digits, '_', '.', '-' (starting with a letter "
            "or digit); no '/', '+', '#' or spaces"
        )
    return name


def check_prefix(prefix: str) -> str:
    if not PREFIX.fullmatch(prefix or "") or prefix.startswith("$"):
        raise AccountError(
            f"bad topic prefix {prefix!r}: plain topic levels only (no wildcards, '$' or spaces)"
        )
    return prefix


class Registry:
    """The accounts of one broker (or shard), loaded from and saved to a JSON file."""

    def __init__(self, prefix: str = DEFAULT_PREFIX, accounts: dict[str, Account] | None = None) -> None:
        self.prefix = check_prefix(prefix)
        self.accounts: dict[str, Account] = dict(accounts or {})

    # ---- file ---------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path, prefix: str | None = None) -> Registry:
        """The registry in ``path``; an empty one (with ``prefix``) when the file does not exist."""
        path = Path(path)
        if not path.exists():
            return cls(prefix or DEFAULT_PREFIX)
        try:
            body = json.loads(path.read_text())
            if body.get("version") != FORMAT_VERSION:
                raise AccountError(f"{path}: unsupported format version {body.get('version')!r}")
            accounts = {}
            for raw in body["accounts"]:
                account = Account(raw["name"], raw["role"], raw.get("group"), tuple(raw.get("wearers", ())))
                accounts[account.name] = account
            registry = cls(body["prefix"], accounts)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise AccountError(f"{path}: not a readable account registry ({exc})") from None
        if prefix is not None and prefix != registry.prefix:
            raise AccountError(f"{path} is for topic prefix {registry.prefix!r}, not {prefix!r}")
        registry.validate()
        return registry

    def save(self, path: Path) -> None:
        body = {
            "version": FORMAT_VERSION,
            "prefix": self.prefix,
            "accounts": [
                {k: v for k, v in asdict(a).items() if v not in (None, ())}
                for a in sorted(self.accounts.values(), key=lambda a: (ROLES.index(a.role), a.name))
            ],
        }
        write_atomically(Path(path), json.dumps(body, indent=2, default=list) + "\n", mode=0o600)

    # ---- changes ------------------------------------------------------------------------

    def add(self, account: Account, *, update: bool = False) -> Account:
        """Add ``account`` (or, with ``update``, change an existing one of the same role)."""
        check_name(account.name)
        if account.role not in ROLES:
            raise AccountError(f"unknown role {account.role!r}; roles: {', '.join(ROLES)}")
        old = self.accounts.get(account.name)
        if old is not None and not update:
            raise AccountError(f"account {account.name!r} exists ({old.role}); remove it first")
        if old is not None and old.role != account.role:
            raise AccountError(f"account {account.name!r} is a {old.role}, not a {account.role}")
        if account.role == "sink":
            account = replace(account, group=check_name(account.group or DEFAULT_SINK_GROUP, "group"),
                              wearers=())
        elif account.role == "clinician":
            unknown = [w for w in account.wearers if self.role_of(w) != "wearer"]
            if unknown:
                raise AccountError(f"not wearers here: {', '.join(unknown)} (add them first)")
            account = replace(account, group=None, wearers=tuple(sorted(set(account.wearers))))
        else:
            if account.wearers or account.group:
                raise AccountError("a wearer takes neither --wearers nor --group")
        self.accounts[account.name] = account
        return account

    def remove(self, name: str) -> tuple[Account, list[str]]:
        """Remove ``name``; returns it and the clinicians it was taken away from."""
        account = self.accounts.pop(name, None)
        if account is None:
            raise AccountError(f"no account {name!r}")
        touched = []
        for other in list(self.accounts.values()):
            if name in other.wearers:
                kept = tuple(w for w in other.wearers if w != name)
                self.accounts[other.name] = replace(other, wearers=kept)
                touched.append(other.name)
        return account, touched

    def role_of(self, name: str) -> str | None:
        account = self.accounts.get(name)
        return account.role if account else None

    def validate(self) -> None:
        for account in self.accounts.values():
            check_name(account.name)
            if account.role not in ROLES:
                raise AccountError(f"account {account.name!r}: unknown role {account.role!r}")
            for wearer in account.wearers:
                if self.role_of(wearer) != "wearer":
                    raise AccountError(f"clinician {account.name!r} is assigned {wearer!r}, not a wearer")


def write_atomically(path: Path, text: str, mode: int = 0o640) -> None:
    """Replace ``path`` with ``text`` in one step (a reader sees the old or the new file)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)

"""Where a wearer's files live, decided in one place for every command.

Everything of one user sits in one folder, ``$XDG_DATA_HOME/posturewatch/<user>/``
(``~/.local/share/posturewatch/<user>/`` by default), or in ``[store] dir`` when the config
names one: the embedded store (``store.db``), the durable outbox (``outbox.db``), the stored
calibration (``calibration.json``), reports (``reports/``) and the raw archive (``archive/``,
one Parquet file per day; ``[archive] dir`` may put it elsewhere).
``run``, ``demo``, ``calibrate``, ``report`` and ``replay --calibration`` all ask ``UserPaths``,
so the same config always finds the same files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

STORE_FILE = "store.db"
OUTBOX_FILE = "outbox.db"
CALIBRATION_FILE = "calibration.json"


def data_root() -> Path:
    """``$XDG_DATA_HOME/posturewatch`` (else ``~/.local/share/posturewatch``)."""
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "posturewatch"


@dataclass(frozen=True)
class UserPaths:
    """One user's folder and the files in it."""

    user: str
    root: Path

    @classmethod
    def of(cls, user: str, store_dir: Path | None = None) -> UserPaths:
        return cls(user, Path(store_dir).expanduser() if store_dir is not None else data_root() / user)

    @property
    def store(self) -> Path:
        return self.root / STORE_FILE

    @property
    def outbox(self) -> Path:
        return self.root / OUTBOX_FILE

    @property
    def calibration(self) -> Path:
        return self.root / CALIBRATION_FILE

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def archive(self) -> Path:
        return self.root / "archive"


def known_users(root: Path | None = None) -> list[str]:
    """Users with a store under the data root, most recently written first."""
    root = root or data_root()
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if (p / STORE_FILE).is_file()]
    found.sort(key=lambda p: (p / STORE_FILE).stat().st_mtime, reverse=True)
    return [p.name for p in found]

"""The daemon's raw archive: every received sample block into one Parquet file per local day.

``ArchiveWriter.add(blocks)`` gathers blocks and writes a row group per ``row_group_s`` of data
time (whole minutes by default) once later data arrived, into ``<folder>/YYYY-MM-DD.parquet`` for
the day (in ``timezone``) the samples belong to. A row group that crosses midnight is split: the
day's file is closed and the next day's opened. A writer started on a day that already has a
file (a restarted daemon) adds ``YYYY-MM-DD.part2.parquet`` and so on, never rewriting what is
there; leftover journals of a writer that died are turned back into complete files first
(``archive.recover``).

Archiving must never stop the monitoring: a write that fails (disk full) is logged once, the
rows are counted in ``rows_lost`` and the writer tries again with the next row group.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from posturewatch.ingest.archive import (
    ArchiveError,
    ArchiveFile,
    ArchiveMeta,
    blocks_table,
    journal_of,
    part_name,
    recover,
)
from posturewatch.ingest.records import SensorBlock

log = logging.getLogger(__name__)


class ArchiveWriter:
    """One user's daily archive files in ``folder``; see the module docstring."""

    def __init__(self, folder: str | Path, user: str, *,
                 sensors: Mapping[str, Mapping[str, object]] | None = None,
                 timezone: str = "UTC", row_group_s: float = 60.0, compression: str = "zstd",
                 source: str = "daemon") -> None:
        if not row_group_s > 0:
            raise ArchiveError(f"row_group_s must be > 0, got {row_group_s!r}")
        self.folder = Path(folder)
        self.user = user
        self.sensors = {loc: dict(s) for loc, s in (sensors or {}).items()}
        self.zone = ZoneInfo(timezone)
        self.timezone = timezone
        self.row_group_s = float(row_group_s)
        self.compression = compression
        self.source = source
        self.files: list[Path] = []
        self.notes: list[str] = []
        self.rows: dict[str, int] = {}
        self.rows_lost = 0
        self.errors = 0
        self._file: ArchiveFile | None = None
        self._day_end = -np.inf
        self._pending: list[SensorBlock] = []
        self._latest = -np.inf

    # ------------------------------------------------------------------ lifecycle
    def open(self) -> None:
        """Create the folder (refused with one ``ArchiveError`` if it cannot be written) and
        recover what a writer that died left behind."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            probe = self.folder / ".posturewatch-write-test"
            probe.write_text("")
            probe.unlink()
            self.notes += recover(self.folder)
        except OSError as exc:
            raise ArchiveError(f"archive folder {self.folder} cannot be written: "
                               f"{exc.strerror or exc}") from None

    def add(self, blocks: Iterable[SensorBlock]) -> None:
        """Gather ``blocks`` (in time order per location); writes each row group once data past
        its end arrived. Row groups cover whole ``row_group_s`` steps of Unix time."""
        for block in blocks:
            if not len(block):
                continue
            self._pending.append(block)
            self._latest = max(self._latest, float(block.t[-1]))
        while self._pending and self._latest >= self._group_end():
            self._write_before(self._group_end())

    def flush(self) -> None:
        """Write everything gathered (as one row group per day it touches)."""
        self._write_before(np.inf)

    def _group_end(self) -> float:
        first = min(float(b.t[0]) for b in self._pending)
        return (np.floor(first / self.row_group_s) + 1) * self.row_group_s

    def _write_before(self, edge: float) -> None:
        """Write the gathered samples before ``edge`` into the file of their day (split at
        midnight), keeping the rest gathered."""
        cuts = [int(np.searchsorted(b.t, edge, side="left")) for b in self._pending]
        pending = [b.slice(0, c) for b, c in zip(self._pending, cuts, strict=True) if c > 0]
        self._pending = [b.slice(c, len(b)) for b, c in zip(self._pending, cuts, strict=True) if c < len(b)]
        while pending:
            first = min(float(b.t[0]) for b in pending)
            if (self._file is None or first >= self._day_end) and not self._next_file(first):
                self.rows_lost += sum(len(b) for b in pending)
                return
            cuts = [int(np.searchsorted(b.t, self._day_end, side="left")) for b in pending]
            today = [b.slice(0, c) for b, c in zip(pending, cuts, strict=True) if c > 0]
            pending = [b.slice(c, len(b)) for b, c in zip(pending, cuts, strict=True) if c < len(b)]
            self._write(today)

    def close(self) -> None:
        """Write the last row group and close the open file (its journal is removed)."""
        self.flush()
        self._close_file()

    # ------------------------------------------------------------------ files
    def _write(self, blocks: list[SensorBlock]) -> None:
        n = sum(len(b) for b in blocks)
        try:
            self._file.write(blocks_table(blocks))
        except OSError as exc:
            self._failed(f"cannot write to {self._file.path}", exc, n)
            return
        for b in blocks:
            self.rows[b.location] = self.rows.get(b.location, 0) + len(b)

    def _next_file(self, t: float) -> bool:
        """Close the open part and open the one for the day of ``t``."""
        self._close_file()
        day = dt.datetime.fromtimestamp(t, self.zone).date()
        midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=self.zone)
        self._day_end = midnight.timestamp()
        part = 1
        while (self.folder / part_name(day, part)).exists() or journal_of(
                self.folder / part_name(day, part)).exists():
            part += 1
        path = self.folder / part_name(day, part)
        meta = ArchiveMeta(self.user, self.sensors, day.isoformat(), part, self.timezone, self.source)
        try:
            self._file = ArchiveFile(path, meta, self.compression)
        except OSError as exc:
            self._failed(f"cannot create {path}", exc, 0)
            return False
        self.files.append(path)
        log.info("archive: writing %s", path)
        return True

    def _close_file(self) -> None:
        if self._file is None:
            return
        try:
            self._file.close()
        except OSError as exc:
            self._failed(f"cannot close {self._file.path}", exc, 0)
        self._file = None

    def _failed(self, what: str, exc: OSError, rows: int) -> None:
        self.errors += 1
        self.rows_lost += rows
        if self.errors == 1:  # once: a full disk would otherwise log every minute
            log.error("archive: %s: %s; %d rows not archived (further errors are only counted)",
                      what, exc.strerror or exc, rows)

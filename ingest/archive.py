"""The raw archive's file format: one Parquet file per local day, one row per sensor sample.

The schema is pinned here and described for people in docs/archive-format.md; the writer
(``ingest.archive_writer``) and the reader (``ingest.archive_reader``) both use it.

Columns: ``location`` (dictionary-encoded string, one of ``LOCATIONS``), ``t`` (float64 Unix
seconds on the host clock), ``ax, ay, az`` (float32 m/s², gravity included), ``gx, gy, gz``
(float32 rad/s, null for accelerometer-only sensors), ``mx, my, mz`` (float32 µT, null without a
magnetometer). The file's key-value metadata holds ``posturewatch.archive``, a JSON object with
the schema version, the user, the day and part, the time zone the day is counted in, the
posturewatch version and, per location, the device family, address and rate.

Parquet keeps its index (the footer) at the end and writes it only on close, so a file of a
process that died is unreadable. While a part is open, every row group therefore also goes to a
journal beside it (``<part>.parquet.journal``, an Arrow IPC stream, flushed after each row
group); a clean close deletes the journal, and the next writer in that folder turns a leftover
journal back into a complete Parquet file (``recover``). At most the row group still being
gathered is lost.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from posturewatch.ingest.records import LOCATIONS, SensorBlock

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
META_KEY = b"posturewatch.archive"
SUFFIX = ".parquet"
JOURNAL_SUFFIX = ".journal"
COMPRESSIONS = ("zstd", "snappy", "gzip", "brotli", "lz4", "none")
PART = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:\.part(\d+))?\.parquet$")

_LOCATION_TYPE = pa.dictionary(pa.int8(), pa.string())
_LOCATION_VALUES = pa.array(LOCATIONS, pa.string())
_F32 = pa.float32()

SCHEMA = pa.schema([
    pa.field("location", _LOCATION_TYPE, nullable=False),
    pa.field("t", pa.float64(), nullable=False),
    *(pa.field(f"a{axis}", _F32, nullable=False) for axis in "xyz"),
    *(pa.field(f"g{axis}", _F32) for axis in "xyz"),
    *(pa.field(f"m{axis}", _F32) for axis in "xyz"),
])
"""The archive's columns, in file order."""

CHANNELS = {"acc": ("ax", "ay", "az"), "gyr": ("gx", "gy", "gz"), "mag": ("mx", "my", "mz")}


class ArchiveError(ValueError):
    """An archive file or folder that cannot be read or written; the message says which and why."""


def posturewatch_version() -> str:
    try:
        return importlib_metadata.version("posturewatch")
    except importlib_metadata.PackageNotFoundError:
        return "unknown"


@dataclass
class ArchiveMeta:
    """What a file says about itself (the ``posturewatch.archive`` metadata entry)."""

    user: str
    sensors: dict[str, dict[str, object]] = field(default_factory=dict)  # location → family, address, rate_hz
    day: str | None = None  # YYYY-MM-DD in ``timezone``; None for a file that is not a daily part
    part: int = 1
    timezone: str = "UTC"
    source: str = "daemon"
    schema_version: int = SCHEMA_VERSION
    version: str = field(default_factory=posturewatch_version)

    def encode(self) -> bytes:
        return json.dumps({
            "schema_version": self.schema_version, "user": self.user, "day": self.day,
            "part": self.part, "timezone": self.timezone, "source": self.source,
            "posturewatch_version": self.version, "sensors": self.sensors,
        }, sort_keys=True).encode()

    @classmethod
    def decode(cls, raw: bytes | None, where: str) -> ArchiveMeta:
        if raw is None:
            raise ArchiveError(f"{where}: a Parquet file, but not a posturewatch archive "
                               f"(no {META_KEY.decode()} metadata)")
        try:
            d = json.loads(raw)
            meta = cls(user=str(d["user"]), sensors=dict(d.get("sensors") or {}), day=d.get("day"),
                       part=int(d.get("part", 1)), timezone=str(d.get("timezone", "UTC")),
                       source=str(d.get("source", "")), schema_version=int(d["schema_version"]),
                       version=str(d.get("posturewatch_version", "unknown")))
        except (ValueError, KeyError, TypeError) as exc:
            raise ArchiveError(f"{where}: archive metadata is garbled ({exc})") from None
        if meta.schema_version > SCHEMA_VERSION:
            raise ArchiveError(f"{where}: archive schema version {meta.schema_version} is newer than "
                               f"this posturewatch reads ({SCHEMA_VERSION}); upgrade posturewatch")
        return meta


def blocks_table(blocks: list[SensorBlock]) -> pa.Table:
    """Rows of ``blocks`` (one per sample, location by location) as a table of ``SCHEMA``."""
    blocks = [b for b in blocks if len(b)]
    n = sum(len(b) for b in blocks)
    codes = np.concatenate([np.full(len(b), LOCATIONS.index(b.location), np.int8) for b in blocks]) \
        if blocks else np.zeros(0, np.int8)
    columns = [pa.DictionaryArray.from_arrays(pa.array(codes, pa.int8()), _LOCATION_VALUES),
               pa.array(np.concatenate([b.t for b in blocks]) if blocks else np.zeros(0), pa.float64())]
    for channel, names in CHANNELS.items():
        values = np.zeros((n, 3), np.float32)
        present = np.zeros(n, bool)
        start = 0
        for b in blocks:
            arr = getattr(b, channel)
            if arr is not None:
                values[start:start + len(b)] = arr
                present[start:start + len(b)] = True
            start += len(b)
        mask = None if present.all() else ~present
        columns += [pa.array(values[:, i], _F32, mask=mask) for i in range(len(names))]
    return pa.Table.from_arrays(columns, schema=SCHEMA)


class ArchiveFile:
    """One Parquet file of ``SCHEMA``, written a row group at a time (with a journal if asked)."""

    def __init__(self, path: Path, meta: ArchiveMeta, compression: str = "zstd",
                 journal: bool = True) -> None:
        self.path = path
        self.meta = meta
        self.rows = 0
        self.row_groups = 0
        self.schema = SCHEMA.with_metadata({META_KEY: meta.encode()})
        codec = None if compression == "none" else compression
        self._writer = pq.ParquetWriter(path, self.schema, compression=codec, write_page_checksum=True)
        self._journal_path = journal_of(path) if journal else None
        self._journal_file = None
        self._journal = None
        if self._journal_path is not None:
            self._journal_file = pa.OSFile(str(self._journal_path), "wb")
            self._journal = pa.ipc.new_stream(self._journal_file, self.schema,
                                              options=pa.ipc.IpcWriteOptions(compression="zstd"))

    def write(self, table: pa.Table) -> None:
        """One row group (and one journal batch, flushed to the operating system)."""
        if not table.num_rows:
            return
        self._writer.write_table(table, row_group_size=table.num_rows)
        if self._journal is not None:
            self._journal.write_table(table)
            self._journal_file.flush()
        self.rows += table.num_rows
        self.row_groups += 1

    def close(self) -> None:
        self._writer.close()
        if self._journal is not None:
            self._journal.close()
            self._journal_file.close()
            self._journal_path.unlink(missing_ok=True)


def journal_of(path: Path) -> Path:
    return path.with_name(path.name + JOURNAL_SUFFIX)


def part_name(day: dt.date | str, part: int) -> str:
    """``YYYY-MM-DD.parquet`` for a day's first file, ``YYYY-MM-DD.partN.parquet`` after it."""
    day = day if isinstance(day, str) else day.isoformat()
    return f"{day}{SUFFIX}" if part == 1 else f"{day}.part{part}{SUFFIX}"


def part_key(path: Path) -> tuple[str, int, str]:
    """Sort key: day, then part number (part10 after part9), then the name for other files."""
    m = PART.match(path.name)
    return (m[1], int(m[2] or 1), "") if m else ("~", 0, path.name)


class Journal:
    """A part's journal read batch by batch (bounded memory); ``clean`` says afterwards whether
    it ended where its writer closed it (False: cut by a crash, the last batch lost)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.clean: bool | None = None
        try:
            self._file = pa.OSFile(str(path), "rb")
            self._reader = pa.ipc.open_stream(self._file)
        except (pa.ArrowInvalid, OSError, EOFError) as exc:
            raise ArchiveError(f"{path}: journal unreadable ({str(exc).splitlines()[0]})") from None
        self.schema = self._reader.schema

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        try:
            while True:
                try:
                    yield self._reader.read_next_batch()
                except StopIteration:
                    self.clean = True
                    return
                except (pa.ArrowInvalid, OSError, EOFError):
                    self.clean = False
                    return
        finally:
            self._file.close()


def recover(folder: Path) -> list[str]:
    """Turn every leftover journal in ``folder`` into a complete Parquet file; notes say what."""
    notes = []
    for path in sorted(folder.glob(f"*{SUFFIX}{JOURNAL_SUFFIX}")):
        target = path.with_name(path.name[: -len(JOURNAL_SUFFIX)])
        try:
            journal = Journal(path)
        except ArchiveError as exc:
            notes.append(f"{exc}; nothing recovered, kept as {path.name}.unreadable")
            log.warning("archive: %s", notes[-1])
            path.rename(path.with_name(path.name + ".unreadable"))
            continue
        rows = 0
        with pq.ParquetWriter(target, journal.schema, compression="zstd", write_page_checksum=True) as writer:
            for batch in journal:
                writer.write_table(pa.Table.from_batches([batch]), row_group_size=batch.num_rows)
                rows += batch.num_rows
        tail = "" if journal.clean else " (its last, unfinished row group was lost)"
        notes.append(f"{target.name}: not closed by its writer; {rows} rows recovered from the journal{tail}")
        log.warning("archive: %s", notes[-1])
        path.unlink()
    return notes

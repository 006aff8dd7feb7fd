"""Reading the raw archive back: a Parquet file or a folder of daily parts → sample blocks.

``iter_archive(path)`` streams one row group at a time as a list of per-location blocks (time
ordered per location across row groups and files), so memory stays bounded whatever the
length; ``ArchiveStream(path)`` gives the same as repeatable passes of per-location batches (what
``replay`` streams, as it streams a CSV); ``read_archive(path)`` collects the same blocks into
the ``Recording`` that ``read_recording`` gives for a CSV. Bad input is counted in the report,
as for a CSV: a sample with a NaN or a non-increasing time is dropped, a row group whose pages
fail their checksum is skipped. A file that is not a readable archive at all (truncated, garbled
footer, someone else's Parquet) is one ``RecordingError`` naming it.

A part still being written (or left by a writer that died) has no Parquet footer yet; its
journal is read instead, up to the last complete row group.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from posturewatch.ingest.archive import (
    CHANNELS,
    META_KEY,
    SCHEMA,
    SUFFIX,
    ArchiveError,
    ArchiveMeta,
    Journal,
    journal_of,
    part_key,
)
from posturewatch.ingest.recording import ReadReport, Recording, RecordingError
from posturewatch.ingest.records import LOCATIONS, SensorBlock

_COLUMNS = SCHEMA.names


def is_archive(path: str | Path) -> bool:
    """A ``.parquet`` file (or its journal) or a folder: what ``read_archive`` is for."""
    path = Path(path)
    return path.suffix.lower() == SUFFIX or path.name.endswith(f"{SUFFIX}.journal") or path.is_dir()


def archive_files(path: str | Path) -> list[Path]:
    """The archive parts of ``path``: the file itself, or a folder's parts in day/part order."""
    path = Path(path)
    if path.name.endswith(f"{SUFFIX}.journal"):
        path = path.with_name(path.name[: -len(".journal")])
    if path.is_dir():
        files = set(path.glob(f"*{SUFFIX}"))
        files |= {p.with_name(p.name[: -len(".journal")]) for p in path.glob(f"*{SUFFIX}.journal")}
        if not files:
            raise RecordingError(f"{path}: no archive files (*{SUFFIX}) in this folder")
        return sorted(files, key=part_key)
    if not path.is_file() and not journal_of(path).is_file():
        raise RecordingError(f"{path}: no such file")
    return [path]


class _Part:
    """One part opened for reading: its metadata, then its row groups (from Parquet or journal)."""

    def __init__(self, path: Path, report: ReadReport) -> None:
        self.path = path
        self.count = 0
        self._journal: Journal | None = None
        self._parquet: pq.ParquetFile | None = None
        if journal_of(path).is_file():
            try:
                self._journal = Journal(journal_of(path))
            except ArchiveError as exc:
                raise RecordingError(f"{path}: not closed by its writer, and {exc}") from None
            schema = self._journal.schema
        else:
            try:
                self._parquet = pq.ParquetFile(path, page_checksum_verification=True)
            except (pa.ArrowException, OSError) as exc:
                raise RecordingError(f"{path}: not a readable Parquet archive (truncated or garbled: "
                                     f"{str(exc).splitlines()[0]})") from None
            schema = self._parquet.schema_arrow
            self.count = self._parquet.num_row_groups
        try:
            self.meta = ArchiveMeta.decode((schema.metadata or {}).get(META_KEY), str(path))
        except ArchiveError as exc:
            raise RecordingError(str(exc)) from None
        self._check(schema)

    def _check(self, schema: pa.Schema) -> None:
        for want in SCHEMA:
            if want.name not in schema.names:
                raise RecordingError(f"{self.path}: archive column {want.name!r} is missing")
            got = schema.field(want.name).type
            if got != want.type and not (want.name == "location" and pa.types.is_string(got)):
                raise RecordingError(f"{self.path}: archive column {want.name!r} is {got}, "
                                     f"expected {want.type}")

    def tables(self, report: ReadReport) -> Iterator[tuple[pa.Table, float]]:
        """Row groups in file order with the fraction of the part done; bad ones are counted."""
        if self._journal is not None:
            n = 0
            for batch in self._journal:
                n += 1
                yield pa.Table.from_batches([batch]), 0.5
            report.notes.append(f"{self.path.name}: not closed by its writer (still recording, or it "
                                f"died); read {n} row groups from its journal")
            if not self._journal.clean:
                report.bad["unfinished_row_group"] += 1
            return
        for i in range(self.count):
            try:
                # one row group is small: Arrow's threads cost more CPU than they save here
                table = self._parquet.read_row_group(i, columns=_COLUMNS, use_threads=False)
            except (pa.ArrowException, OSError) as exc:
                report.bad["unreadable_row_group"] += 1
                report.notes.append(f"{self.path.name}: row group {i} unreadable "
                                    f"({str(exc).splitlines()[0]}); skipped")
                continue
            yield table, (i + 1) / self.count


def _locations(column: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """Row codes and the names they index, whether the column came back dictionary or plain."""
    col = column.combine_chunks()
    if pa.types.is_dictionary(col.type):
        return col.indices.to_numpy(zero_copy_only=False), col.dictionary.to_pylist()
    encoded = col.dictionary_encode()
    return encoded.indices.to_numpy(zero_copy_only=False), encoded.dictionary.to_pylist()


def _channel(table: pa.Table, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) float32 values and a per-row flag: all three present."""
    cols = [table.column(n).combine_chunks() for n in names]
    present = np.ones(table.num_rows, bool)
    for c in cols:
        if c.null_count:
            present &= c.is_valid().to_numpy(zero_copy_only=False)
    values = np.column_stack([c.fill_null(np.nan).to_numpy(zero_copy_only=False) if c.null_count
                              else c.to_numpy(zero_copy_only=False) for c in cols])
    return values.astype(np.float32, copy=False), present


def _runs(codes: np.ndarray) -> dict[int, slice]:
    """Rows of each location code that holds one run of rows (the writer's own files keep a
    location's rows together): a slice takes them without copying."""
    edges = [0, *(np.flatnonzero(codes[1:] != codes[:-1]) + 1).tolist(), len(codes)]
    if len(edges) > 2 + 2 * len(LOCATIONS):
        return {}
    starts = [int(codes[a]) for a in edges[:-1] if a < len(codes)]
    if len(set(starts)) != len(starts):
        return {}
    return {code: slice(a, b) for code, a, b in zip(starts, edges[:-1], edges[1:], strict=False)}


def _blocks(table: pa.Table, last: dict[str, float], report: ReadReport) -> list[SensorBlock]:
    """One row group's rows as clean blocks per location, continuing from ``last`` times."""
    codes, names = _locations(table.column("location"))
    t = table.column("t").to_numpy()
    acc, _ = _channel(table, CHANNELS["acc"])
    gyr, has_gyr = _channel(table, CHANNELS["gyr"])
    # most sensors have no magnetometer: a channel with no value at all is not converted
    no_mag = any(table.column(n).null_count == table.num_rows for n in CHANNELS["mag"])
    mag, has_mag = (None, None) if no_mag else _channel(table, CHANNELS["mag"])
    out = []
    runs = _runs(codes)
    for code, loc in enumerate(names):
        rows = runs.get(code)
        if rows is None:
            rows = np.flatnonzero(codes == code)
        tl, al, gl, with_gyr = t[rows], acc[rows], gyr[rows], has_gyr[rows]
        if not len(tl):
            continue
        if loc not in LOCATIONS:
            report.bad["unknown_location"] += len(tl)
            continue
        any_gyr = bool(with_gyr.any())
        valid = _finite_rows(al) & np.isfinite(tl)
        if any_gyr:
            valid &= with_gyr & _finite_rows(gl)
        keep = None
        if not valid.all():
            report.bad[f"{loc}_incomplete_or_nan_sample"] += int((~valid).sum())
            keep = valid
            tl = tl[valid]
        before = np.maximum.accumulate(np.concatenate(([last.get(loc, -np.inf)], tl)))[:-1]
        later = tl > before
        if not later.all():
            report.bad[f"{loc}_duplicate_timestamp"] += int((tl == before).sum())
            report.bad[f"{loc}_out_of_order"] += int((tl < before).sum())
            tl = tl[later]
            if keep is None:
                keep = later
            else:
                keep[keep] = later
        if not len(tl):
            continue
        if keep is not None:
            al, gl = al[keep], gl[keep]
        m = None
        if mag is not None:
            ml = mag[rows] if keep is None else mag[rows][keep]
            ok_mag = has_mag[rows] if keep is None else has_mag[rows][keep]
            m = ml if ok_mag.all() and np.isfinite(ml).all() else None
        last[loc] = float(tl[-1])
        g = gl if any_gyr else None
        out.append(SensorBlock(loc, tl, al, g, m))
        report.samples[loc] += len(tl)
    return out


def _finite_rows(v: np.ndarray) -> np.ndarray:
    """Per row of (n, 3) values: all finite (checked at once first: nearly always they are)."""
    if np.isfinite(v).all():
        return np.ones(len(v), bool)
    return np.isfinite(v).all(axis=1)


def iter_archive(path: str | Path, report: ReadReport | None = None,
                 progress: Callable[[float], None] | None = None) -> Iterator[list[SensorBlock]]:
    """Blocks of an archive file or folder, one row group at a time (see the module docstring).

    Each file is opened when it is reached, so a bad file mid-folder raises ``RecordingError``
    after the blocks before it were yielded; ``report`` (if given) gathers the counts and notes.
    """
    report = report if report is not None else ReadReport()
    files = archive_files(path)
    last: dict[str, float] = {}
    for k, file in enumerate(files):
        part = _Part(file, report)
        for table, done in part.tables(report):
            report.rows += table.num_rows
            blocks = _blocks(table, last, report)
            if progress:
                progress((k + done) / len(files))
            if blocks:
                yield blocks
        _describe(part, report)


def _describe(part: _Part, report: ReadReport) -> None:
    m = part.meta
    sensors = ", ".join(f"{loc} {s.get('family', '?')} {s.get('rate_hz', '?')} Hz"
                        for loc, s in m.sensors.items())
    report.notes.append(f"{part.path.name}: archive of {m.user} ({m.source}, posturewatch {m.version}"
                        f"{', ' + sensors if sensors else ''})")


class ArchiveStream:
    """An archive file or folder read pass by pass (``batches()``), like ``RecordingStream`` for a
    CSV; ``report`` describes the last pass. The parts are checked when the stream is made."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.files = archive_files(path)
        _Part(self.files[0], ReadReport())  # refuse what is not an archive before any work
        self.report = ReadReport()

    def batches(self, progress: Callable[[float], None] | None = None) -> Iterator[dict[str, SensorBlock]]:
        report = ReadReport()
        self.report = report
        for blocks in iter_archive(self.path, report, progress):
            yield {b.location: b for b in blocks}
        for loc in [loc for loc, n in report.samples.items() if n < 2]:
            report.notes.append(f"{loc}: fewer than two valid samples; location ignored")
        _drop_zero(report)


def _drop_zero(report: ReadReport) -> None:
    for key in [k for k, v in report.bad.items() if v == 0]:
        del report.bad[key]


def read_archive(path: str | Path, progress: Callable[[float], None] | None = None) -> Recording:
    """An archive file or folder as one block per location, with the read report."""
    report = ReadReport()
    parts: dict[str, list[SensorBlock]] = {}
    for blocks in iter_archive(path, report, progress):
        for block in blocks:
            parts.setdefault(block.location, []).append(block)
    out = {}
    for loc in (loc for loc in LOCATIONS if loc in parts):
        block = SensorBlock.concat(parts[loc]) if len(parts[loc]) > 1 else parts[loc][0]
        if len(block) < 2:
            report.notes.append(f"{loc}: fewer than two valid samples; location ignored")
            continue
        out[loc] = block
    _drop_zero(report)
    return Recording(out, report)

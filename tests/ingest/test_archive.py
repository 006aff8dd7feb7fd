"""The raw archive's files: exact round trip, daily files and parts, crash recovery, bad files."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from posturewatch.ingest.archive import META_KEY, SCHEMA, blocks_table
from posturewatch.ingest.archive_reader import iter_archive, read_archive
from posturewatch.ingest.archive_writer import ArchiveWriter
from posturewatch.ingest.recording import RecordingError
from posturewatch.ingest.records import SensorBlock

ZONE = "Europe/Berlin"
RATE = 50.0


def _local(y, m, d, hh=0, mm=0) -> float:
    return dt.datetime(y, m, d, hh, mm, tzinfo=ZoneInfo(ZONE)).timestamp()


def _stream(t0: float, seconds: float, step: float = 5.0, seed: int = 0):
    """5 s blocks of a thigh with gyro+mag and an accelerometer-only pelvis, in arrival order."""
    rng = np.random.default_rng(seed)
    for k in range(int(seconds / step)):
        t = t0 + k * step + np.arange(int(step * RATE)) / RATE
        n = len(t)
        yield [SensorBlock("thigh", t, rng.normal(0, 3, (n, 3)).astype(np.float32),
                           rng.normal(0, 1, (n, 3)).astype(np.float32),
                           rng.normal(0, 40, (n, 3)).astype(np.float32)),
               SensorBlock("pelvis", t + 0.004, rng.normal(0, 3, (n, 3)).astype(np.float32))]


def _write(folder: Path, t0: float, seconds: float, **kw) -> tuple[ArchiveWriter, list[list[SensorBlock]]]:
    writer = ArchiveWriter(folder, "alice", sensors={"thigh": {"family": "witmotion", "rate_hz": RATE}},
                           timezone=ZONE, **kw)
    writer.open()
    sent = list(_stream(t0, seconds))
    for blocks in sent:
        writer.add(blocks)
    writer.close()
    return writer, sent


def _joined(sent: list[list[SensorBlock]], location: str) -> SensorBlock:
    return SensorBlock.concat([b for blocks in sent for b in blocks if b.location == location])


def test_samples_come_back_exactly_with_their_channels_and_metadata(tmp_path):
    writer, sent = _write(tmp_path, _local(2026, 3, 2, 10), 300.0)
    assert [p.name for p in writer.files] == ["2026-03-02.parquet"]
    rec = read_archive(tmp_path / "2026-03-02.parquet")
    for loc in ("thigh", "pelvis"):
        want, got = _joined(sent, loc), rec.blocks[loc]
        np.testing.assert_array_equal(got.t, want.t)
        np.testing.assert_array_equal(got.acc, want.acc)
        assert got.acc.dtype == np.float32
    np.testing.assert_array_equal(rec.blocks["thigh"].gyr, _joined(sent, "thigh").gyr)
    np.testing.assert_array_equal(rec.blocks["thigh"].mag, _joined(sent, "thigh").mag)
    assert rec.blocks["pelvis"].gyr is None and rec.blocks["pelvis"].mag is None
    assert rec.report.samples == {"thigh": 15000, "pelvis": 15000} and not rec.report.bad
    pf = pq.ParquetFile(writer.files[0])
    assert pf.schema_arrow.remove_metadata().equals(SCHEMA)
    assert pf.num_row_groups == 5  # one per 60 s of data
    meta = json.loads(pf.metadata.metadata[META_KEY])
    assert meta["schema_version"] == 1 and meta["user"] == "alice" and meta["day"] == "2026-03-02"
    assert meta["sensors"]["thigh"] == {"family": "witmotion", "rate_hz": RATE}
    assert meta["timezone"] == ZONE and meta["posturewatch_version"]


def test_streaming_gives_the_same_samples_one_row_group_at_a_time(tmp_path):
    _write(tmp_path, _local(2026, 3, 2, 10), 300.0)
    chunks = list(iter_archive(tmp_path))
    assert len(chunks) == 5
    whole = read_archive(tmp_path)
    for loc in ("thigh", "pelvis"):
        streamed = SensorBlock.concat([b for c in chunks for b in c if b.location == loc])
        np.testing.assert_array_equal(streamed.t, whole.blocks[loc].t)
        assert all(np.diff(streamed.t) > 0)


def test_local_midnight_starts_the_next_days_file(tmp_path):
    midnight = _local(2026, 3, 3)
    writer, sent = _write(tmp_path, midnight - 90.0, 180.0)
    assert [p.name for p in writer.files] == ["2026-03-02.parquet", "2026-03-03.parquet"]
    before = read_archive(tmp_path / "2026-03-02.parquet").blocks
    after = read_archive(tmp_path / "2026-03-03.parquet").blocks
    for loc in ("thigh", "pelvis"):
        assert before[loc].t.max() < midnight <= after[loc].t.min()
        np.testing.assert_array_equal(np.concatenate([before[loc].t, after[loc].t]), _joined(sent, loc).t)
    assert read_archive(tmp_path).report.samples == {"thigh": 9000, "pelvis": 9000}


def test_a_restart_on_the_same_day_adds_a_part_and_leaves_the_first_untouched(tmp_path):
    _write(tmp_path, _local(2026, 3, 2, 10), 120.0)
    first = (tmp_path / "2026-03-02.parquet").read_bytes()
    writer, _ = _write(tmp_path, _local(2026, 3, 2, 11), 120.0)
    assert [p.name for p in writer.files] == ["2026-03-02.part2.parquet"]
    assert (tmp_path / "2026-03-02.parquet").read_bytes() == first
    rec = read_archive(tmp_path)
    assert rec.report.samples == {"thigh": 12000, "pelvis": 12000}
    assert np.all(np.diff(rec.blocks["thigh"].t) > 0)


CRASH = """
import os, sys
import numpy as np
from posturewatch.ingest.archive_writer import ArchiveWriter
from posturewatch.ingest.records import SensorBlock
w = ArchiveWriter(sys.argv[1], "alice", row_group_s=60.0)
w.open()
t0 = 1772445600.0
for k in range(45):  # 225 s: three full row groups written, 45 s still being gathered
    t = t0 + 5 * k + np.arange(250) / 50
    w.add([SensorBlock("thigh", t, np.ones((250, 3), np.float32))])
os._exit(1)  # killed: no close, no footer
"""


def test_a_killed_writer_loses_at_most_the_row_group_it_was_gathering(tmp_path):
    subprocess.run([sys.executable, "-c", CRASH, str(tmp_path)], check=False, timeout=60)
    part = tmp_path / "2026-03-02.parquet"
    with pytest.raises(pa.ArrowException):
        pq.ParquetFile(part)  # Parquet alone would have lost everything: no footer
    live = read_archive(tmp_path)  # read while "still recording": from the journal
    assert live.report.samples["thigh"] == 3 * 3000
    assert any("not closed by its writer" in n for n in live.report.notes)
    writer = ArchiveWriter(tmp_path, "alice")
    writer.open()  # the next daemon start turns the journal into a complete file
    writer.close()
    assert any("9000 rows recovered" in n for n in writer.notes)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026-03-02.parquet"]
    assert pq.ParquetFile(part).metadata.num_rows == 9000
    assert read_archive(part).report.samples["thigh"] == 9000


def test_truncated_garbled_and_foreign_files_are_one_clear_error(tmp_path):
    _write(tmp_path, _local(2026, 3, 2, 10), 120.0)
    good = (tmp_path / "2026-03-02.parquet").read_bytes()
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(good[: len(good) // 2])
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"PAR1" + bytes(range(256)) * 40)
    foreign = tmp_path / "foreign.parquet"
    pq.write_table(pa.table({"x": [1.0, 2.0]}), foreign)
    missing_column = tmp_path / "old.parquet"
    table = blocks_table(next(_stream(_local(2026, 3, 2, 10), 5.0))).drop_columns(["gx"])
    pq.write_table(table.replace_schema_metadata({META_KEY: b'{"schema_version": 1, "user": "a"}'}),
                   missing_column)
    for path, message in ((truncated, "not a readable Parquet archive"),
                          (garbage, "not a readable Parquet archive"),
                          (foreign, "not a posturewatch archive"),
                          (missing_column, "column 'gx' is missing")):
        with pytest.raises(RecordingError, match=message) as err:
            read_archive(path)
        assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_a_garbled_row_group_is_skipped_and_counted_the_rest_is_kept(tmp_path):
    _write(tmp_path, _local(2026, 3, 2, 10), 300.0)
    path = tmp_path / "2026-03-02.parquet"
    meta = pq.ParquetFile(path).metadata
    column = meta.row_group(2).column(3)  # the third minute's ax pages
    data = bytearray(path.read_bytes())
    middle = column.data_page_offset + column.total_compressed_size // 2
    data[middle:middle + 64] = bytes(64)
    path.write_bytes(bytes(data))
    rec = read_archive(path)
    assert rec.report.bad["unreadable_row_group"] == 1
    assert rec.report.samples == {"thigh": 12000, "pelvis": 12000}
    assert any("row group 2 unreadable" in n for n in rec.report.notes)


def test_nan_and_repeated_samples_are_counted_and_dropped(tmp_path):
    t = _local(2026, 3, 2, 10) + np.arange(100) / RATE
    acc = np.ones((100, 3), np.float32)
    acc[10] = np.nan
    t[50] = t[49]
    writer = ArchiveWriter(tmp_path, "alice")
    writer.open()
    writer.add([SensorBlock("thigh", t, acc)])
    writer.close()
    rec = read_archive(tmp_path)
    assert rec.report.bad == {"thigh_incomplete_or_nan_sample": 1, "thigh_duplicate_timestamp": 1}
    assert len(rec.blocks["thigh"]) == 98

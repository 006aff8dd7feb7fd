"""Timestamps in any unit or form → the same Unix seconds; broken stamps counted and dropped."""

from collections import Counter
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pytest

from posturewatch.ingest.recording import RecordingError, read_recording
from posturewatch.ingest.timestamps import (
    TextClock,
    TimestampError,
    broken_stamps,
    check_zone,
    numeric_seconds,
)

T0 = 1_767_225_600.0


@pytest.mark.parametrize("unit,scale,word", [("s", 1, "seconds"), ("ms", 1e3, "milliseconds"),
                                             ("us", 1e6, "microseconds"), ("ns", 1e9, "nanoseconds")])
def test_units_are_told_apart_by_size_and_the_reading_is_said(unit, scale, word):
    t = T0 + np.arange(100) * 0.01
    got, note = numeric_seconds(t * scale)
    assert np.abs(got - t).max() < 1e-6
    assert note == f"timestamps read as Unix {word} (detected from their size)"
    declared, note = numeric_seconds(t * scale, unit)
    assert np.abs(declared - t).max() < 1e-6 and "as declared" in note


def test_text_with_offsets_and_local_time_across_both_daylight_saving_changes():
    counts = Counter()
    zoned = TextClock(None, counts).seconds(pa.array(["2026-01-01T01:00:00+01:00",
                                                      "2026-01-01T00:00:00.5Z"]))
    assert zoned.tolist() == [T0, T0 + 0.5]
    berlin = ZoneInfo("Europe/Berlin")
    # autumn: 02:00–03:00 happens twice on 2026-10-25; file order says which is which
    utc = 1_792_885_200.0 + np.arange(0, 7200, 600.0)  # 01:40 CEST … 02:50 CEST, 02:00 … 02:30 CET
    walls = [datetime.fromtimestamp(u, berlin).strftime("%Y-%m-%d %H:%M:%S") for u in utc]
    got = TextClock("Europe/Berlin", counts).seconds(pa.array(walls))
    assert got.tolist() == utc.tolist()
    assert counts["ambiguous_local_time"] == 10
    # spring: 02:30 on 2026-03-29 never happened
    spring = TextClock("Europe/Berlin", counts).seconds(
        pa.array(["2026-03-29 01:59:00", "2026-03-29 02:30:00", "2026-03-29 03:01:00"]))
    assert np.isnan(spring[1]) and spring[2] - spring[0] == 120
    assert counts["nonexistent_local_time"] == 1


def test_a_repeated_hour_split_across_batches_keeps_its_order():
    counts = Counter()
    clock = TextClock("Europe/Berlin", counts)
    first = clock.seconds(pa.array(["2026-10-25 02:10:00", "2026-10-25 02:50:00"]))
    second = clock.seconds(pa.array(["2026-10-25 02:10:00", "2026-10-25 02:20:00"]))
    assert second[0] - first[1] == 1200  # 02:50 CEST → 02:10 CET is 20 minutes later


def test_naive_text_without_zone_is_read_as_utc_and_said_so():
    clock = TextClock(None, Counter())
    assert clock.seconds(pa.array(["2026-01-01 00:00:01"])).tolist() == [T0 + 1]
    assert "in UTC" in clock.note and "give a time zone" in clock.note
    with pytest.raises(TimestampError, match="unknown time zone 'Mars/Base'"):
        check_zone("Mars/Base")


def test_single_broken_stamps_are_counted_and_dropped():
    t = T0 + np.arange(1000) * 0.01
    t[100] = 5.0  # 1970
    t[200] = 4.2e9  # 2103
    t[300] += 86400  # an isolated jump forward
    t[400:403] -= 30  # a backward jump
    counts = Counter()
    drop = broken_stamps(t, counts)
    assert counts == Counter(implausible_timestamp=2, timestamp_jump=1, backward_jump=3)
    assert np.flatnonzero(drop).tolist() == [100, 200, 300, 400, 401, 402]
    jitter = T0 + np.arange(100) * 0.01
    jitter[[10, 11]] = jitter[[11, 10]]  # swapped neighbours are jitter, left for sorting
    assert not broken_stamps(jitter, Counter()).any()


def _csv(path, stamps):
    rows = ["timestamp,pelvis_ax,pelvis_ay,pelvis_az"]
    rows += [f"{s},0.1,0.2,9.7" for s in stamps]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_recording_reader_takes_unix_ms_and_keeps_a_broken_row_out(tmp_path):
    """Unix-ms stamps used to crash the replay with 'year 57982 is out of range'."""
    t = T0 + np.arange(500) * 0.02
    stamps = [f"{int(round(x * 1000))}" for x in t]
    stamps[250] = "0"
    rec = read_recording(_csv(tmp_path / "ms.csv", stamps))
    b = rec.blocks["pelvis"]
    assert len(b) == 499 and np.abs(b.t - np.delete(t, 250)).max() < 1e-6
    assert "timestamps read as Unix milliseconds (detected from their size)" in rec.report.notes
    assert rec.report.bad["implausible_timestamp"] == 1
    local = [datetime.fromtimestamp(x, ZoneInfo("America/New_York")).strftime("%Y-%m-%d %H:%M:%S.%f")
             for x in t]
    rec = read_recording(_csv(tmp_path / "local.csv", local), tz="America/New_York")
    assert np.abs(rec.blocks["pelvis"].t - t).max() < 1e-6
    iso = [datetime.fromtimestamp(x, UTC).isoformat() for x in t]
    assert np.abs(read_recording(_csv(tmp_path / "iso.csv", iso)).blocks["pelvis"].t - t).max() < 1e-6
    with pytest.raises(RecordingError, match="unknown time zone"):
        read_recording(_csv(tmp_path / "bad.csv", local), tz="Nowhere/City")

"""Reading recorded CSV files: formats, units, rates, and every kind of bad input counted."""

import numpy as np
import pytest

from posturewatch.ingest.recording import RecordingError, read_recording
from posturewatch.ingest.records import GRAVITY

HEADER = "timestamp,pelvis_ax,pelvis_ay,pelvis_az,pelvis_gx,pelvis_gy,pelvis_gz,thigh_ax,thigh_ay,thigh_az"


def write(tmp_path, lines, header=HEADER):
    p = tmp_path / "rec.csv"
    p.write_text(header + "\n" + "\n".join(lines) + "\n")
    return p


def clean_rows(n=200, t0=1.7e9):
    rows = []
    for i in range(n):
        thigh = "0.1,0,9.8" if i % 4 == 0 else ",,"  # thigh at a quarter of the pelvis rate
        rows.append(f"{t0 + i * 0.01:.3f},0.2,0.1,9.79,0.01,0,0,{thigh}")
    return rows


def test_mixed_rates_read_as_separate_streams(tmp_path):
    rec = read_recording(write(tmp_path, clean_rows()))
    assert len(rec.blocks["pelvis"]) == 200 and len(rec.blocks["thigh"]) == 50
    assert rec.blocks["thigh"].gyr is None  # accelerometer-only is legal
    assert np.median(np.diff(rec.blocks["thigh"].t)) == pytest.approx(0.04)
    assert not rec.report.bad


def test_garbled_lines_are_counted_and_the_rest_kept(tmp_path):
    rows = clean_rows()
    rows[10] = "1700000000.100,0.2,0.1"                       # truncated line
    rows[20] = "1700000000.200,nan,0.1,9.79,0,0,0,,,"          # NaN
    rows[30] = "1700000000.300,abc,0.1,9.79,0,0,0,,,"          # text in a number
    rows[40] = "garbage,0.2,0.1,9.79,0,0,0,,,"                 # bad timestamp
    rows[50] = rows[49]                                        # duplicate instant
    rec = read_recording(write(tmp_path, rows))
    bad = rec.report.bad
    assert bad["malformed_row"] == 1
    assert bad["non_numeric_cell"] == 2  # 'abc' and 'garbage'
    assert bad["bad_timestamp"] == 1
    assert bad["pelvis_incomplete_or_nan_sample"] == 2
    assert bad["pelvis_duplicate_timestamp"] == 1
    assert len(rec.blocks["pelvis"]) == 200 - 5  # every other row kept
    assert np.all(np.diff(rec.blocks["pelvis"].t) > 0)
    assert "malformed_row=1" in rec.report.summary()


def test_rfc3339_timestamps_and_g_units(tmp_path):
    rows = [f"2026-01-05T08:00:{i // 100:02d}.{i % 100:02d}0Z,0,0,1.0,0,0,0,,," for i in range(300)]
    rec = read_recording(write(tmp_path, rows))
    b = rec.blocks["pelvis"]
    assert b.t[0] == pytest.approx(1767600000.0)
    assert b.t[-1] - b.t[0] == pytest.approx(2.99)
    assert b.acc[0, 2] == pytest.approx(GRAVITY, rel=1e-5)
    assert any("in g" in n for n in rec.report.notes)


def test_degrees_per_second(tmp_path):
    rows = [f"{1.7e9 + i * 0.01:.2f},0,0,9.81,90,0,0,,," for i in range(50)]
    rec = read_recording(write(tmp_path, rows), gyro_unit="deg/s")
    assert rec.blocks["pelvis"].gyr[0, 0] == pytest.approx(np.pi / 2, rel=1e-6)


def test_unknown_and_incomplete_columns_are_reported(tmp_path):
    header = "timestamp,pelvis_ax,pelvis_ay,pelvis_az,pelvis_gx,neck_ax,thigh_ax"
    rows = [f"{1.7e9 + i * 0.01:.2f},0,0,9.81,0,1,2" for i in range(20)]
    rec = read_recording(write(tmp_path, rows, header))
    assert set(rec.blocks) == {"pelvis"}
    assert rec.blocks["pelvis"].gyr is None
    assert rec.report.bad["unknown_column"] == 1
    assert any("incomplete" in n for n in rec.report.notes)


@pytest.mark.parametrize("content,match", [
    (None, "no such file"),
    ("a,b,c\n1,2,3\n", "no 'timestamp' column"),
    ("timestamp,foo\n1,2\n", "no sensor columns"),
])
def test_unreadable_files_raise_a_clear_error(tmp_path, content, match):
    p = tmp_path / "x.csv"
    if content is not None:
        p.write_text(content)
    with pytest.raises(RecordingError, match=match):
        read_recording(p)


def test_sensor_block_concat_joins_parts_and_drops_a_channel_missing_in_one():
    from posturewatch.ingest.records import SensorBlock

    a = SensorBlock("thigh", np.arange(3.0), np.ones((3, 3)), np.zeros((3, 3)))
    b = SensorBlock("thigh", np.arange(3.0, 5.0), np.ones((2, 3)), None)
    joined = SensorBlock.concat([a, a.slice(0, 0), SensorBlock("thigh", a.t + 3, a.acc, a.gyr)])
    assert len(joined) == 6 and joined.gyr.shape == (6, 3)
    assert SensorBlock.concat([a, b]).gyr is None
    with pytest.raises(ValueError, match="one location"):
        SensorBlock.concat([a, SensorBlock("pelvis", a.t, a.acc)])

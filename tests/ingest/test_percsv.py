"""Generic per-location CSVs: columns and units told from names and data, or given; a clear
message listing the columns when they cannot be told."""

import numpy as np
import pytest

from posturewatch.ingest.locationfiles import read_location_files
from posturewatch.ingest.percsv import detect_columns
from posturewatch.ingest.recording import RecordingError
from posturewatch.ingest.records import GRAVITY

T0 = 1_767_225_600.0
N = 400


def signals(seed=0):
    rng = np.random.default_rng(seed)
    t = T0 + np.arange(N) * 0.02
    acc_g = np.column_stack([np.sin(t - T0), 0.1 * np.ones(N), np.cos(t - T0)]) + rng.normal(0, 0.01, (N, 3))
    gyr_rad = np.column_stack([np.ones(N), rng.normal(0, 2, N), rng.normal(0, 0.3, N)])
    gyr_rad[::50, 1] = 6.0  # a quick turn now and then
    return t, acc_g, gyr_rad


def write(path, header, t_cells, *blocks, sep=","):
    rows = [sep.join(header)]
    for i, tc in enumerate(t_cells):
        rows.append(sep.join([tc, *(f"{v:.6f}" for b in blocks for v in b[i])]))
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("header,scale_acc,scale_gyr", [
    (["time", "x", "y", "z"], GRAVITY, None),
    (["timestamp", "ax", "ay", "az", "gx", "gy", "gz"], 1.0, 1.0),
    (["t", "acc_x [m/s^2]", "acc_y [m/s^2]", "acc_z [m/s^2]", "gyro_x (deg/s)", "gyro_y (deg/s)",
      "gyro_z (deg/s)"], GRAVITY, np.degrees(1.0)),
    (["Timestamp", "accel_x_g", "accel_y_g", "accel_z_g", "gyr_x", "gyr_y", "gyr_z"], 1.0,
     np.degrees(1.0)),
])
def test_common_names_and_units(tmp_path, header, scale_acc, scale_gyr):
    t, acc_g, gyr = signals()
    blocks = [acc_g * scale_acc] + ([gyr * scale_gyr] if scale_gyr else [])
    path = write(tmp_path / "phone.csv", header, [f"{x:.3f}" for x in t], *blocks)
    rec = read_location_files({"thigh": path})
    b = rec.blocks["thigh"]
    assert np.abs(b.t - t).max() < 1e-6
    assert np.abs(b.acc - acc_g * GRAVITY).max() < 1e-4
    if scale_gyr:
        assert np.abs(b.gyr - gyr).max() < 1e-4
    assert any("timestamps read as Unix seconds" in n for n in rec.report.notes)


def test_units_in_the_name_win_over_guessing_and_are_reported(tmp_path):
    t, acc_g, gyr = signals()
    path = write(tmp_path / "p.csv", ["time_ms", "ax", "ay", "az", "gx", "gy", "gz"],
                 [f"{int(round(x * 1000))}" for x in t], acc_g * GRAVITY, np.degrees(gyr))
    rec = read_location_files({"pelvis": path})
    notes = " ".join(rec.report.notes)
    assert "timestamps read as Unix milliseconds (as declared)" in notes
    assert "acceleration read as m/s²" in notes and "angular rate read as deg/s" in notes
    assert np.abs(rec.blocks["pelvis"].gyr - gyr).max() < 1e-4


def test_columns_can_be_given_and_semicolons_work(tmp_path):
    t, acc_g, _ = signals()
    path = write(tmp_path / "odd.csv", ["when", "a", "b", "c"], [f"{x:.3f}" for x in t], acc_g, sep=";")
    with pytest.raises(RecordingError) as err:
        read_location_files({"thigh": path})
    assert "no time column among 'when', 'a', 'b', 'c'" in str(err.value)
    rec = read_location_files({"thigh": path},
                              columns={"thigh": {"time": "when", "acc": ["a", "b", "c"]}})
    assert np.abs(rec.blocks["thigh"].acc - acc_g * GRAVITY).max() < 1e-4
    with pytest.raises(ValueError, match="cannot tell the x, y, z acceleration columns among 'time', 'p'"):
        detect_columns(["time", "p", "q", "r"])


def test_garbled_cells_and_broken_stamps_are_counted_not_fatal(tmp_path):
    t, acc_g, _ = signals()
    cells = [f"{x:.3f}" for x in t]
    cells[10] = "1.0"  # 1970
    cells[20] = "oops"
    path = write(tmp_path / "g.csv", ["time", "x", "y", "z"], cells, acc_g)
    text = path.read_text().replace("\n" + cells[30] + ",", "\n" + cells[30] + ",abc", 1)
    path.write_text(text)
    rec = read_location_files({"thigh": path})
    bad = rec.report.bad
    assert bad["thigh_implausible_timestamp"] == 1 and bad["thigh_bad_timestamp"] == 1
    assert bad["thigh_non_numeric_cell"] == 1
    assert len(rec.blocks["thigh"]) == N - 3

"""The recording files round-trip, and `posturewatch simulate` writes them from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pytest

from posturewatch.simulators.config import WearerConfig
from posturewatch.simulators.recording import read_sensors, read_truth, record, write_recording
from posturewatch.simulators.wearer import simulate

CFG = WearerConfig(hours=0.1, seed=2, rates={"thigh": 200.0, "pelvis": 20.0}, head=True,
                   acc_only=("thorax",), mag=True)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("rec")
    day = simulate(CFG)
    write_recording(day, out)
    return day, out


def test_header_columns_follow_design_order(written):
    _, out = written
    header = (out / "sensors.csv").open().readline().strip().split(",")
    expected = ["timestamp"]
    for loc in ("pelvis", "thigh", "thorax", "head"):
        expected += [f"{loc}_a{a}" for a in "xyz"]
        if loc != "thorax":
            expected += [f"{loc}_g{a}" for a in "xyz"]
        expected += [f"{loc}_m{a}" for a in "xyz"]
    assert header == expected


def test_sensor_csv_round_trips_with_empty_cells_for_rates_and_loss(written):
    day, out = written
    back = read_sensors(out / "sensors.csv")
    assert set(back) == set(day.blocks)
    for loc, block in day.blocks.items():
        np.testing.assert_array_equal(back[loc].t, block.t)
        np.testing.assert_allclose(back[loc].acc, block.acc, atol=5.01e-5)  # 4 decimals
        np.testing.assert_allclose(back[loc].mag, block.mag, atol=5.01e-5)
        assert (back[loc].gyr is None) == (loc == "thorax")
    table = pacsv.read_csv(out / "sensors.csv")
    t = table["timestamp"].to_numpy()
    assert np.all(np.diff(t) > 0)  # one row per instant, sorted
    present = np.stack([~np.isnan(table[f"{loc}_ax"].to_numpy(zero_copy_only=False))
                        for loc in day.blocks], 1)
    assert present.any(1).all()  # no row without data
    assert (~present).any(1).mean() > 0.5  # 20 Hz and 200 Hz leave most rows partly empty
    n_rows = len(np.unique(np.concatenate([b.t for b in day.blocks.values()])))
    assert len(t) == n_rows
    # a line with an empty cell really is empty between commas (not "nan")
    text = (out / "sensors.csv").read_text()
    assert ",," in text and "nan" not in text.lower()


def test_truth_files_round_trip(written):
    day, out = written
    truth = read_truth(out)
    np.testing.assert_array_equal(truth.t, day.truth.t_1hz)
    assert list(truth.posture) == list(day.truth.labels(day.truth.posture_1hz))
    for name, values in day.truth.angles_1hz.items():
        np.testing.assert_allclose(truth.angles[name], values, atol=5.01e-4)
    assert [(e.kind, e.start, e.end) for e in truth.episodes] == [
        (e.kind, round(e.start, 3), round(e.end, 3)) for e in day.truth.episodes]
    assert truth.meta["seed"] == 2 and truth.meta["rates"]["thigh"] == 200.0
    assert set(truth.meta["sensors"]) == {"pelvis", "thigh", "thorax", "head"}


def test_neck_column_is_empty_without_a_head_sensor(tmp_path):
    record(WearerConfig(hours=0.02, seed=1), tmp_path)
    truth = read_truth(tmp_path)
    assert np.isnan(truth.angles["neck_flexion"]).all()
    assert np.isfinite(truth.angles["pelvic_tilt"]).all()


def test_streamed_record_equals_write_recording(written, tmp_path):
    _, out = written
    meta = record(CFG, tmp_path)
    assert (tmp_path / "sensors.csv").read_bytes() == (out / "sensors.csv").read_bytes()
    assert (tmp_path / "truth_episodes.csv").read_text() == (out / "truth_episodes.csv").read_text()
    assert meta["csv_rows"] == json.loads((out / "meta.json").read_text())["csv_rows"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("posturewatch")
    return subprocess.run([str(exe), "simulate", *args], capture_output=True, text=True,
                          timeout=300)


def test_cli_writes_a_recording_with_progress_and_summary(tmp_path):
    out = tmp_path / "day"
    proc = _cli("--hours", "0.05", "--seed", "7", "--out", str(out), "--rates", "thigh=200",
                "--flip", "thigh=inside_out", "--start", "2026-02-01T09:30:00+01:00")
    assert proc.returncode == 0, proc.stderr
    assert "simulate:" in proc.stderr and "100.0%" in proc.stderr
    assert "Simulated 0.05 h" in proc.stdout and "sensors.csv" in proc.stdout
    for name in ("sensors.csv", "truth_posture.csv", "truth_angles.csv", "truth_episodes.csv",
                 "meta.json"):
        assert (out / name).stat().st_size > 0, name
    meta = json.loads((out / "meta.json").read_text())
    assert meta["start_iso"] == "2026-02-01T08:30:00Z"
    assert meta["flips"] == {"thigh": "inside_out"} and meta["seed"] == 7
    truth = read_truth(out)
    assert len(truth.t) == 180 and set(truth.posture) <= {"walking", "standing", "sitting"}


def test_cli_ideal_switches_every_impairment_off(tmp_path):
    proc = _cli("--hours", "0.02", "--out", str(tmp_path), "--ideal", "--locations", "thigh")
    assert proc.returncode == 0, proc.stderr
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["realism_on"] == [] and meta["slip"] is None and meta["dropout"] is None
    t = pacsv.read_csv(tmp_path / "sensors.csv")["timestamp"].to_numpy()
    np.testing.assert_allclose(np.diff(t), 0.01, atol=1e-6)  # no jitter, no loss


@pytest.mark.parametrize("args,message", [
    (["--rates", "knee=20"], "not among the simulated sensors"),
    (["--flip", "thigh=sideways"], "flip of thigh must be one of"),
    (["--start", "yesterday"], "ISO date-time"),
    (["--rate", "5000"], "rate of"),
    (["--hours", "-1"], "hours must be a positive finite number"),
    (["--hours", "nan"], "hours must be a positive finite number"),
    (["--hours", "inf"], "hours must be a positive finite number"),
    (["--rate", "nan"], "rate of"),
    (["--locations", ""], "at least one location"),
    (["--locations", "pelvis,knee"], "unknown location 'knee'"),
])
def test_cli_rejects_bad_options_with_a_clear_message(tmp_path, args, message):
    proc = _cli("--out", str(tmp_path), *args)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_one_hertz_truth_is_the_per_second_mean_and_majority(written):
    day, _ = written
    tr = day.truth
    n = len(tr.t_1hz)
    np.testing.assert_allclose(tr.t_1hz, tr.t_10hz[::10])
    for name in ("pelvic_tilt", "thigh_inclination", "neck_flexion"):
        np.testing.assert_allclose(tr.angles_1hz[name],
                                   tr.angles_10hz[name][:n * 10].reshape(n, 10).mean(1))
    per_sec = tr.posture_10hz[:n * 10].reshape(n, 10)
    majority = np.array([np.bincount(row, minlength=5).argmax() for row in per_sec])
    np.testing.assert_array_equal(tr.posture_1hz, majority)
    assert len(set(tr.posture_1hz.tolist())) >= 2  # the window covers posture changes

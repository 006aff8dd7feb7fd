"""End to end: a simulated 25-minute recording written as one device file per location (AX6 on
the thigh with gyroscope, GENEActiv on the pelvis, ActiGraph on the thorax, three rates), replayed
through `posturewatch replay thigh=… pelvis=… thorax=…`, scored against the simulator's truth;
and one per-location CSV in five timestamp forms giving the same analysis.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest
from devicefile_writers import write_cwa, write_geneactiv, write_gt3x

from posturewatch.analytics.records import Posture
from posturewatch.analytics.scoring import score_posture
from posturewatch.ingest.locationfiles import read_location_files
from posturewatch.ingest.records import GRAVITY
from posturewatch.runtime.config import Config
from posturewatch.runtime.replay import run_replay
from posturewatch.simulators.config import WearerConfig
from posturewatch.simulators.recording import read_truth, write_recording
from posturewatch.simulators.wearer import Truth, simulate
from posturewatch.store.rollup import per_second

pytestmark = pytest.mark.slow
RATES = {"thigh": 100, "pelvis": 50, "thorax": 30}
TZ = "Europe/Berlin"


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    config = WearerConfig(hours=25 / 60, seed=5, rates=RATES, acc_only=("pelvis", "thorax"))
    # device files hold every sample on the device's own grid: no radio loss, jitter or dropout
    config = config.with_realism(jitter=False, packet_loss=False, dropout=False)
    sim = simulate(config)
    out = tmp_path_factory.mktemp("sim")
    write_recording(sim, out)
    return sim, out


def _grid(block, rate):
    """The device's view: its samples from a start on its own sample grid."""
    t0 = np.ceil(block.t[0] * rate) / rate
    return t0, block.acc / GRAVITY, None if block.gyr is None else np.degrees(block.gyr)


def _labels(t, posture, angles):
    sec = per_second(t, angles, posture)
    return sec.t, np.array([p.label for p in Posture], dtype=object)[sec.posture.astype(int)]


def test_device_files_replay_to_the_truth(day, tmp_path):
    sim, out = day
    t0, acc, gyr = _grid(sim.blocks["thigh"], 100)
    write_cwa(tmp_path / "thigh.cwa", t0, 100, acc, gyro_dps=gyr, tz_minutes=60)
    t0, acc, _ = _grid(sim.blocks["pelvis"], 50)
    write_geneactiv(tmp_path / "pelvis.bin", t0, 50, acc, tz_hours=1)
    t0, acc, _ = _grid(sim.blocks["thorax"], 30)
    write_gt3x(tmp_path / "thorax.gt3x", np.ceil(t0), 30, acc[int(round((np.ceil(t0) - t0) * 30)):],
               tz_hours=1)
    run = subprocess.run(
        [sys.executable, "-m", "posturewatch.app.cli", "replay", f"thigh={tmp_path / 'thigh.cwa'}",
         f"pelvis={tmp_path / 'pelvis.bin'}", f"thorax={tmp_path / 'thorax.gt3x'}", "--out",
         tmp_path / "res"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    print(run.stdout)
    for device in ("AX6 (Axivity CWA)", "GENEActiv (GeneActiv BIN)", "wGT3X-BT (Actigraph GT3X)"):
        assert f"{device} serial" in run.stdout
    rows = pacsv.read_csv(tmp_path / "res" / "angles.csv")
    truth = read_truth(out)
    score = score_posture(rows["timestamp"].to_numpy(), rows["posture"].to_pylist(), truth.t,
                          list(truth.posture))
    print(f"device files: posture agreement {score.agreement:.4f} over {score.seconds} s")
    assert score.seconds > 0.9 * 25 * 60
    assert score.agreement >= 0.97


def _write_variant(path: Path, block, form: str) -> None:
    t = np.round(block.t * 1000) / 1000  # on whole ms, so every form holds the same instants
    ms = np.round(block.t * 1000).astype(np.int64)
    if form == "s":
        stamp = pa.array(np.char.mod("%.3f", t))
    elif form == "ms":
        stamp = pa.array(ms)
    elif form == "us":
        stamp = pa.array(ms * 1000)
    else:
        ts = pa.array(ms, pa.timestamp("ms", "UTC"))
        if form == "local":
            ts = pc.local_timestamp(pc.cast(ts, pa.timestamp("ms", TZ)))
        wall = pc.utf8_slice_codeunits(pc.strftime(ts, "%Y-%m-%dT%H:%M:%S"), 0, 19)
        frac = pa.array(np.char.mod(".%03d", ms % 1000))
        stamp = pc.binary_join_element_wise(wall, frac, pa.scalar("Z" if form == "iso" else ""), "")
    cols = {"time": stamp}
    for i, a in enumerate("xyz"):
        cols[f"acc_{a}"] = pa.array(block.acc[:, i])
    if block.gyr is not None:
        for i, a in enumerate("xyz"):
            cols[f"gyro_{a}"] = pa.array(block.gyr[:, i])
    pacsv.write_csv(pa.table(cols), path)


def test_timestamp_forms_of_one_csv_give_identical_results(day, tmp_path):
    sim, _ = day
    results = {}
    for form in ("s", "ms", "us", "iso", "local"):
        files = {}
        for loc, block in sim.blocks.items():
            files[loc] = tmp_path / f"{loc}_{form}.csv"
            _write_variant(files[loc], block.slice(0, int(600 * RATES[loc])), form)
        rec = read_location_files(files, tz=TZ if form == "local" else None)
        assert not {k for k in rec.report.bad if "timestamp" in k or "time" in k}, rec.report.bad
        res = run_replay(rec.blocks, Config(), read=rec.report)
        results[form] = _labels(res.t, res.posture, res.angles)
        if form == "local":
            assert any(f"local date-times in {TZ}" in n for n in rec.report.notes)
    t_ref, labels_ref = results["s"]
    for form, (t, labels) in results.items():
        assert np.array_equal(t, t_ref), form
        assert list(labels) == list(labels_ref), form
    truth_t, truth_labels = sim.truth.t_1hz, Truth.labels(sim.truth.posture_1hz)
    score = score_posture(t_ref, list(labels_ref), truth_t, list(truth_labels))
    assert score.agreement >= 0.95  # the first 10 minutes, whatever the form

"""`posturewatch replay` on bad input: one clear line and a non-zero exit, never a traceback."""

import subprocess
import sys

import numpy as np
import pytest
from posekit import mounting, static_block

from posturewatch.analytics.pipeline import Pipeline

HEADER = "timestamp,pelvis_ax,pelvis_ay,pelvis_az\n"


def replay(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "posturewatch.app.cli", "replay", *map(str, args)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)


@pytest.mark.parametrize("content,config,message", [
    (None, None, "no such file"),
    (HEADER, None, "no usable samples"),
    (HEADER + "1,abc,0,9.8\n2,nan,0,9.8\n", None, "no usable samples"),
    (HEADER + "1,0,0,9.8\n", "mounting = 5\n", "[mounting] must be a table"),
    (HEADER + "1,0,0,9.8\n", "[mounting.thigh]\nsuperior = 5\n", "axes are names"),
    (HEADER + "1,0,0,9.8\n", "[episodes]\nsustain_s = nan\n", "finite number"),
    (HEADER + "1,0,0,9.8\n", "[episodes]\nsustain_s = -5\n", "must be > 0"),
    (HEADER + "1,0,0,9.8\n", "[episodez]\n", "unknown section"),
])
def test_bad_input_gets_one_clear_line(tmp_path, content, config, message):
    rec = tmp_path / "rec.csv"
    if content is not None:
        rec.write_text(content)
    args = [rec, "--out", tmp_path / "out"]
    if config is not None:
        (tmp_path / "c.toml").write_text(config)
        args += ["--config", tmp_path / "c.toml"]
    run = replay(tmp_path, *args)
    assert run.returncode == 2
    assert message in run.stderr
    assert "Traceback" not in run.stderr


def test_a_nan_sample_is_counted_and_does_not_poison_an_accelerometer_only_sensor():
    R = mounting("thigh")
    block = static_block("thigh", R, -90.0, 1_700_000_000.0, 30.0, gyro=False)
    block.acc[100] = np.nan
    block.t[200] = block.t[199]  # a repeated instant
    pipe = Pipeline()
    pipe.push([block], until=block.t[-1])
    out = pipe.close()
    assert pipe.counters["thigh_bad_samples"] == 2
    late = out.t > block.t[0] + 20
    assert np.isfinite(out.angles["thigh_inclination"][late]).all()
    assert np.nanmean(out.angles["thigh_inclination"][late]) == pytest.approx(90, abs=2)


def test_replay_uses_a_stored_calibration_and_refuses_an_unusable_one(tmp_path):
    from posturewatch.runtime.calibration_file import write_calibration

    true = {loc: mounting(loc, 12.0, seed=i) for i, loc in enumerate(("pelvis", "thigh", "thorax"))}
    still = {loc: {"acc_mean": static_block(loc, R, 0.0, 0.0, 1.0).acc.mean(axis=0).tolist()}
             for loc, R in true.items()}
    write_calibration(tmp_path / "cal.json", "ann", {}, {"neutral": still})
    rows = ["timestamp," + ",".join(f"{loc}_a{a}" for loc in true for a in "xyz")]
    blocks = {loc: static_block(loc, R, th, 1_700_000_000.0, 20.0)
              for (loc, R), th in zip(true.items(), (-5.0, -90.0, 0.0), strict=True)}
    for i in range(len(blocks["pelvis"])):
        rows.append(f"{blocks['pelvis'].t[i]:.3f}," + ",".join(
            ",".join(f"{v:.4f}" for v in blocks[loc].acc[i]) for loc in true))
    (tmp_path / "rec.csv").write_text("\n".join(rows) + "\n")
    rec = tmp_path / "rec.csv"
    run = replay(tmp_path, rec, "--out", tmp_path / "out", "--calibration", tmp_path / "cal.json")
    assert run.returncode == 0, run.stderr
    last = (tmp_path / "out" / "angles.csv").read_text().splitlines()[-2].split(",")
    assert last[1] == "sitting"
    assert float(last[2]) == pytest.approx(-5.0, abs=1.0)  # pelvic tilt, despite 12° misalignment
    (tmp_path / "bad.json").write_text('{"poses": 3}')
    bad = replay(tmp_path, rec, "--out", tmp_path / "o2", "--calibration", tmp_path / "bad.json")
    assert bad.returncode == 2 and "unusable" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("args,message", [
    (["knee=a.cwa"], "unknown location 'knee'"),
    (["thigh=missing.cwa"], "thigh: missing.cwa: no such file"),
    (["thigh=a.csv", "pelvis"], "expected LOCATION=FILE"),
    (["thigh=a.csv", "--tz", "Mars/Base"], "unknown time zone 'Mars/Base'"),
])
def test_per_location_arguments_get_one_clear_line(tmp_path, args, message):
    (tmp_path / "a.csv").write_text("time,x,y,z\n1767225600,0,0,1\n1767225601,0,0,1\n")
    run = replay(tmp_path, *args, "--out", tmp_path / "out")
    assert run.returncode == 2
    assert message in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert "Traceback" not in run.stderr


def test_unix_millisecond_csv_replays_and_says_how_it_was_read(tmp_path):
    t = 1_767_225_600.0 + np.arange(3000) * 0.02
    rows = ["timestamp,thigh_ax,thigh_ay,thigh_az"] + [f"{int(x * 1000)},9.80665,0,0" for x in t]
    (tmp_path / "ms.csv").write_text("\n".join(rows) + "\n")
    run = replay(tmp_path, tmp_path / "ms.csv", "--out", tmp_path / "out")
    assert run.returncode == 0, run.stderr
    assert "timestamps read as Unix milliseconds (detected from their size)" in run.stdout
    first = (tmp_path / "out" / "angles.csv").read_text().splitlines()[1].split(",")[0]
    assert float(first) == pytest.approx(t[0], abs=1.0)


def test_help_explains_per_location_files_and_time_options(tmp_path):
    run = replay(tmp_path, "--help")
    assert run.returncode == 0
    text = " ".join(run.stdout.split())
    assert "LOCATION=FILE" in text and ".cwa" in text and ".gt3x" in text and ".bin" in text
    assert "--time-unit {auto,s,ms,us,ns}" in text and "told from their size" in text
    assert "--tz ZONE" in text and "daylight saving" in text


@pytest.mark.parametrize("make_out", ["file", "unwritable"])
def test_an_unusable_out_is_refused_at_once(tmp_path, make_out):
    rec = tmp_path / "rec.csv"
    rec.write_text(HEADER + "".join(f"{1.7e9 + i / 50:.2f},0,0,9.81\n" for i in range(500)))
    out = tmp_path / "out"
    if make_out == "file":
        out.write_text("not a folder")
        expected = "exists and is not a folder"
    else:
        blocker = tmp_path / "blocker"
        blocker.write_text("")
        out = blocker / "out"  # a folder below a file cannot be created, even as root
        expected = "cannot be written"
    run = replay(tmp_path, rec, "--out", out)
    assert run.returncode == 2, run.stderr
    assert expected in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1

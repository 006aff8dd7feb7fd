"""`simulate --format parquet` and `replay` of Parquet files: the same results as through CSV, and
one clear line for a file that cannot be read."""

from __future__ import annotations

import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from posturewatch.ingest.archive import META_KEY


def cli(cwd, *args):
    return subprocess.run([sys.executable, "-m", "posturewatch.app.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sim_formats")
    for fmt in ("csv", "parquet"):
        run = cli(tmp, "simulate", "--hours", "0.25", "--seed", "4", "--format", fmt, "--out", tmp / fmt)
        assert run.returncode == 0, run.stderr
    return tmp


def test_parquet_and_csv_of_one_simulated_day_replay_to_identical_results(simulated):
    tmp = simulated
    assert (tmp / "csv" / "sensors.csv").is_file() and not (tmp / "parquet" / "sensors.csv").exists()
    meta = pq.ParquetFile(tmp / "parquet" / "sensors.parquet").metadata.metadata
    assert b'"source": "simulate"' in meta[META_KEY]
    for fmt, name in (("csv", "sensors.csv"), ("parquet", "sensors.parquet")):
        run = cli(tmp, "replay", tmp / fmt / name, "--out", tmp / f"out_{fmt}")
        assert run.returncode == 0, run.stderr
    for result in ("angles.csv", "episodes.csv", "alerts.csv"):
        csv_text = (tmp / "out_csv" / result).read_text()
        assert csv_text == (tmp / "out_parquet" / result).read_text(), result
    assert len((tmp / "out_csv" / "angles.csv").read_text().splitlines()) > 0.9 * 900


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty folder"])
def test_an_unreadable_parquet_file_gets_one_clear_line_and_exit_2(simulated, tmp_path, damage):
    good = (simulated / "parquet" / "sensors.parquet").read_bytes()
    target = tmp_path / "broken.parquet"
    if damage == "truncated":
        target.write_bytes(good[: len(good) * 2 // 3])
    elif damage == "garbage":
        target.write_bytes(b"PAR1" + b"\x17" * 5000 + b"PAR1")
    else:
        target = tmp_path / "archive"
        target.mkdir()
    run = cli(tmp_path, "replay", target, "--out", tmp_path / "out")
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip() and "replay:" in line]
    assert len(lines) == 1 and str(target) in lines[0], run.stderr
    expected = "no archive files" if damage == "empty folder" else "not a readable Parquet archive"
    assert expected in lines[0]

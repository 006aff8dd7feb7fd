"""run / scan / calibrate commands: one-line no-adapter failure, emulated scan, config errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from posturewatch.app.cli import main
from posturewatch.ingest.ble.bleak_backend import BleakBackend

CONFIG = """
[[sensors]]
location = "pelvis"
family = "pwrp"
address = "AA:00:00:00:00:01"
[[sensors]]
location = "thigh"
family = "movesense"
address = "AA:00:00:00:00:02"
"""


def _has_adapter() -> bool:
    """True only when the real backend positively found an adapter (then the test cannot run)."""
    import asyncio

    try:
        asyncio.run(asyncio.wait_for(BleakBackend().check_adapter(), 20))
    except Exception:  # NoAdapterError, or anything else: no usable adapter, so test it
        return False
    return True


@pytest.mark.parametrize("command", [["scan", "--timeout", "1"], ["run", "--config", "CFG"]])
def test_without_adapter_one_clear_line_and_nonzero_exit(command, tmp_path):
    if _has_adapter():
        pytest.skip("this machine has a usable Bluetooth adapter")
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    argv = [str(cfg) if a == "CFG" else a for a in command]
    proc = subprocess.run([sys.executable, "-m", "posturewatch.app.cli", *argv],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONWARNINGS": "ignore",
                               "XDG_STATE_HOME": str(tmp_path / "state")})
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "no Bluetooth adapter" in lines[0] and "Traceback" not in proc.stderr


def test_scan_emulated_lists_every_family(capsys):
    assert main(["scan", "--emulate", "--timeout", "0.2"]) == 0
    out = capsys.readouterr().out
    for family in ("witmotion", "movesense", "movella_dot", "pwrp"):
        assert family in out
    assert "83%" in out  # battery read over the standard service


def test_run_reports_config_errors(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[sensors]]\nlocation = "elbow"\nfamily = "pwrp"\naddress = "AA:00:00:00:00:01"\n')
    assert main(["run", "--config", str(cfg), "--emulate"]) == 2
    assert "location must be one of" in capsys.readouterr().err


def test_run_emulated_streams_and_summarizes(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # store, outbox, (no) calibration
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    assert main(["run", "--config", str(cfg), "--emulate", "--duration", "3", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "pelvis: pwrp" in out and "thigh: movesense" in out
    assert (tmp_path / "data" / "posturewatch" / "default" / "store.db").exists()
    delivered = int(next(ln for ln in out.splitlines() if "samples delivered" in ln).split()[0])
    assert delivered > 50
    assert f"data: {tmp_path / 'data' / 'posturewatch' / 'default'}" in out


def test_calibrate_emulated_stores_mean_gravity_where_run_looks(tmp_path, monkeypatch):
    from posturewatch.runtime.calibration_file import calibration_path, load_calibrations
    from posturewatch.runtime.config import load

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    cfg = tmp_path / "c.toml"
    cfg.write_text('user = "ann"\n[mounting.thigh]\nsuperior = "-x"\n' + CONFIG)
    assert main(["calibrate", "--config", str(cfg), "--emulate", "--hold", "3.5", "--window", "3"]) == 0
    out = calibration_path("ann")  # the config's user: the file `run --config` will read
    doc = json.loads(out.read_text())
    assert doc["user"] == "ann" and doc["mounting"]["thigh"]["superior"] == "-x"
    assert doc["v"] == 1 and set(doc["poses"]["neutral"]) == {"pelvis", "thigh"}
    settings = load(cfg)
    assert settings.paths.calibration == out
    calibrations, notes = load_calibrations(out, settings.pipeline.declared)
    assert set(calibrations) == {"pelvis", "thigh"}, notes
    for entry in doc["poses"]["neutral"].values():
        assert abs(sum(a * a for a in entry["acc_mean"]) ** 0.5 - 9.81) < 0.2
        assert entry["end"] - entry["start"] >= 2.9

"""Device files (Axivity, ActiGraph, GENEActiv) written from the public format descriptions by our
test writers, read back through actfast: samples within quantisation, stamps within a sample."""

import zipfile
from pathlib import Path

import numpy as np
import pytest
from devicefile_writers import write_cwa, write_geneactiv, write_gt3x

from posturewatch.ingest.locationfiles import parse_location_args, read_location_files
from posturewatch.ingest.recording import RecordingError
from posturewatch.ingest.records import GRAVITY

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC


def motion(n, rate, seed=0, gyro=False):
    """Slow tilting plus noise, in g (and °/s when ``gyro``)."""
    rng = np.random.default_rng(seed)
    tt = np.arange(n) / rate
    angle = 0.8 * np.sin(2 * np.pi * tt / 7.0)
    acc = np.column_stack([np.sin(angle), 0.1 * np.cos(tt), np.cos(angle)]) + rng.normal(0, 0.02, (n, 3))
    if not gyro:
        return acc
    return acc, np.column_stack([np.degrees(np.gradient(angle, tt)), rng.normal(0, 30, n),
                                 rng.normal(0, 5, n)])


def check(block, written, rate, acc_step_g, gyro_step_dps=None):
    assert len(block) == len(written["t"])
    assert np.abs(block.t - written["t"]).max() < 1.0 / rate
    assert np.abs(block.acc - written["acc_g"] * GRAVITY).max() <= 1e-5 * GRAVITY + 1e-4
    assert np.abs(block.acc / GRAVITY - written["acc_g"]).max() <= acc_step_g
    if gyro_step_dps is not None:
        assert np.abs(np.degrees(block.gyr) - written["gyro_dps"]).max() < gyro_step_dps


def test_ax3_packed_samples_and_device_metadata(tmp_path):
    acc = motion(3000, 100)
    w = write_cwa(tmp_path / "t.cwa", T0, 100, acc, tz_minutes=60, device_id=98765)
    rec = read_location_files({"thigh": tmp_path / "t.cwa"})
    b = rec.blocks["thigh"]
    check(b, w, 100, 1 / 256)
    assert b.gyr is None
    assert np.abs(w["acc_g"] - acc).max() < 2 / 256  # the writer quantised like the device does
    note = " ".join(rec.report.notes)
    assert "AX3 (Axivity CWA) serial 98765, 100 Hz, ±8 g" in note and "UTC+1 h (from the file)" in note
    assert not rec.report.bad


def test_ax6_with_gyroscope_at_another_rate(tmp_path):
    acc, gyr = motion(2000, 50, seed=1, gyro=True)
    w = write_cwa(tmp_path / "p.cwa", T0 + 0.02, 50, acc, gyro_dps=gyr)
    b = read_location_files({"pelvis": tmp_path / "p.cwa"}).blocks["pelvis"]
    check(b, w, 50, 1 / 2048, gyro_step_dps=2000 / 32768)
    assert np.abs(np.degrees(b.gyr) - gyr).max() < 2000 / 32768  # rad/s out, within one step
    assert np.median(np.diff(b.t)) == pytest.approx(0.02, abs=1e-6)


def test_corrupt_blocks_are_counted_reported_and_the_rest_is_read(tmp_path):
    acc = motion(120 * 20, 100)
    w = write_cwa(tmp_path / "t.cwa", T0, 100, acc, corrupt_blocks=(3, 4, 11))
    rec = read_location_files({"thigh": tmp_path / "t.cwa"})
    b = rec.blocks["thigh"]
    assert rec.report.bad["thigh_corrupt_block"] == 3
    assert "3 corrupt block(s) skipped" in " ".join(rec.report.notes)
    kept = np.ones(len(acc), bool)
    for k in (3, 4, 11):
        kept[k * 120:(k + 1) * 120] = False
    assert len(b) == kept.sum()
    assert np.abs(b.t - w["t"][kept]).max() < 0.01
    assert np.abs(b.acc / GRAVITY - w["acc_g"][kept]).max() <= 1 / 256


def test_gt3x_activity_records_and_time_zone(tmp_path):
    acc = motion(30 * 60, 30, seed=2)
    w = write_gt3x(tmp_path / "a.gt3x", T0, 30, acc, tz_hours=-5, serial="MOS2E99999999")
    rec = read_location_files({"thorax": tmp_path / "a.gt3x"})
    check(rec.blocks["thorax"], w, 30, 1 / 256)
    note = " ".join(rec.report.notes)
    assert "MOS2E99999999" in note and "UTC-5 h" in note


def test_geneactiv_bin_pages_calibrated(tmp_path):
    acc = motion(300 * 8, 75, seed=3)
    w = write_geneactiv(tmp_path / "g.bin", T0, 75, acc, tz_hours=2, serial="077001")
    rec = read_location_files({"thigh": tmp_path / "g.bin"})
    check(rec.blocks["thigh"], w, 75, 100 / 25500)
    assert "GENEActiv (GeneActiv BIN) serial 077001, 75 Hz, ±8 g" in " ".join(rec.report.notes)


def test_declared_device_zone_overrides_the_file(tmp_path):
    # a device whose clock was set to Berlin summer time, its zone field left at 0
    utc = 1_782_900_000.0  # 2026-07-01, CEST = UTC+2
    acc = motion(1200, 25, seed=4)
    write_cwa(tmp_path / "t.cwa", utc + 7200, 25, acc, tz_minutes=0)
    as_file = read_location_files({"thigh": tmp_path / "t.cwa"})
    declared = read_location_files({"thigh": tmp_path / "t.cwa"}, tz="Europe/Berlin")
    assert as_file.blocks["thigh"].t[0] == pytest.approx(utc + 7200, abs=0.04)
    assert declared.blocks["thigh"].t[0] == pytest.approx(utc, abs=0.04)
    assert "device clock read as local time in Europe/Berlin" in " ".join(declared.report.notes)


def test_bad_device_files_and_arguments_get_one_clear_message(tmp_path):
    (tmp_path / "x.cwa").write_bytes(b"not a cwa file at all" * 10)
    with pytest.raises(RecordingError, match="not a readable Axivity file"):
        read_location_files({"thigh": tmp_path / "x.cwa"})
    with pytest.raises(RecordingError, match="no such file"):
        read_location_files({"thigh": tmp_path / "missing.cwa"})
    with pytest.raises(RecordingError, match="unknown location 'knee'"):
        parse_location_args(["knee=a.cwa"])
    assert parse_location_args(["Thigh=a.cwa", "pelvis=b.bin"]) == {"thigh": Path("a.cwa"),
                                                                    "pelvis": Path("b.bin")}


def test_a_broken_geneactiv_page_or_gt3x_record_is_counted_and_reported(tmp_path):
    acc = motion(3000, 50, seed=5)
    write_geneactiv(tmp_path / "g.bin", T0, 50, acc)
    lines = (tmp_path / "g.bin").read_bytes().split(b"\r\n")
    lines[59 + 3 * 10 + 9] = b"ZZ" + lines[59 + 3 * 10 + 9][2:]  # page 3's hex line
    (tmp_path / "g.bin").write_bytes(b"\r\n".join(lines))
    rec = read_location_files({"thigh": tmp_path / "g.bin"})
    assert rec.report.bad["thigh_corrupt_block"] == 1
    assert len(rec.blocks["thigh"]) == 3000 - 300
    write_gt3x(tmp_path / "a.gt3x", T0, 30, motion(3000, 30, seed=6))
    with zipfile.ZipFile(tmp_path / "a.gt3x") as z:
        info, log = z.read("info.txt"), bytearray(z.read("log.bin"))
    log[(8 + 16 + 1) + 40 * (8 + 135 + 1)] = 0  # the separator of second 40's record
    with zipfile.ZipFile(tmp_path / "b.gt3x", "w") as z:
        z.writestr("info.txt", info)
        z.writestr("log.bin", bytes(log))
    rec = read_location_files({"thorax": tmp_path / "b.gt3x"})
    assert len(rec.blocks["thorax"]) == 40 * 30
    assert rec.report.bad["thorax_corrupt_block"] == 1
    assert rec.report.bad["thorax_unread_seconds"] == 60
    assert "reading stopped at the broken record; the 1.0 min" in " ".join(rec.report.notes)

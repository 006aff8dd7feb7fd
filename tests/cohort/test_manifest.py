"""Manifest and folder checks, stamps and the per-day figures: no cluster needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from posturewatch.app import cli
from posturewatch.cohort.daily import figures_from_angles
from posturewatch.cohort.manifest import Defaults, ManifestError, load_specs
from posturewatch.cohort.task import finished, stamp


def _files(root: Path, *names: str) -> None:
    for n in names:
        (root / n).parent.mkdir(parents=True, exist_ok=True)
        (root / n).write_text("time,acc_x,acc_y,acc_z\n")


def test_every_manifest_problem_is_named_before_any_work(tmp_path, capsys):
    _files(tmp_path, "a.csv", "t.cwa")
    (tmp_path / "bad.toml").write_text("[episodes]\ntilt_entr = 3\n")
    (tmp_path / "m.csv").write_text(
        "participant,file,files,tz,config,episodes.tilt_enter\n"
        "P1,missing.csv,,,,\n"
        "P2,,elbow=a.csv,,,\n"
        "P3,a.csv,,Mars/Olympus,,\n"
        "P4,a.csv,,,bad.toml,\n"
        "P5,a.csv,,,,steep\n"
        "P5,a.csv,,,,\n"
        "P7,,thigh=t.cwa thigh=a.csv,,,\n"
        "ok,a.csv,,Europe/Berlin,,-20\n")
    with pytest.raises(ManifestError) as err:
        load_specs(tmp_path / "m.csv", Defaults())
    lines = err.value.lines
    expected = [("line 2 (P1)", "missing.csv: no such file"), ("line 3 (P2)", "unknown location 'elbow'"),
                ("line 4 (P3)", "unknown time zone 'Mars/Olympus'"), ("line 5 (P4)", "tilt_entr"),
                ("line 6 (P5)", "tilt_enter must be a finite number"), ("line 7 (P5)", "appears twice"),
                ("line 8 (P7)", "thigh given twice")]
    assert len(lines) == len(expected), lines
    for line, (where, what) in zip(lines, expected, strict=True):
        assert where in line and what in line, line
    out = tmp_path / "out"
    assert cli.main(["cohort", str(tmp_path / "m.csv"), "--out", str(out)]) == 2
    stderr = capsys.readouterr().err.splitlines()
    assert len(stderr) == len(expected) and all(s.startswith("posturewatch cohort: ") for s in stderr)
    assert not out.exists()


def test_unknown_columns_and_folders_without_recordings_are_named(tmp_path):
    (tmp_path / "m.csv").write_text("participant,fiel\nP1,a.csv\n")
    with pytest.raises(ManifestError, match="unknown column.*fiel"):
        load_specs(tmp_path / "m.csv", Defaults())
    study = tmp_path / "study"
    _files(study, "P1.csv", "P2/thigh.cwa", "P2/pelvis_123.bin", "P3/elbow.csv", "P3/thigh.csv", "P4/x.txt")
    with pytest.raises(ManifestError) as err:
        load_specs(study, Defaults())
    assert len(err.value.lines) == 2
    assert "elbow.csv: unknown location" in err.value.lines[0]
    assert "P4: no recording found" in err.value.lines[1]
    (study / "P3" / "elbow.csv").unlink()
    (study / "P4" / "x.txt").unlink()
    (study / "P4").rmdir()
    specs = {s.participant: s for s in load_specs(study, Defaults(tz="Europe/Berlin"))}
    assert specs["P1"].combined == study / "P1.csv"
    assert specs["P2"].files == {"thigh": study / "P2/thigh.cwa", "pelvis": study / "P2/pelvis_123.bin"}
    assert specs["P3"].files == {"thigh": study / "P3/thigh.csv"}
    assert specs["P2"].config().alerts.timezone == "Europe/Berlin"


def test_stamp_changes_with_config_inputs_and_version(tmp_path):
    _files(tmp_path, "a.csv")
    (tmp_path / "m.csv").write_text("participant,file,episodes.tilt_enter\nP1,a.csv,-20\n")
    spec = load_specs(tmp_path / "m.csv", Defaults())[0]
    assert spec.config().pipeline.episodes.tilt_enter == -20
    want = stamp(spec)
    folder = tmp_path / "P1"
    folder.mkdir()
    (folder / "done.json").write_text(json.dumps({**want, "days": []}))
    assert finished(folder, want) is not None
    other = load_specs(tmp_path / "m.csv", Defaults(overrides={"posture.sitting_thigh": "50"}))[0]
    assert finished(folder, stamp(other)) is None
    assert finished(folder, {**want, "version": "0.0.0"}) is None
    (tmp_path / "a.csv").write_text("time,acc_x,acc_y,acc_z\n1,2,3,4\n")
    assert finished(folder, stamp(spec)) is None


def test_days_are_split_at_local_midnight(tmp_path):
    # 23:59:00 .. 00:00:59 Berlin time (UTC+1 in winter): 60 s on each side of midnight
    t0 = 1735685940.0  # 2024-12-31T22:59:00Z = 23:59 in Berlin
    rows = ["timestamp,posture,trunk"] + [f"{t0 + i:.1f},{'sitting' if i < 90 else 'not_worn'},1.0"
                                          for i in range(120)]
    (tmp_path / "angles.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "episodes.csv").write_text(f"id,kind,start\ne1,trunk,{t0 + 10}\ne2,trunk,{t0 + 70}\n")
    (tmp_path / "alerts.csv").write_text("id,kind,ts\n")
    days = figures_from_angles(tmp_path, "Europe/Berlin")
    assert [d["day"] for d in days] == ["2024-12-31", "2025-01-01"]
    assert days[0]["sitting_s"] == 60 and days[1]["sitting_s"] == 30 and days[1]["not_worn_s"] == 30
    assert days[1]["monitored_min"] == 0.5 and days[0]["episodes"] == 1 and days[1]["episodes"] == 1
    assert days[1]["local_start"] == "2025-01-01T00:00:00+0100"

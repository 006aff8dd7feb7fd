"""Recordings with gaps of seconds, hours and weeks, and a few broken timestamps.

Simulated 20-minute pieces are stitched into one file; the streamed replay must find the
segments (a 20 s gap is no segment boundary, 3 h and 3 weeks are), and within each segment give
exactly the postures, angles and episodes that replaying that segment's own file gives. A
two-day replay's folder then gives `report --replay` both days.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from posturewatch.analytics.records import Posture
from posturewatch.app.report_data import load_replay, replay_days
from posturewatch.runtime.config import Config
from posturewatch.runtime.replay import replay_file
from posturewatch.simulators.config import Realism, WearerConfig
from posturewatch.simulators.recording import SensorCsvWriter
from posturewatch.simulators.wearer import simulate

T0 = 1_774_000_000.0  # 2026-03-20 09:46:40 UTC
PIECE_S = 1200.0
HOUR, DAY = 3600.0, 86400.0
# piece starts: a 20 s gap (same segment), then 3 hours, then 3 weeks
STARTS = [T0, T0 + PIECE_S + 20, T0 + 2 * PIECE_S + 20 + 3 * HOUR,
          T0 + 3 * PIECE_S + 20 + 3 * HOUR + 21 * DAY]
SEGMENTS = [[0, 1], [2], [3]]  # pieces per analysis segment

pytestmark = pytest.mark.slow


def _pieces(starts: list[float]) -> list:
    # the same wearer, sensors worn alike each time (no slips): only time and activity differ
    real = Realism(slip=False, misalignment=False)
    return [simulate(WearerConfig(hours=PIECE_S / 3600, seed=20 + i, start=t, rate=50, realism=real))
            for i, t in enumerate(starts)]


def _write(path: Path, days: list) -> None:
    locs = days[0].config.sensor_locations
    writer = SensorCsvWriter(path, locs, dict.fromkeys(locs, True), False)
    for d in days:
        writer.add(d.blocks)
    writer.close()


def _break_stamps(path: Path) -> None:
    """Add rows with broken stamps (1970, 2100, an isolated jump) among the good ones."""
    lines = path.read_text().splitlines(keepends=True)
    values = lines[1].split(",", 1)[1]
    for row, stamp in ((5000, "0.5"), (70000, "4200000000.0"), (130000, None)):
        if stamp is None:  # 5000 s after its neighbours, then back: a jump, not a gap
            stamp = f"{float(lines[row].split(',', 1)[0]) + 5000:.3f}"
        lines.insert(row, f"{stamp},{values}")
    path.write_text("".join(lines))


def _cals(config: Config) -> dict:
    # given mountings (not learnt): both replays must use the very same ones
    return {loc: replace(config.pipeline.declared(loc), source="given")
            for loc in ("pelvis", "thigh", "thorax")}


def _rows(path: Path) -> list[dict]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def stitched(tmp_path_factory):
    work = tmp_path_factory.mktemp("gaps")
    days = _pieces(STARTS)
    _write(work / "all.csv", days)
    _break_stamps(work / "all.csv")
    cfg = Config()
    whole = replay_file(work / "all.csv", work / "out", cfg, calibrations=_cals(cfg))
    alone = []
    for i, pieces in enumerate(SEGMENTS):
        _write(work / f"seg{i}.csv", [days[p] for p in pieces])
        alone.append(replay_file(work / f"seg{i}.csv", work / f"out{i}", cfg, calibrations=_cals(cfg)))
    return work, whole, alone


def test_segments_are_found_and_broken_stamps_dropped(stitched):
    work, whole, _ = stitched
    segs = whole.segments
    assert len(segs) == 3
    for seg, pieces in zip(segs, SEGMENTS, strict=True):
        assert abs(seg.start - STARTS[pieces[0]]) < 0.1
        assert abs(seg.end - (STARTS[pieces[-1]] + PIECE_S)) < 0.5
    bad = whole.read.bad
    assert bad["implausible_timestamp"] == 2
    assert bad["timestamp_jump"] == 1
    assert whole.counters["segments_after_gaps"] == 2
    assert any("3 segments" in n for n in whole.notes)


def test_each_segment_replays_as_it_does_alone(stitched):
    work, whole, alone = stitched
    rows = _rows(work / "out" / "angles.csv")
    t = np.array([int(r["timestamp"]) for r in rows])
    episodes = _rows(work / "out" / "episodes.csv")
    for i, seg in enumerate(whole.segments):
        own = _rows(work / f"out{i}" / "angles.csv")
        lo, hi = int(own[0]["timestamp"]), int(own[-1]["timestamp"])
        inside = [r for r, s in zip(rows, t, strict=True) if lo <= s <= hi]
        assert len(inside) == len(own) > 0.95 * PIECE_S * len(SEGMENTS[i])
        same = sum(a == b for a, b in zip(inside, own, strict=True))  # posture and every angle
        assert same == len(own), f"segment {i + 1}: {len(own) - same} seconds differ"
        mine = [(e["kind"], e["start"], e["end"]) for e in episodes
                if seg.start - 1 <= float(e["start"]) <= seg.end + 1]
        theirs = [(e["kind"], e["start"], e["end"]) for e in _rows(work / f"out{i}" / "episodes.csv")]
        assert mine == theirs
    assert sum(alone[i].tally.alerts for i in range(3)) == whole.tally.alerts


def test_no_episode_spans_a_gap(stitched):
    work, whole, _ = stitched
    episodes = _rows(work / "out" / "episodes.csv")
    assert len(episodes) >= 5
    for e in episodes:
        start, end = float(e["start"]), float(e["end"])
        assert any(s.start - 1 <= start and end <= s.end + 1 for s in whole.segments), e


def test_times_are_given_in_unix_seconds_and_local_iso(stitched):
    work, _, _ = stitched
    for name, unix, local in (("angles", "timestamp", "local_time"), ("episodes", "start", "start_local"),
                              ("alerts", "ts", "local_time")):
        rows = _rows(work / "out" / f"{name}.csv")
        assert rows, name
        for r in rows[:: max(1, len(rows) // 50)]:
            when = datetime.fromisoformat(r[local])
            assert when.utcoffset() is not None
            assert abs(when.timestamp() - np.floor(float(r[unix]))) < 1.0


def test_two_days_give_two_reports(tmp_path):
    starts = [T0, T0 + DAY]  # 10:46 Berlin time on two days
    _write(tmp_path / "two.csv", _pieces(starts))
    out = tmp_path / "out"
    cli = [sys.executable, "-m", "posturewatch.app.cli"]
    run = subprocess.run([*cli, "replay", tmp_path / "two.csv", "--out", out, "--tz", "Europe/Berlin"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    days = replay_days(out)
    assert days == ["2026-03-20", "2026-03-21"]
    daily = {r["day"]: r for r in _rows(out / "daily.csv")}
    assert sorted(daily) == days
    latest = subprocess.run([*cli, "report", "--replay", out, "--tz", "Europe/Berlin"],
                            capture_output=True, text=True, timeout=300)
    assert latest.returncode == 0, latest.stderr
    assert "on 2026-03-21" in latest.stdout
    assert "2026-03-20 (choose with --day)" in latest.stderr
    for day in days:
        run = subprocess.run([*cli, "report", "--replay", out, "--day", day, "--tz", "Europe/Berlin"],
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
        assert f"on {day}" in run.stdout
        html = Path(run.stdout.split("wrote ")[1].split()[0])
        assert html.is_file() and html.stat().st_size > 1000
        data = load_replay(out, day, "Europe/Berlin")
        assert abs(len(data.t) - PIECE_S) <= 2
        sitting = float(np.sum(data.posture == int(Posture.SITTING)))
        assert abs(sitting - float(daily[day]["sitting_s"])) <= 5  # 1 Hz mode vs 10 Hz frames
    missing = subprocess.run([*cli, "report", "--replay", out, "--day", "2026-03-22"],
                             capture_output=True, text=True, timeout=300)
    assert missing.returncode == 1
    assert "2026-03-20, 2026-03-21" in missing.stderr

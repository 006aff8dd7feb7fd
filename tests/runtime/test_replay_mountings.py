"""Slips followed while still reach the replay's files, its summary and the day's report.

The scripted morning of ``simulators.scripted.still_slips`` (the pelvis and the thorax sensors each
slip once while seated and once while standing) is replayed to a folder: ``mountings.csv`` lists
each correction with its time (whole recording and the day's folder), the summary notes name them,
and ``report --replay`` shows them in its "Your sensors" table. Run live (monitor → hub → embedded
store) the same corrections are kept in the store, and the store-based ``report`` shows them too.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from recording_chunks import recording_chunks

from posturewatch.alerts.monitor import Monitor
from posturewatch.app import cli
from posturewatch.app.report_data import STORE_FILE
from posturewatch.runtime.config import Config
from posturewatch.runtime.replay import replay_to_folder
from posturewatch.simulators.config import WearerConfig
from posturewatch.simulators.scripted import STILL_SLIPS_HOURS, still_slips
from posturewatch.simulators.wearer import simulate
from posturewatch.store.hub import OutputHub
from posturewatch.store.outbox import Outbox
from posturewatch.store.sqlite import SqliteStore

pytestmark = pytest.mark.slow  # 25 min of three sensors replayed and run live (~25 s)


@pytest.fixture(scope="module")
def recording():
    config = WearerConfig(hours=STILL_SLIPS_HOURS, seed=4, rate=25.0).with_realism(slip=False)
    plan, specs, slips = still_slips(config)
    return simulate(config, plan=plan, specs=specs), slips


@pytest.fixture(scope="module")
def replayed(recording, tmp_path_factory):
    day, slips = recording
    out = tmp_path_factory.mktemp("replay")
    run = replay_to_folder(day.blocks, out, Config())
    return out, run, slips


@pytest.fixture(scope="module")
def stored(recording, tmp_path_factory):
    """The recording live through monitor → hub into the embedded store, in 10 s chunks."""
    day, slips = recording
    folder = tmp_path_factory.mktemp("store")
    store = SqliteStore(folder / STORE_FILE)
    monitor = Monitor()
    hub = OutputHub("ann", Outbox(folder / "outbox.db"), mqtt=False, influx=False, sqlite=store)
    for part in recording_chunks(day.blocks, 10.0):
        hub.process(monitor.push(part))
    hub.process(monitor.close())
    hub.finish()
    store.close()
    return folder, monitor.pipeline.calibration_log, slips


def test_mountings_csv_lists_each_slip_with_its_time(replayed):
    out, run, slips = replayed
    rows = list(csv.DictReader((out / "mountings.csv").open()))
    steps = [r for r in rows if "a step while" in r["note"]]
    print("\n".join(f"{r['local_time']} {r['note']}" for r in rows))
    assert [(r["location"]) for r in steps] == [loc for loc, _, _ in slips]
    for r, (_, at, _) in zip(steps, slips, strict=True):
        assert abs(float(r["timestamp"]) - at) <= 2.0 and r["local_time"].startswith("2026-01-05T")
    (day_dir,) = (out / "days").iterdir()
    assert list(csv.DictReader((day_dir / "mountings.csv").open())) == rows
    assert sum("a step while" in n for n in run.notes) == 4  # the summary's notes
    assert run.counters["pelvis_slips"] == 2 and run.counters["thorax_slips"] == 2


def test_the_report_shows_the_corrections(replayed, tmp_path: Path, capsys):
    out, _, _ = replayed
    assert cli.main(["report", "--replay", str(out), "--out", str(tmp_path)]) == 0
    html = Path(re.search(r"wrote (\S+\.html)", capsys.readouterr().out).group(1)).read_text()
    assert "Your sensors" in html
    assert html.count("a step while") == 4 and "pelvis: sensor moved by" in html


def test_the_store_keeps_each_correction_and_its_report_shows_them(stored, tmp_path: Path, capsys):
    folder, log, slips = stored
    store = SqliteStore(folder / STORE_FILE)
    try:
        rows = store.mountings_on("ann", "2026-01-05")
    finally:
        store.close()
    assert rows == [(float(ts), note) for ts, note in log]  # every note, once, in time order
    steps = [(ts, note) for ts, note in rows if "a step while" in note]
    assert [note.split(":")[0] for _, note in steps] == [loc for loc, _, _ in slips]
    for (ts, _), (_, at, _) in zip(steps, slips, strict=True):
        assert abs(ts - at) <= 2.0
    assert cli.main(["report", "--data-dir", str(folder), "--out", str(tmp_path)]) == 0
    html = Path(re.search(r"wrote (\S+\.html)", capsys.readouterr().out).group(1)).read_text()
    assert "Your sensors" in html and html.count("a step while") == len(slips)

"""Slips followed while still reach the replay's files, its summary and the day's report.

The scripted morning of ``simulators.scripted.still_slips`` (the pelvis and the thorax sensors each
slip once while seated and once while standing) is replayed to a folder: ``mountings.csv`` lists
each correction with its time (whole recording and the day's folder), the summary notes name them,
and ``report --replay`` shows them in its "Your sensors" table.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from posturewatch.app import cli
from posturewatch.runtime.config import Config
from posturewatch.runtime.replay import replay_to_folder
from posturewatch.simulators.config import WearerConfig
from posturewatch.simulators.scripted import STILL_SLIPS_HOURS, still_slips
from posturewatch.simulators.wearer import simulate

pytestmark = pytest.mark.slow  # 25 min of three sensors replayed (~15 s)


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    config = WearerConfig(hours=STILL_SLIPS_HOURS, seed=4, rate=25.0).with_realism(slip=False)
    plan, specs, slips = still_slips(config)
    day = simulate(config, plan=plan, specs=specs)
    out = tmp_path_factory.mktemp("replay")
    run = replay_to_folder(day.blocks, out, Config())
    return out, run, slips


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

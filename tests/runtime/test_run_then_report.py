"""`run --emulate` then `report --config` on the same config: the report finds what the daemon
stored, and its numbers are the store's.

A private HOME (no XDG variables): the daemon writes the user's folder under
~/.local/share/posturewatch/<user>/, the report reads the same folder through the config.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from posturewatch.analytics.report_stats import hm

CONFIG = """
user = "alice"
[[sensors]]
location = "pelvis"
family = "pwrp"
address = "AA:00:00:00:00:01"
[[sensors]]
location = "thigh"
family = "movesense"
address = "AA:00:00:00:00:02"
[[sensors]]
location = "thorax"
family = "pwrp"
address = "AA:00:00:00:00:03"
[alerts]
timezone = "UTC"
"""


def _cli(home: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    env["HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "posturewatch.app.cli", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_report_config_after_run_config_reads_the_same_store(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    cfg = tmp_path / "alice.toml"
    cfg.write_text(CONFIG)
    run = _cli(home, "run", "--config", str(cfg), "--emulate", "--duration", "60", "--quiet")
    assert run.returncode == 0, run.stderr
    folder = home / ".local" / "share" / "posturewatch" / "alice"
    assert f"data: {folder}" in run.stdout
    store = folder / "store.db"
    assert store.exists() and (folder / "outbox.db").exists()

    report = _cli(home, "report", "--config", str(cfg))
    assert report.returncode == 0, report.stderr
    with sqlite3.connect(store) as db:
        seconds = db.execute("SELECT COUNT(*) FROM angles WHERE user = 'alice'").fetchone()[0]
        sitting = db.execute("SELECT COUNT(*) FROM angles WHERE user = 'alice' AND posture = 'sitting'"
                             ).fetchone()[0]
        episodes = db.execute("SELECT COUNT(*) FROM episodes WHERE user = 'alice'").fetchone()[0]
        alerts = db.execute("SELECT COUNT(*) FROM alerts WHERE user = 'alice'").fetchone()[0]
        summary = dict(db.execute("SELECT name, value FROM daily_summary WHERE user = 'alice'"))
    # a minute of wall time, less the posture delay: the store holds the analysed seconds
    assert 25 <= seconds <= 60
    match = re.search(r"alice on (\S+): sitting ([\d.]+) h of ([\d.]+) h, (\d+) episodes, (\d+) alerts",
                      report.stdout)
    assert match, report.stdout
    assert float(match.group(2)) == pytest.approx(sitting / 3600, abs=0.051)
    assert float(match.group(3)) == pytest.approx(seconds / 3600, abs=0.051)
    assert int(match.group(4)) == episodes and int(match.group(5)) == alerts
    # the day summary the daemon wrote on its way out counts the same seconds
    assert summary["monitored_min"] * 60 == pytest.approx(seconds, abs=2)
    html = Path(re.search(r"wrote (\S+\.html)", report.stdout).group(1))
    assert html.parent == folder / "reports" and html.stat().st_size > 10_000
    text = html.read_text()
    for key, value in (("Time monitored", hm(seconds)), ("Time sitting", hm(sitting))):
        tile = f'<div class="k">{key}</div><div class="v">{value}</div>'
        assert tile in text, (key, value)


def test_report_without_a_store_says_how_to_make_one(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    report = _cli(home, "report")
    assert report.returncode == 1
    assert "no embedded store" in report.stderr and "posturewatch demo" in report.stderr
    assert "Traceback" not in report.stderr

"""`posturewatch demo` as a user runs it: a subprocess, a real subscriber, a real signal.

The first test reads the embedded broker's port from the demo's first output line, subscribes
with paho, waits for alerts to arrive, then stops the demo with SIGINT and checks the clean
shutdown (exit 0, retained status ``offline``, report files, store rows). The second points
the demo at a private Mosquitto with ``--mqtt-url`` and lets a short day run to its end.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from servers import MqttCollector

from posturewatch.analytics.records import EPISODE_KINDS

pytestmark = pytest.mark.slow  # end to end over minutes of data; `-m 'not slow'` skips it

BROKER_LINE = re.compile(r"^broker: mqtt://127\.0\.0\.1:(\d+) .*mosquitto_sub -h 127\.0\.0\.1 -p (\d+)")
ALERTS = "posturewatch/demo/alerts"
STATUS = "posturewatch/demo/status"


def _demo(tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "posturewatch.app.cli", "demo", "--data-dir", str(tmp_path / "data"),
           "--seed", "1", "--start", "2026-03-02T08:00:00Z", *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)


class _Lines:
    """Collects a process's stdout lines on a thread (the pipe must never fill up)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def first(self, timeout: float = 30.0) -> str:
        with self._cond:
            assert self._cond.wait_for(lambda: self.lines, timeout), "demo printed nothing"
            return self.lines[0]

    def join(self) -> list[str]:
        self._thread.join(timeout=30)
        return self.lines


def _mosquitto_sub(port: int) -> subprocess.Popen[str] | None:
    """The Debian `mosquitto_sub` a user would run, waiting for one alert (None if not installed)."""
    exe = shutil.which("mosquitto_sub")
    if exe is None:
        assert os.environ.get("CI") != "true", "mosquitto_sub (Debian mosquitto-clients) is missing"
        return None
    return subprocess.Popen([exe, "-h", "127.0.0.1", "-p", str(port), "-t", ALERTS, "-C", "1", "-W", "120"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _alerts(collector: MqttCollector) -> list[dict]:
    return collector.json_on(ALERTS)


def test_demo_publishes_alerts_on_its_embedded_broker_and_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    proc = _demo(tmp_path, "--hours", "1", "--speed", "120")
    collector = None
    try:
        out = _Lines(proc)
        match = BROKER_LINE.match(out.first())
        assert match, f"first line does not name the broker: {out.lines[:1]}"
        port = int(match.group(1))
        assert match.group(2) == match.group(1)
        sub = _mosquitto_sub(port)
        collector = MqttCollector("127.0.0.1", port, ["posturewatch/#"])
        collector.wait_for(lambda msgs: any(t == ALERTS for t, _, _ in msgs), timeout=60)
        if sub is not None:
            printed, errors = sub.communicate(timeout=60)
            assert sub.returncode == 0, errors
            assert json.loads(printed.splitlines()[0])["kind"] in EPISODE_KINDS
        first = _alerts(collector)[0]
        assert first["v"] == 1 and first["kind"] in EPISODE_KINDS and first["title"] and first["id"]
        assert first["episode_id"] in first["id"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
        lines = out.join()
        collector.wait_for(lambda msgs: any(
            t == STATUS and json.loads(p).get("state") == "offline" for t, p, _ in msgs), timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if collector is not None:
            collector.close()
    text = "\n".join(lines)
    assert "stopped early" in text
    reports = [Path(line.split("report: ", 1)[1]) for line in lines if line.startswith("report: ")]
    assert {p.suffix for p in reports} == {".html", ".png"}
    for path in reports:
        assert path.exists() and path.stat().st_size > 10_000
        assert "2026-03-02" in path.name
    with sqlite3.connect(tmp_path / "data" / "store.db") as db:
        stored = dict(db.execute("SELECT id, ts FROM alerts WHERE user = 'demo'"))
        seconds = db.execute("SELECT COUNT(*) FROM angles WHERE user = 'demo'").fetchone()[0]
        summary = dict(db.execute("SELECT name, value FROM daily_summary WHERE user = 'demo'"))
    received = {a["id"] for a in _alerts(collector)}
    # what the broker carried was stored, and everything stored since the subscriber was there
    # reached it: the clean stop flushed the outbox
    assert received <= set(stored)
    since = min(stored[i] for i in received)
    assert {i for i, ts in stored.items() if ts >= since} == received
    assert seconds > 300
    assert summary["alerts"] == len(stored)


def test_demo_publishes_to_the_given_mqtt_url_and_stops_on_sigterm(tmp_path: Path, mosquitto_factory) -> None:
    broker = mosquitto_factory()
    collector = MqttCollector(broker.host, broker.port, ["posturewatch/demo/#"])
    proc = _demo(tmp_path, "--hours", "1", "--speed", "300", "--no-report",
                 "--mqtt-url", f"mqtt://{broker.host}:{broker.port}")
    try:
        out = _Lines(proc)
        collector.wait_for(lambda msgs: any(t == ALERTS for t, _, _ in msgs), timeout=60)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
        lines = out.join()
        summary = next(line for line in lines if line.startswith("episodes: "))
        n_alerts = int(summary.rsplit("alerts: ", 1)[1])
        # the subscriber was there before the demo started: it must get every alert, once each
        collector.wait_for(lambda msgs: len({json.loads(p)["id"] for t, p, _ in msgs if t == ALERTS})
                           >= n_alerts, timeout=20)
        collector.wait_for(lambda msgs: any(
            t == STATUS and json.loads(p).get("state") == "offline" for t, p, _ in msgs), timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        collector.close()
    assert len({a["id"] for a in _alerts(collector)}) == n_alerts >= 1
    assert lines[0].startswith(f"broker: mqtt://{broker.host}:{broker.port}")
    assert "embedded" not in lines[0]
    assert any("stopped early" in line for line in lines)
    assert not any("fell back" in line for line in lines)  # Mosquitto speaks v5: no fallback
    assert not any("still queued" in line for line in lines)
    angles = collector.json_on("posturewatch/demo/angles")
    seconds = [a["ts_ms"] // 1000 for a in angles]
    assert len(seconds) > 200 and len(set(seconds)) == len(seconds)  # 1 Hz, no duplicates
    assert max(seconds) - min(seconds) + 1 == len(seconds)  # and no gaps
    posture = collector.json_on("posturewatch/demo/posture")
    assert posture and posture[-1]["posture"] in {"sitting", "standing", "walking", "lying", "unknown"}

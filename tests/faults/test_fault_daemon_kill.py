"""A daemon SIGKILLed mid-stream and started again neither repeats nor loses a reminder.

Two daemons (children in virtual time, emulated sensors, the same simulated wearer and alert
settings with short limits so a 25-minute span holds a dozen reminders) publish to a private
Mosquitto: one runs straight through, the other kills itself with SIGKILL at +850 s while a
sitting bout is open and is started again on the same state folder 20 s later. The restarted
daemon restores the alert state, so its reminders carry the same ids as the uninterrupted
run's: none twice on the wearer's topic, none missing, none new; the embedded store holds
each once. Without the restore the open sitting bout would be reminded again as a new episode.
"""

from __future__ import annotations

import signal
import sqlite3

import pytest
from faultkit import alert_ids, duplicates, run_daemon, summary
from servers import MqttCollector

KILL_AT, RESTART_AT = 850.0, 870.0
END = 1500.0

pytestmark = pytest.mark.slow


def _store_ids(path, user: str) -> list[str]:
    with sqlite3.connect(path) as db:
        return [r[0] for r in db.execute("SELECT id FROM alerts WHERE user = ?", (user,))]


def test_killed_daemon_restores_alert_state(tmp_path, mosquitto):
    topics = [f"posturewatch/{u}/{k}" for u in ("straight", "restarted") for k in ("alerts", "status")]
    with MqttCollector(mosquitto.host, mosquitto.port, topics) as collector:
        straight = summary(run_daemon(mosquitto.port, tmp_path / "a", "straight", 0, END))
        killed = run_daemon(mosquitto.port, tmp_path / "b", "restarted", 0, END,
                            "--kill-at", str(1767600000.0 + KILL_AT))
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
        before = list(alert_ids(collector, "restarted"))
        again = summary(run_daemon(mosquitto.port, tmp_path / "b", "restarted", RESTART_AT, END))
        collector.wait_for(lambda m: sum(t.endswith("restarted/status") and b'"offline"' in p
                                         for t, p, _ in m) >= 2, 30)
        expected, got = alert_ids(collector, "straight"), alert_ids(collector, "restarted")
    print(f"straight: {len(expected)} alerts {straight}; killed after {len(before)}, "
          f"restarted {again}: {len(got)} alerts")
    print("straight ", sorted(expected))
    print("restarted", sorted(got))
    assert again["restored"] is True
    assert len(expected) >= 8 and 0 < len(before) < len(expected)
    assert not duplicates(expected)
    assert not duplicates(got), "a reminder went out twice"
    assert sorted(set(expected) - set(got)) == [], "reminders lost over the restart"
    assert sorted(set(got) - set(expected)) == [], "reminders invented by the restart"
    stored = _store_ids(tmp_path / "b" / "store.db", "restarted")
    assert sorted(stored) == sorted(got)

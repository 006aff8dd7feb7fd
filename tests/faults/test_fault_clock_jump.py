"""The gateway's host clock jumps by an hour mid-stream (NTP after a long sleep, a hand-set clock).

The daemon child runs in virtual time and reads a host clock that jumps by ``JUMP_S`` (either
way) at +300 s. What must hold either way: the daemon goes on (exit 0), every alert reaches the
wearer's topic once and the embedded store holds the same ones, once each, and every second
the sensors delivered is stored. A forward jump is followed (the stamps jump an hour ahead: a
gap, no overlap); a backward one is counted and held (the stamps keep their steady course, an
hour ahead of the wall clock), so no sample is stamped over one already processed.
"""

from __future__ import annotations

import sqlite3

import pytest
from faultkit import DAY_START, alert_ids, duplicates, run_daemon, summary
from servers import MqttCollector

JUMP_AT, END = 300.0, 600.0

pytestmark = pytest.mark.slow


def _run(tmp_path, mosquitto, jump: float, user: str):
    topics = [f"posturewatch/{user}/alerts", f"posturewatch/{user}/status"]
    with MqttCollector(mosquitto.host, mosquitto.port, topics) as collector:
        result = summary(run_daemon(mosquitto.port, tmp_path, user, 0, END,
                                    f"--clock-jump={jump}@{DAY_START + JUMP_AT}"))
        collector.wait_for(lambda m: any(t.endswith("/status") and b'"offline"' in p
                                         for t, p, _ in m), 30)
        ids = alert_ids(collector, user)
    with sqlite3.connect(tmp_path / "store.db") as db:
        stored = [r[0] for r in db.execute("SELECT id FROM alerts")]
        seconds = db.execute("SELECT COUNT(*) FROM angles WHERE pelvic_tilt IS NOT NULL").fetchone()[0]
    print(f"jump {jump:+.0f} s: {result}; {len(ids)} alerts, {seconds} s of angles stored")
    return ids, stored, seconds, result


@pytest.mark.parametrize("jump", [3600.0, -3600.0])
def test_a_clock_jump_neither_crashes_nor_doubles_alerts(tmp_path, mosquitto, jump):
    ids, stored, _, _ = _run(tmp_path, mosquitto, jump, f"jump{int(jump)}".replace("-", "m"))
    assert not duplicates(ids)
    assert sorted(stored) == sorted(ids)


def test_a_forward_jump_keeps_every_second(tmp_path, mosquitto):
    _, _, seconds, result = _run(tmp_path, mosquitto, 3600.0, "jumpfwd")
    assert seconds >= 0.97 * END
    assert (result["clock_steps_forward"], result["clock_steps_back"]) == (1, 0)


def test_a_backward_jump_keeps_every_second(tmp_path, mosquitto):
    _, _, seconds, result = _run(tmp_path, mosquitto, -3600.0, "jumpback")
    assert seconds >= 0.97 * END
    assert (result["clock_steps_forward"], result["clock_steps_back"]) == (0, 1)
    assert result["clock_lead_s"] >= 3599.0  # the stamps held their course, an hour ahead

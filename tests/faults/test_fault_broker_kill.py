"""The broker SIGKILLed under load and started again (persistence on): what it saved is not lost.

A gateway's outbox streams alerts (QoS 1, through its MQTT pump) to a private Mosquitto that
saves its persistence on every change; two subscribers with persistent sessions read the
wearer's topic: the phone (a plain client) and a sink worker writing to VictoriaMetrics.
Mid-stream the broker is killed with SIGKILL and started again on the same port after the
outage. The outbox keeps what the broker did not acknowledge; the broker keeps what it
acknowledged and had saved. Every alert reaches the phone and the outbox ends empty; the sink
may miss the one or two alerts the broker took in at the very instant of the kill (it
acknowledges before it saves), and the test names them.

MQTT delivery is at-least-once (QoS 1), and two things can put a second copy of an alert on
the wearer's topic; the phone (a v5-capable client) tells them apart by the DUP flag:

* the daemon publishing it again. Only its outbox pump re-sends (from the oldest item no PUBACK
  came back for, on the new connection); the link drops those messages from paho's own queue,
  which would resend them as well. Left: a message the broker accepted and passed on whose PUBACK
  died with it (inherent to QoS 1), or one its last snapshot still had queued for the phone
  (DUP clear too). Measured: 0-11 copies in a run, none in most.
* the broker sending it again itself (DUP set). Mosquitto's persistence is a snapshot: what the
  phone acknowledged after the last save is still unacknowledged in the restored session and
  comes again, about its in-flight window (Mosquitto's ``max_inflight_messages``, 20). Measured:
  12–21 of 3000 at this 1 kHz load. A phone that must notify once keeps the ids it showed.

Where exactly-once is ours to keep it holds: the database holds each alert once (the sink skips
copies of ids it stored and counts them; the database runs *without* deduplication here, so a
second write would show), and the wearer's alert list is built by id (the web app's live list
and the stored one).
"""

from __future__ import annotations

import threading
import time

import pytest
from faultkit import duplicates, phone_copies, scale, sigkill
from servers import MosquittoServer, MqttCollector, wait_until

from posturewatch.alerts.mqtt.link import MqttLink, MqttSettings
from posturewatch.alerts.mqtt.payloads import alert_payload, encode
from posturewatch.alerts.records import Alert
from posturewatch.store.influx import InfluxSettings
from posturewatch.store.outbox import EVENT, Outbox
from posturewatch.store.pumps import MqttPump
from posturewatch.store.sink import SinkWorker

USER = "brokerkill"
TOPIC = f"posturewatch/{USER}/alerts"
T0 = 1767600000.0
PERSIST = "autosave_interval 1\nautosave_on_changes true\n"
MOSQUITTO_INFLIGHT = 20  # Mosquitto's max_inflight_messages: about what it resends a subscriber

pytestmark = pytest.mark.slow


def alert(i: int) -> bytes:
    ts = T0 + i  # a second apart: distinct points in the database
    return encode(alert_payload(Alert(f"alert-{i}", "posterior_tilt", "Pelvis", "Sit up", "warning",
                                      ts, f"ep-{i}", ts - 30.0)))


def stored_alerts(db) -> list[int]:
    return [ts for s in db.export(f'alerts_severity_code{{user="{USER}"}}') for ts in s["timestamps"]]


def test_broker_sigkilled_under_load_loses_nothing(tmp_path, victoria_factory):
    n, outage = int(3000 * scale()), 2.0 * scale()
    broker = MosquittoServer(tmp_path / "mosquitto", extra_config=PERSIST)
    broker.start()
    db = victoria_factory(dedup=False)  # a doubled write would show as two samples
    outbox = Outbox(tmp_path / "outbox.db", synchronous="NORMAL")
    link = MqttLink(MqttSettings(host=broker.host, port=broker.port))
    pump = MqttPump(outbox, link)
    collector = MqttCollector(broker.host, broker.port, [TOPIC], client_id="phone", clean=False)
    # one worker on a plain persistent subscription, which Mosquitto restores after a restart
    # (a shared one it does not: test_fault_broker_restart.py covers the shared group)
    sink = SinkWorker(MqttSettings(host=broker.host, port=broker.port, client_id="sink-bk-0"),
                      InfluxSettings(url=db.url, timeout_s=2), group="", backoff_max_s=0.5)
    try:
        assert sink.start(wait_s=10)
        assert link.start(wait_s=10)
        pump.start()
        killed = threading.Event()
        killed_at: list[int] = []

        def kill_midway() -> None:
            wait_until(lambda: len(collector.json_on(TOPIC)) >= n // 3, 60, "a third delivered")
            killed_at.append(len(collector.json_on(TOPIC)))
            sigkill(broker)
            killed.set()
            time.sleep(outage)
            broker.start()

        killer = threading.Thread(target=kill_midway)
        killer.start()
        for i in range(n):  # 1 kHz of alerts: far more than a gateway makes, to load the broker
            outbox.put("mqtt", alert(i),
                       meta={"topic": TOPIC, "qos": 1, "retain": False}, priority=EVENT)
            time.sleep(0.001)
        killer.join(120)
        assert killed.is_set()
        assert pump.wait_drained(120)
        wait_until(lambda: len({m["id"] for m in collector.json_on(TOPIC)}) >= n, 60,
                   "every alert at the subscriber")
        # Mosquitto writes its persistence after it has acknowledged: a message it took in the
        # instant of the kill can be gone from a session it had not saved yet (measured: one
        # alert in about half the runs under load, the one in flight at the kill). So the wait
        # allows that much, and the asserts below say exactly which alerts may be missing.
        wait_until(lambda: sink.received["alerts"] - sink.duplicates >= n - pump.window
                   and sink.wait_idle(0.1), 60, "every alert stored but the kill's in-flight window")
        settle = time.monotonic() + 5.0  # the rest, if the broker kept them, comes soon after
        while sink.received["alerts"] - sink.duplicates < n and time.monotonic() < settle:
            time.sleep(0.05)
        time.sleep(1.0)  # late redeliveries would show as duplicates
        ids = [m["id"] for m in collector.json_on(TOPIC)]
        on_phone = phone_copies(collector, TOPIC)
        stored = stored_alerts(db)
    finally:
        sink.stop()
        collector.close()
        pump.stop()
        link.stop()
        broker.stop()
    doubled = duplicates(ids)
    print(f"{n} alerts, broker down {outage:.1f} s; phone: {len(ids)} received, {len(doubled)} twice "
          f"({on_phone['published twice']} accepted twice by the broker, "
          f"{on_phone['redelivered by the broker']} redelivered by it); "
          f"sink: {sink.delivered} received, {sink.duplicates} copies skipped; "
          f"database: {len(stored)} alerts, {len(stored) - len(set(stored))} twice")
    assert sorted(set(ids)) == sorted(f"alert-{i}" for i in range(n))
    assert len(stored) == len(set(stored))  # each alert at most once
    missing = sorted(set(range(n)) - {round(ts / 1000 - T0) for ts in stored})
    print(f"the sink stored {n - len(missing)} of {n}; lost in the broker's unsaved state: {missing} "
          f"(the broker was killed around alert {killed_at[0]})")
    # what may be missing: alerts the broker took in at the kill (the phone got them, so the
    # broker had accepted them), none from before or after the outage
    assert len(missing) <= 2, missing
    assert all(abs(i - killed_at[0]) <= pump.window for i in missing), (missing, killed_at)
    assert sink.stats["bad"] == sink.stats["rejected"] == 0
    print("twice:", sorted(doubled, key=lambda i: int(i.split("-")[1])))
    # copies with DUP clear: the daemon's resend of what no PUBACK came back for, or what the
    # broker's last snapshot still had queued for the phone; the two cannot be told apart here
    # (0-11 in 12 runs under load). The double resend this guards against (ours and paho's)
    # doubled at least the whole window every time.
    assert on_phone["published twice"] < pump.window, on_phone
    assert on_phone["redelivered by the broker"] <= 2 * MOSQUITTO_INFLIGHT, on_phone
    assert outbox.pending() == 0
    outbox.close()

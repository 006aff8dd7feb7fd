"""The broker SIGKILLed under load and started again (persistence on): nothing accepted is lost.

A gateway's outbox streams alerts (QoS 1, through its MQTT pump) to a private Mosquitto that
saves its persistence on every change; two subscribers with persistent sessions read the
wearer's topic: the phone (a plain client) and a sink worker writing to VictoriaMetrics.
Mid-stream the broker is killed with SIGKILL and started again on the same port after the
outage. The outbox keeps what the broker did not acknowledge; the broker keeps what it
acknowledged and had not delivered yet. Every alert reaches both and the outbox ends empty.

MQTT delivery is at-least-once (QoS 1): the alerts in flight when the broker died (the pump's
window, and what the MQTT client had queued), delivered but not acknowledged back, are sent
again under the same ids. Where exactly-once matters it holds: the database holds each alert
once (the sink skips copies of ids it stored and counts them; the database runs *without*
deduplication here, so a second write would show), and the wearer's alert list is built by id
(the web app's live list and the stored one). The copies the phone received are printed.
"""

from __future__ import annotations

import threading
import time

import pytest
from faultkit import duplicates, scale, sigkill
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

        def kill_midway() -> None:
            wait_until(lambda: len(collector.json_on(TOPIC)) >= n // 3, 60, "a third delivered")
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
        wait_until(lambda: sink.received["alerts"] - sink.duplicates >= n and sink.wait_idle(0.1), 60,
                   "every alert stored")
        time.sleep(1.0)  # late redeliveries would show as duplicates
        ids = [m["id"] for m in collector.json_on(TOPIC)]
        stored = stored_alerts(db)
    finally:
        sink.stop()
        collector.close()
        pump.stop()
        link.stop()
        broker.stop()
    doubled = duplicates(ids)
    print(f"{n} alerts, broker down {outage:.1f} s; phone: {len(ids)} received, {len(doubled)} twice; "
          f"sink: {sink.delivered} received, {sink.duplicates} copies skipped; "
          f"database: {len(stored)} alerts, {len(stored) - len(set(stored))} twice")
    assert sorted(set(ids)) == sorted(f"alert-{i}" for i in range(n))
    assert sorted(stored) == [round((T0 + i) * 1000) for i in range(n)]  # each alert once
    assert sink.stats["bad"] == sink.stats["rejected"] == 0
    print("redelivered:", sorted(doubled.items(), key=lambda kv: int(kv[0].split("-")[1])))
    assert sum(doubled.values()) - len(doubled) <= 3 * pump.window, doubled
    assert outbox.pending() == 0
    outbox.close()

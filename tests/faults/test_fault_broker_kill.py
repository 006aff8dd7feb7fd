"""The broker SIGKILLed under load and started again (persistence on): nothing accepted is lost.

A gateway's outbox streams alerts (QoS 1, through its MQTT pump) to a private Mosquitto that
saves its persistence on every change; a subscriber with a persistent session (the phone, or a
sink) reads the wearer's topic. Mid-stream the broker is killed with SIGKILL and started again
on the same port after ``OUTAGE_S``. The outbox keeps what the broker did not acknowledge; the
broker keeps what it acknowledged and had not delivered yet. Every alert reaches the
subscriber and the outbox ends empty.

Delivery is at-least-once (QoS 1): the alerts in flight when the broker died (the pump's
window, and what the MQTT client had queued), delivered but not acknowledged back, are sent
again under the same ids, so a receiver that keys by id (the sink's idempotent writes, the
phone's notification id) shows each once. Measured: 17-24 of 3000 twice, all around the kill.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest
from faultkit import duplicates, scale
from servers import MosquittoServer, MqttCollector, wait_until

from posturewatch.alerts.mqtt.link import MqttLink, MqttSettings
from posturewatch.store.outbox import EVENT, Outbox
from posturewatch.store.pumps import MqttPump

TOPIC = "posturewatch/brokerkill/alerts"
PERSIST = "autosave_interval 1\nautosave_on_changes true\n"

pytestmark = pytest.mark.slow


def sigkill(server: MosquittoServer) -> None:
    os.kill(server.pid, signal.SIGKILL)
    server._proc.wait(10)
    server.stop()  # reaps the dead process and waits for the port to be free


def test_broker_sigkilled_under_load_loses_nothing(tmp_path):
    n, outage = int(3000 * scale()), 2.0 * scale()
    broker = MosquittoServer(tmp_path / "mosquitto", extra_config=PERSIST)
    broker.start()
    outbox = Outbox(tmp_path / "outbox.db", synchronous="NORMAL")
    link = MqttLink(MqttSettings(host=broker.host, port=broker.port))
    pump = MqttPump(outbox, link)
    collector = MqttCollector(broker.host, broker.port, [TOPIC], client_id="phone", clean=False)
    try:
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
            outbox.put("mqtt", json.dumps({"id": f"alert-{i}"}),
                       meta={"topic": TOPIC, "qos": 1, "retain": False}, priority=EVENT)
            time.sleep(0.001)
        killer.join(120)
        assert killed.is_set()
        assert pump.wait_drained(120)
        wait_until(lambda: len({m["id"] for m in collector.json_on(TOPIC)}) >= n, 60,
                   "every alert at the subscriber")
        time.sleep(1.0)  # late redeliveries would show as duplicates
        ids = [m["id"] for m in collector.json_on(TOPIC)]
    finally:
        collector.close()
        pump.stop()
        link.stop()
        broker.stop()
    doubled = duplicates(ids)
    print(f"{n} alerts, broker down {outage:.1f} s; {len(ids)} received, {len(doubled)} twice")
    assert sorted(set(ids)) == sorted(f"alert-{i}" for i in range(n))
    print("redelivered:", sorted(doubled.items(), key=lambda kv: int(kv[0].split("-")[1])))
    assert sum(doubled.values()) - len(doubled) <= 3 * pump.window, doubled
    assert outbox.pending() == 0
    outbox.close()

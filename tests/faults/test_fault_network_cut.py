"""A gateway cut off from its broker for ``CUT_S`` (network namespace + veth, link down).

Mosquitto runs inside a namespace made by the test (``ip netns exec``), reachable only over a
veth pair whose gateway end stays here. The gateway's outbox streams alerts through its MQTT
pump; the phone (a persistent-session subscriber) listens over the same link. Mid-stream the
gateway's end of the link goes down for ``CUT_S`` and comes back. While cut the alerts wait in
the outbox; afterwards every one reaches the phone, none lost, at most the pump's window of
them twice under the same id (QoS 1), and the outbox ends empty. The namespace and the veth
pair are removed whatever happens.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from faultkit import duplicates, scale
from netns import BrokerNamespace, require_netns
from servers import MOSQUITTO_BIN, MqttCollector, port_open, require_binary, wait_until

from posturewatch.alerts.mqtt.link import MqttLink, MqttSettings
from posturewatch.store.outbox import EVENT, Outbox
from posturewatch.store.pumps import MqttPump

TOPIC = "posturewatch/netcut/alerts"
PORT = 1883

pytestmark = pytest.mark.slow


def test_gateway_cut_off_from_its_broker_loses_nothing(tmp_path):
    require_netns()
    binary = require_binary(MOSQUITTO_BIN, "mosquitto")
    n, cut_s = int(600 * scale()), 5.0 * scale()
    with BrokerNamespace() as net:
        conf = tmp_path / "mosquitto.conf"
        conf.write_text(f"listener {PORT} {net.broker_ip}\nallow_anonymous true\n"
                        f"persistence true\npersistence_location {tmp_path}/\nuser root\n"
                        "max_queued_messages 100000\n")
        log = open(tmp_path / "mosquitto.log", "wb")  # noqa: SIM115 - closed below
        broker = net.run([binary, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: port_open(net.broker_ip, PORT), 20, "mosquitto in the namespace")
            outbox = Outbox(tmp_path / "outbox.db", synchronous="NORMAL")
            link = MqttLink(MqttSettings(host=net.broker_ip, port=PORT, keepalive_s=2))
            pump = MqttPump(outbox, link)
            phone = MqttCollector(net.broker_ip, PORT, [TOPIC], client_id="phone", clean=False)
            try:
                assert link.start(wait_s=10)
                pump.start()
                cut_at, mend_at = n // 3, None
                for i in range(n):
                    if i == cut_at:
                        wait_until(lambda: len(phone.json_on(TOPIC)) >= cut_at - 20, 30, "before cut")
                        net.cut()
                        cut_started = time.monotonic()
                    if mend_at is None and i > cut_at and time.monotonic() - cut_started >= cut_s:
                        net.mend()
                        mend_at = i
                    outbox.put("mqtt", json.dumps({"id": f"alert-{i}"}),
                               meta={"topic": TOPIC, "qos": 1, "retain": False}, priority=EVENT)
                    time.sleep(0.02)
                if mend_at is None:
                    time.sleep(max(0.0, cut_s - (time.monotonic() - cut_started)))
                    net.mend()
                assert pump.wait_drained(120), f"{outbox.pending()} still in the outbox"
                wait_until(lambda: len({m["id"] for m in phone.json_on(TOPIC)}) >= n, 120,
                           "every alert at the phone")
                time.sleep(1.0)
                ids = [m["id"] for m in phone.json_on(TOPIC)]
            finally:
                phone.close()
                pump.stop()
                link.stop()
        finally:
            broker.terminate()
            broker.wait(10)
            log.close()
    doubled = duplicates(ids)
    print(f"{n} alerts, link down {cut_s:.1f} s; {len(ids)} received, {len(doubled)} twice")
    assert sorted(set(ids)) == sorted(f"alert-{i}" for i in range(n))
    assert len(doubled) <= pump.window
    assert outbox.pending() == 0
    outbox.close()

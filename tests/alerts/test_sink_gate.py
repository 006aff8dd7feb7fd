"""The sink gate on a real broker: a daemon's outbox waits for a sink worker, then flows."""

from __future__ import annotations

import time

from servers import MqttCollector, wait_until

from posturewatch.alerts.mqtt.link import MqttLink, MqttSettings
from posturewatch.alerts.mqtt.payloads import Topics
from posturewatch.alerts.mqtt.sinkgate import SinkGate
from posturewatch.store.influx import InfluxSettings
from posturewatch.store.outbox import EVENT, Outbox
from posturewatch.store.pumps import MqttPump
from posturewatch.store.sink import SinkWorker


def test_the_outbox_waits_for_a_sink_then_flows(tmp_path, mosquitto, victoria):
    topics = Topics("gatewait")
    outbox = Outbox(tmp_path / "outbox.db")
    for _ in range(20):
        outbox.put("mqtt", b'{"v":1}', meta={"topic": topics.alerts, "qos": 1}, priority=EVENT)
    link = MqttLink(MqttSettings(host=mosquitto.host, port=mosquitto.port,
                                 subscriptions=((topics.sink_ready, 0),)),
                    on_message=lambda topic, payload: gate.answer(payload))
    gate = SinkGate(link, topics, interval_s=0.2)
    pump = MqttPump(outbox, link, gate=gate)
    sink = SinkWorker(MqttSettings(host=mosquitto.host, port=mosquitto.port, client_id="sink-gate-0"),
                      InfluxSettings(url=victoria.url, timeout_s=2), group="gatewait")
    with MqttCollector(mosquitto.host, mosquitto.port, [topics.alerts]) as phone:
        try:
            assert link.start(wait_s=10)
            pump.start()
            wait_until(lambda: gate.probes >= 3, 10, "probes with no sink to answer")
            time.sleep(0.3)
            assert not gate.is_open and outbox.pending() == 20 and not phone.messages
            assert sink.start(wait_s=10)
            assert pump.wait_drained(10)
            wait_until(lambda: len(phone.messages) == 20, 10, "the held alerts at the phone")
            assert gate.is_open and gate.opened == 1 and sink.probes_answered >= 1
            # the malformed test payloads reached the sink too, were counted and dropped
            wait_until(lambda: sink.stats["bad"] == 20, 10, "the sink saw every alert")
        finally:
            sink.stop()
            pump.stop()
            link.stop()
            outbox.close()

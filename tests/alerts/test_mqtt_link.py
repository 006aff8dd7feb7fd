"""MqttLink on real brokers: v5 on Mosquitto, clean fallback to 3.1.1 on amqtt."""

from __future__ import annotations

import pytest
from servers import MqttCollector

from posturewatch.alerts.mqtt.link import MqttLink, MqttSettings


def test_v5_on_mosquitto_and_acks_reported(mosquitto):
    acked: list[int] = []
    link = MqttLink(MqttSettings(host=mosquitto.host, port=mosquitto.port))
    link.add_ack_listener(acked.append)
    assert link.start(wait_s=10)
    try:
        assert link.protocol_version == 5 and not link.fell_back
        sub = MqttCollector(mosquitto.host, mosquitto.port, ["linktest/#"], protocol="5")
        mids = [link.publish_raw("linktest/x", b"%d" % i, qos=1, expiry_s=60) for i in range(5)]
        sub.wait_for(lambda m: len(m) == 5)
        assert [p for _, p, _ in sub.messages] == [b"0", b"1", b"2", b"3", b"4"]
        sub.close()
        import time

        deadline = time.monotonic() + 5
        while set(mids) - set(acked) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert set(mids) <= set(acked)
    finally:
        link.stop()


def test_falls_back_to_311_when_broker_refuses_v5(amqtt_broker):
    link = MqttLink(MqttSettings(host=amqtt_broker.host, port=amqtt_broker.port, reconnect_min_s=0.5))
    assert link.start(wait_s=15), "no connection after fallback"
    try:
        assert link.fell_back and link.protocol_version == 4
        sub = MqttCollector(amqtt_broker.host, amqtt_broker.port, ["fb/#"])
        # a v5-only option degrades (dropped), the message still goes through
        assert link.publish_raw("fb/t", b"hello", qos=1, expiry_s=30) is not None
        sub.wait_for(lambda m: any(p == b"hello" for _, p, _ in m))
        sub.close()
    finally:
        link.stop()


def test_forced_v5_does_not_fall_back(amqtt_broker):
    link = MqttLink(MqttSettings(host=amqtt_broker.host, port=amqtt_broker.port, protocol="5"))
    try:
        assert not link.start(wait_s=2)
        assert not link.fell_back
    finally:
        link.stop()


def test_settings_reject_nonsense():
    with pytest.raises(ValueError, match="protocol"):
        MqttSettings(protocol="4")
    with pytest.raises(ValueError, match="client_id"):
        MqttSettings(clean_start=False)

"""The shipped deploy/mosquitto ACL on a real Mosquitto: one wearer cannot touch another's topics."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from servers import MqttCollector, require_binary

from posturewatch.alerts.mqtt.link import MqttLink, MqttSettings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto"
USERS = {"alice": "a-secret", "bob": "b-secret", "posturewatch-sink": "s-secret"}


@pytest.fixture
def secured_broker(mosquitto_factory, tmp_path):
    require_binary("/usr/bin/mosquitto_passwd", "mosquitto")  # make-passwd.sh runs it
    passwd = tmp_path / "passwd"
    users = "".join(f"{u}:{p}\n" for u, p in USERS.items())
    subprocess.run(
        ["sh", str(DEPLOY / "make-passwd.sh"), "-", str(passwd)], input=users.encode(), check=True
    )
    return mosquitto_factory(password_file=passwd, acl_file=DEPLOY / "acl")


def login(broker, user, topics, password=None, timeout=10.0):
    return MqttCollector(
        broker.host, broker.port, topics, username=user,
        password=USERS[user] if password is None else password, timeout=timeout,
    )


def settle(seconds: float = 0.5) -> None:
    time.sleep(seconds)  # absence of delivery can only be observed over a while


def test_user_cannot_read_or_write_another_users_topics(secured_broker):
    bob = login(secured_broker, "bob", ["posturewatch/bob/#"])
    alice_spy = login(secured_broker, "alice", ["posturewatch/bob/#", "posturewatch/+/alerts"])
    alice = MqttLink(MqttSettings(
        host=secured_broker.host, port=secured_broker.port, username="alice", password="a-secret"
    ))
    assert alice.start(wait_s=10)
    try:
        # alice writes into bob's tree: dropped by the broker
        alice.publish_raw("posturewatch/bob/cmd/snooze", b'{"minutes": 600}', qos=1)
        alice.publish_raw("posturewatch/bob/alerts", b'{"fake": 1}', qos=1)
        # bob's own traffic reaches bob (the path works) but never alice's spy subscriptions
        bob.client.publish("posturewatch/bob/alerts", b"bob-alert", qos=1).wait_for_publish(5)
        bob.wait_for(lambda m: any(p == b"bob-alert" for _, p, _ in m))
        settle()
        assert [p for _, p, _ in bob.messages] == [b"bob-alert"]
        assert alice_spy.messages == []
        # alice's own topics work for alice
        alice.publish_raw("posturewatch/alice/alerts", b"mine", qos=1)
        alice_spy.wait_for(lambda m: any(p == b"mine" for _, p, _ in m))
        assert {t for t, _, _ in alice_spy.messages} == {"posturewatch/alice/alerts"}
    finally:
        alice.stop()
        bob.close()
        alice_spy.close()


def test_sink_reads_all_wearers_but_cannot_write(secured_broker):
    sink = login(secured_broker, "posturewatch-sink", ["posturewatch/+/alerts"])
    alice = login(secured_broker, "alice", ["posturewatch/alice/#"])
    alice.client.publish("posturewatch/alice/alerts", b"a1", qos=1).wait_for_publish(5)
    sink.wait_for(lambda m: any(p == b"a1" for _, p, _ in m))
    sink.client.publish("posturewatch/alice/cmd/config", b"{}", qos=1).wait_for_publish(5)
    alice.client.publish("posturewatch/alice/status", b"marker", qos=1).wait_for_publish(5)
    alice.wait_for(lambda m: any(p == b"marker" for _, p, _ in m))
    settle()
    assert all(t != "posturewatch/alice/cmd/config" for t, _, _ in alice.messages)
    sink.close()
    alice.close()


def test_wrong_password_and_anonymous_are_refused(secured_broker):
    with pytest.raises(RuntimeError):
        login(secured_broker, "alice", ["posturewatch/alice/#"], password="wrong", timeout=1.5)
    link = MqttLink(MqttSettings(host=secured_broker.host, port=secured_broker.port))
    try:
        assert not link.start(wait_s=1.5)
    finally:
        link.stop()

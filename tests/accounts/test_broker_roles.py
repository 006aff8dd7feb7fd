"""The ACL `posturewatch users` writes, on a real Mosquitto, observed through real clients.

Absence of a delivery is observed with a marker: a subscriber that should NOT get message X also
subscribes to a topic it may read, and the publisher sends X first and then the marker on the
same connection; Mosquitto keeps one publisher's order towards one subscriber, so once the marker
is in, X would have been too.
"""

from __future__ import annotations

import uuid

import pytest
from servers import MqttCollector, require_binary

from posturewatch.accounts.mosquitto_files import MosquittoFiles
from posturewatch.accounts.registry import Account

PASSWORDS = {"alice": "pa", "bob": "pb", "sink-a": "ps", "drx": "pc"}
GROUP = "sinks"


@pytest.fixture
def broker(mosquitto_factory, tmp_path):
    files = MosquittoFiles(tmp_path / "accounts",
                           mosquitto_passwd=require_binary("/usr/bin/mosquitto_passwd", "mosquitto"))
    with files.editing() as registry:
        registry.add(Account("alice", "wearer"))
        registry.add(Account("bob", "wearer"))
        registry.add(Account("sink-a", "sink", group=GROUP))
        registry.add(Account("drx", "clinician", wearers=("alice",)))
        for name, password in PASSWORDS.items():
            files.set_password(name, password)
    return mosquitto_factory(password_file=files.password_path, acl_file=files.acl_path)


def client(broker, user, topics, cleanup, protocol="5") -> MqttCollector:
    c = MqttCollector(broker.host, broker.port, topics, username=user, password=PASSWORDS[user],
                      protocol=protocol, client_id=f"{user}-{uuid.uuid4().hex[:6]}")
    cleanup.callback(c.close)
    return c


def send(c: MqttCollector, topic: str, body: bytes) -> None:
    c.client.publish(topic, body, qos=1).wait_for_publish(5)


def payloads(c: MqttCollector) -> list[bytes]:
    return [p for _, p, _ in c.messages]


def until_marker(c: MqttCollector, marker: bytes) -> list[bytes]:
    c.wait_for(lambda m: any(p == marker for _, p, _ in m))
    return payloads(c)


def test_a_wearer_touches_only_their_own_topics(broker, cleanup):
    bob = client(broker, "bob", ["posturewatch/bob/#"], cleanup)
    # (no overlapping filters: MQTT 5 delivers a message once per matching subscription)
    spy = client(broker, "alice", ["posturewatch/bob/#", "posturewatch/+/status", "posturewatch/alice/#"],
                 cleanup)
    send(bob, "posturewatch/bob/alerts", b"bob-private")
    send(spy, "posturewatch/bob/cmd/snooze", b"alice-into-bob")  # dropped by the broker
    send(spy, "posturewatch/alice/alerts", b"alice-own")
    send(bob, "posturewatch/bob/status", b"bob-marker")
    assert until_marker(spy, b"alice-own") == [b"alice-own"]  # her own path works, bob's never
    assert until_marker(bob, b"bob-marker") == [b"bob-private", b"bob-marker"]


def test_the_sink_reads_data_through_its_shared_group_and_nothing_else(broker, cleanup):
    wearer = client(broker, "alice", ["posturewatch/alice/#"], cleanup)
    sink = client(broker, "sink-a", [
        f"$share/{GROUP}/posturewatch/+/angles",
        f"$share/{GROUP}/posturewatch/+/alerts",
        f"$share/{GROUP}/posturewatch/+/posture",  # not a data topic of the sink's
        f"$share/{GROUP}/posturewatch/+/cmd/#",
        f"$share/{GROUP}/homeassistant/#",
    ], cleanup)
    for topic, body in [
        ("posturewatch/alice/posture", b"posture"),
        ("posturewatch/alice/cmd/snooze", b"command"),
        ("homeassistant/sensor/posturewatch_alice/config", b"discovery"),
        ("posturewatch/alice/angles", b"angles"),
        ("posturewatch/alice/alerts", b"alert-marker"),
    ]:
        send(wearer, topic, body)
    assert until_marker(sink, b"alert-marker") == [b"angles", b"alert-marker"]
    # and it writes nothing: not into a wearer's commands, not into a wearer's data
    send(sink, "posturewatch/alice/cmd/config", b"sink-command")
    send(sink, "posturewatch/alice/angles", b"sink-forged")
    send(wearer, "posturewatch/alice/status", b"wearer-marker")
    seen = until_marker(wearer, b"wearer-marker")
    assert b"sink-command" not in seen and b"sink-forged" not in seen


def test_the_shared_group_splits_between_two_sink_logins(broker, cleanup):
    wearer = client(broker, "alice", ["posturewatch/alice/none"], cleanup)
    first = client(broker, "sink-a", [f"$share/{GROUP}/posturewatch/+/angles"], cleanup)
    second = client(broker, "sink-a", [f"$share/{GROUP}/posturewatch/+/angles"], cleanup)
    sent = [f"a{i}".encode() for i in range(20)]
    for body in sent:
        send(wearer, "posturewatch/alice/angles", body)
    first.wait_for(lambda m: len(m) + len(second.messages) >= len(sent))
    assert sorted(payloads(first) + payloads(second)) == sorted(sent)  # each once, none twice
    assert payloads(first) and payloads(second)


def test_a_clinician_reads_assigned_wearers_only(broker, cleanup):
    alice = client(broker, "alice", ["posturewatch/alice/none"], cleanup)
    bob = client(broker, "bob", ["posturewatch/bob/#"], cleanup)
    clinician = client(broker, "drx", ["posturewatch/#"], cleanup)
    send(bob, "posturewatch/bob/alerts", b"bob-alert")  # not assigned
    send(alice, "posturewatch/alice/cmd/snooze", b"alice-command")  # not a clinician topic
    send(alice, "posturewatch/alice/raw/thigh", b"alice-raw")
    send(alice, "posturewatch/alice/posture", b"alice-posture")
    send(alice, "posturewatch/alice/alerts", b"alice-alert")
    assert until_marker(clinician, b"alice-alert") == [b"alice-posture", b"alice-alert"]
    send(clinician, "posturewatch/bob/cmd/snooze", b"clinician-command")  # read-only role
    send(bob, "posturewatch/bob/status", b"bob-marker")
    assert b"clinician-command" not in until_marker(bob, b"bob-marker")


def test_wrong_password_and_anonymous_are_refused(broker):
    with pytest.raises(RuntimeError):
        MqttCollector(broker.host, broker.port, ["posturewatch/alice/#"], username="alice",
                      password="wrong", timeout=1.5)
    with pytest.raises(RuntimeError):
        MqttCollector(broker.host, broker.port, ["#"], timeout=1.5)

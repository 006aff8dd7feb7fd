"""A wearer's MQTT presence on a real Mosquitto: status + LWT, commands, HA discovery."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid

from servers import MqttCollector, wait_until

from posturewatch.alerts.mqtt.commands import CommandService
from posturewatch.alerts.mqtt.homeassistant import discovery_configs
from posturewatch.alerts.mqtt.link import MqttSettings
from posturewatch.alerts.mqtt.payloads import Topics
from posturewatch.alerts.mqtt.service import UserMqttService
from posturewatch.alerts.policy import AlertPolicy

NOW = 1_709_553_600.0


def make_service(broker, user: str, cleanup, **kw) -> UserMqttService:
    """A started service, closed at the end of the test (closing it earlier too is harmless)."""
    commands = CommandService(AlertPolicy(), clock=lambda: NOW, **kw)
    service = UserMqttService(
        MqttSettings(host=broker.host, port=broker.port), Topics(user), commands, clock=lambda: NOW
    )
    cleanup.callback(service.close)
    assert service.start(wait_s=10)
    return service


def collector(broker, topics: list[str], cleanup) -> MqttCollector:
    return cleanup.enter_context(MqttCollector(broker.host, broker.port, topics))


def check_stamp(payload: dict) -> None:
    assert payload["v"] == 1 and payload["ts"].endswith("Z") and isinstance(payload["ts_ms"], int)


def test_status_retained_online_then_offline_on_close(mosquitto, cleanup):
    user = f"s{uuid.uuid4().hex[:6]}"
    service = make_service(mosquitto, user, cleanup)
    service.publish_status({"pelvis": {"connected": True, "battery_pct": 80}})
    service.close()
    # a late subscriber sees the retained last word: offline, with the sensors
    late = collector(mosquitto, [f"posturewatch/{user}/status"], cleanup)
    (status,) = [json.loads(p) for _, p, _ in late.wait_for(lambda m: len(m) >= 1)]
    check_stamp(status)
    assert status["state"] == "offline" and status["sensors"]["pelvis"]["battery_pct"] == 80


def test_lwt_announces_offline_when_the_daemon_is_killed(mosquitto, cleanup):
    user = f"k{uuid.uuid4().hex[:6]}"
    topic = f"posturewatch/{user}/status"
    watcher = collector(mosquitto, [topic], cleanup)
    script = textwrap.dedent(f"""
        import sys, time
        from posturewatch.alerts.mqtt.commands import CommandService
        from posturewatch.alerts.mqtt.link import MqttSettings
        from posturewatch.alerts.mqtt.payloads import Topics
        from posturewatch.alerts.policy import AlertPolicy
        from posturewatch.alerts.mqtt.service import UserMqttService
        s = UserMqttService(MqttSettings(host="{mosquitto.host}", port={mosquitto.port}),
                            Topics("{user}"), CommandService(AlertPolicy()))
        assert s.start(wait_s=10)
        print("ready", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == b"ready"
        watcher.wait_for(lambda m: any(json.loads(p)["state"] == "online" for _, p, _ in m))
        os.kill(proc.pid, signal.SIGKILL)
        msgs = watcher.wait_for(lambda m: json.loads(m[-1][1])["state"] == "offline", timeout=15)
        check_stamp(json.loads(msgs[-1][1]))
    finally:
        proc.kill()
        proc.wait()


def test_commands_get_replies_and_bad_ones_are_counted(mosquitto, cleanup):
    user = f"c{uuid.uuid4().hex[:6]}"
    calibrations = []
    service = make_service(
        mosquitto, user, cleanup, calibrate=lambda body: calibrations.append(body) or {"ok": 1}
    )
    results = collector(mosquitto, [f"posturewatch/{user}/cmd/result"], cleanup)
    pub = collector(mosquitto, ["unused/none"], cleanup)
    base = f"posturewatch/{user}/cmd"
    sends = [
        ("snooze", b'{"minutes": 20, "id": "r1"}'),
        ("snooze", b"{not json"),
        ("snooze", b'{"minutes": -3}'),
        ("config", b'{"alerts": {"daily_cap": 3, "forward_head": {"cooldown_s": 60}}}'),
        ("config", b'{"alerts": {"daily_cap": "many"}}'),
        ("calibrate", b'{"pose": "neutral", "id": 7}'),
        ("reboot", b"{}"),
    ]
    for name, body in sends:
        pub.client.publish(f"{base}/{name}", body, qos=1).wait_for_publish(5)
    replies_raw = results.wait_for(lambda m: len(m) >= len(sends))
    replies = [json.loads(p) for _, p, _ in replies_raw]
    for reply in replies:
        check_stamp(reply)
    by_ok = [(r["command"], r["ok"]) for r in replies]
    assert by_ok == [
        ("snooze", True), ("snooze", False), ("snooze", False),
        ("config", True), ("config", False), ("calibrate", True), ("reboot", False),
    ]
    assert replies[0]["id"] == "r1" and replies[0]["result"]["snoozed_until_ms"] == (NOW + 1200) * 1000
    assert replies[5]["id"] == "7" and calibrations == [{"pose": "neutral"}]
    assert "daily_cap" in replies[4]["error"]
    policy = service.commands.policy
    assert policy.settings.daily_cap == 3 and policy.settings.forward_head.cooldown_s == 60
    assert policy.settings.forward_head.delay_s == 60  # untouched keys keep their values
    errors = service.commands.errors
    assert errors["bad_json"] == 1 and errors["bad_field"] == 1 and errors["bad_settings"] == 1
    assert errors["unknown_command"] == 1


def test_home_assistant_discovery_and_republish_on_birth(mosquitto, cleanup):
    user = f"h{uuid.uuid4().hex[:6]}"
    service = make_service(mosquitto, user, cleanup)
    node = f"posturewatch_{user}"
    config_filter = [f"homeassistant/+/{node}/+/config"]
    n = len(discovery_configs(service.topics))
    with MqttCollector(mosquitto.host, mosquitto.port, config_filter) as first:
        first.wait_for(lambda m: len(m) >= n)  # live or retained: now they are at the broker
    ha = collector(mosquitto, config_filter, cleanup)
    configs = ha.wait_for(lambda m: len(m) >= n)
    assert len(configs) == n and all(retain for _, _, retain in configs)  # retained for late ones
    # counted after the last config went out, i.e. maybe after a subscriber received them
    wait_until(lambda: service.discovery_published >= 1, what="the first discovery to be counted")
    before = service.discovery_published
    by_topic = {t: json.loads(p) for t, p, _ in configs}
    posture = by_topic[f"homeassistant/sensor/{node}/posture/config"]
    assert posture["state_topic"] == f"posturewatch/{user}/posture"
    assert posture["availability_topic"] == f"posturewatch/{user}/status"
    assert by_topic[f"homeassistant/event/{node}/alert/config"]["event_types"][0] == "prolonged_sitting"
    assert f"homeassistant/sensor/{node}/sitting_today/config" in by_topic
    assert f"homeassistant/sensor/{node}/pelvic_tilt/config" in by_topic
    birth = collector(mosquitto, ["unused/none"], cleanup)
    birth.client.publish("homeassistant/status", b"online", qos=1).wait_for_publish(5)
    again = ha.wait_for(lambda m: len(m) >= 2 * n)
    assert {t for t, _, _ in again[n:]} == set(by_topic)  # the same configs, once more
    wait_until(lambda: service.discovery_published >= before + 1, what="the re-publish to be counted")
    assert service.discovery_published == before + 1

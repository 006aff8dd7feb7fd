"""A wearer's MQTT presence on a real Mosquitto: status + LWT, commands, HA discovery."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

from servers import MqttCollector

from posturewatch.alerts.commands import CommandService
from posturewatch.alerts.mqtt import MqttSettings
from posturewatch.alerts.payloads import Topics
from posturewatch.alerts.policy import AlertPolicy
from posturewatch.alerts.service import UserMqttService

NOW = 1_709_553_600.0


def make_service(broker, user: str, **kw) -> UserMqttService:
    commands = CommandService(AlertPolicy(), clock=lambda: NOW, **kw)
    return UserMqttService(
        MqttSettings(host=broker.host, port=broker.port), Topics(user), commands, clock=lambda: NOW
    )


def check_stamp(payload: dict) -> None:
    assert payload["v"] == 1 and payload["ts"].endswith("Z") and isinstance(payload["ts_ms"], int)


def test_status_retained_online_then_offline_on_close(mosquitto):
    user = f"s{uuid.uuid4().hex[:6]}"
    service = make_service(mosquitto, user)
    assert service.start(wait_s=10)
    service.publish_status({"pelvis": {"connected": True, "battery_pct": 80}})
    service.close()
    # a late subscriber sees the retained last word: offline, with the sensors
    late = MqttCollector(mosquitto.host, mosquitto.port, [f"posturewatch/{user}/status"])
    (status,) = [json.loads(p) for _, p, _ in late.wait_for(lambda m: len(m) >= 1)]
    late.close()
    check_stamp(status)
    assert status["state"] == "offline" and status["sensors"]["pelvis"]["battery_pct"] == 80


def test_lwt_announces_offline_when_the_daemon_is_killed(mosquitto, tmp_path):
    user = f"k{uuid.uuid4().hex[:6]}"
    topic = f"posturewatch/{user}/status"
    watcher = MqttCollector(mosquitto.host, mosquitto.port, [topic])
    script = textwrap.dedent(f"""
        import sys, time
        from posturewatch.alerts.commands import CommandService
        from posturewatch.alerts.mqtt import MqttSettings
        from posturewatch.alerts.payloads import Topics
        from posturewatch.alerts.policy import AlertPolicy
        from posturewatch.alerts.service import UserMqttService
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
        watcher.close()


def test_commands_get_replies_and_bad_ones_are_counted(mosquitto):
    user = f"c{uuid.uuid4().hex[:6]}"
    calibrations = []
    service = make_service(mosquitto, user, calibrate=lambda body: calibrations.append(body) or {"ok": 1})
    assert service.start(wait_s=10)
    results = MqttCollector(mosquitto.host, mosquitto.port, [f"posturewatch/{user}/cmd/result"])
    pub = MqttCollector(mosquitto.host, mosquitto.port, ["unused/none"])
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
    results.close()
    pub.close()
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
    service.close()


def test_home_assistant_discovery_and_republish_on_birth(mosquitto):
    user = f"h{uuid.uuid4().hex[:6]}"
    service = make_service(mosquitto, user)
    assert service.start(wait_s=10)
    node = f"posturewatch_{user}"
    config_filter = [f"homeassistant/+/{node}/+/config"]
    first = MqttCollector(mosquitto.host, mosquitto.port, config_filter)
    first.wait_for(lambda m: len(m) >= 8)  # live or retained: now they are at the broker
    first.close()
    ha = MqttCollector(mosquitto.host, mosquitto.port, config_filter)
    configs = ha.wait_for(lambda m: len(m) >= 8)
    assert all(retain for _, _, retain in configs)  # delivered as retained to a late subscriber
    while service.discovery_published < 1:  # counted after the last config went out
        time.sleep(0.01)
    by_topic = {t: json.loads(p) for t, p, _ in configs}
    posture = by_topic[f"homeassistant/sensor/{node}/posture/config"]
    assert posture["state_topic"] == f"posturewatch/{user}/posture"
    assert posture["availability_topic"] == f"posturewatch/{user}/status"
    assert by_topic[f"homeassistant/event/{node}/alert/config"]["event_types"][0] == "prolonged_sitting"
    assert f"homeassistant/sensor/{node}/sitting_today/config" in by_topic
    assert f"homeassistant/sensor/{node}/pelvic_tilt/config" in by_topic
    before = service.discovery_published
    birth = MqttCollector(mosquitto.host, mosquitto.port, ["unused/none"])
    birth.client.publish("homeassistant/status", b"online", qos=1).wait_for_publish(5)
    ha.wait_for(lambda m: len(m) >= 2 * len(configs))
    assert service.discovery_published == before + 1
    birth.close()
    ha.close()
    service.close()

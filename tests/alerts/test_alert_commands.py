"""Command parsing and payload shapes without a broker."""

from __future__ import annotations

import json

import pytest

from posturewatch.alerts.mqtt.commands import CommandService
from posturewatch.alerts.mqtt.payloads import (
    Topics,
    alert_payload,
    angles_payload,
    angles_payloads,
    encode,
    episode_payload,
    split_topic,
)
from posturewatch.alerts.policy import AlertPolicy
from posturewatch.alerts.records import Alert
from posturewatch.analytics.records import Episode, EpisodeEvent

NOW = 1_709_553_600.0


@pytest.mark.parametrize(
    ("command", "body", "reason"),
    [
        ("snooze", b"[1, 2]", "bad_json"),
        ("snooze", b"\xff\xfe", "bad_json"),
        ("snooze", b'{"minutes": 5, "until": "tomorrow"}', "bad_field"),
        ("snooze", b'{"until": "friday"}', "bad_field"),
        ("snooze", b'{"minutes": true}', "bad_field"),
        ("snooze", b'{"minutes": 5, "kinds": ["slouch"]}', "bad_field"),
        ("snooze", b'{"minutes": 5, "id": [1]}', "bad_field"),
        ("calibrate", b"{}", "unavailable"),
        ("calibrate", b'{"pose": "sitting"}', "bad_field"),
        ("config", b'{"alerts": {"quiet_hours": {"start": "7pm"}}}', "bad_settings"),
        ("config", b'{"mqtt": {}}', "bad_field"),
        ("config", b'{"alerts": {"forward_head": {"cooldown_s": -5}}}', "bad_settings"),
        ("config", b'{"alerts": {"follow_up_windows_s": [60, 1e999]}}', "bad_settings"),
        ("snooze", b'{"minutes": NaN}', "bad_json"),
    ],
)
def test_bad_commands_reply_with_error_and_count(command, body, reason):
    service = CommandService(AlertPolicy(), clock=lambda: NOW)
    reply = service.handle(command, body)
    assert reply["ok"] is False and reply["error"] and reply["command"] == command
    assert service.errors == {reason: 1}
    json.dumps(reply)  # always serialisable


@pytest.mark.parametrize("constant", ["Infinity", "-Infinity", "NaN"])
def test_config_refuses_non_finite_numbers_and_keeps_the_settings(constant):
    policy = AlertPolicy()
    before = policy.settings
    service = CommandService(policy, clock=lambda: NOW)
    body = f'{{"alerts": {{"forward_head": {{"cooldown_s": {constant}}}}}}}'.encode()
    reply = service.handle("config", body)
    assert reply["ok"] is False and constant in reply["error"]
    assert service.errors == {"bad_json": 1} and not service.handled
    assert policy.settings == before and policy.settings.forward_head.cooldown_s == 900.0
    json.dumps(reply, allow_nan=False)


def test_snooze_until_tomorrow_and_cancel():
    policy = AlertPolicy()
    service = CommandService(policy, clock=lambda: NOW)
    reply = service.handle("snooze", b'{"until": "tomorrow", "kinds": ["forward_head"]}')
    assert reply["ok"] and reply["result"]["snoozed_until_ms"] == (NOW + 12 * 3600) * 1000
    assert service.handle("snooze", b'{"cancel": true}')["ok"]
    assert policy.on_events(
        [EpisodeEvent("start", Episode("forward_head", NOW, NOW + 60), NOW + 60)], "sitting"
    )


def test_calibrate_failure_is_reported_not_raised():
    def broken(body):
        raise RuntimeError("thigh sensor not connected")

    service = CommandService(AlertPolicy(), calibrate=broken)
    reply = service.handle("calibrate", b"")
    assert not reply["ok"] and "thigh sensor" in reply["error"] and service.errors["failed"] == 1


def test_payloads_carry_version_time_and_stable_ids():
    ep = Episode("posterior_tilt", NOW, NOW + 60, NOW + 100, -20.0, float("nan"))
    start = episode_payload(EpisodeEvent("start", ep, NOW + 60))
    end = episode_payload(EpisodeEvent("end", ep, NOW + 110))
    assert start["id"] != end["id"] and start["episode_id"] == end["episode_id"] == ep.id
    assert start["ts"] == "2024-03-04T12:01:00.000Z" and start["ts_ms"] == (NOW + 60) * 1000
    assert json.loads(encode(end))["mean"] is None  # NaN goes out as null
    alert = Alert("x-a0", "posterior_tilt", "T", "M", "warning", NOW + 60, ep.id, NOW)
    assert alert_payload(alert)["id"] == "x-a0" and alert_payload(alert)["v"] == 1


def test_angles_payloads_equal_one_payload_per_row():
    ts = [NOW, NOW + 1, NOW + 2]
    postures = ["sitting", "sitting", "standing"]
    angles = {"pelvic_tilt": [-5.12345, float("nan"), 2.0], "hip_flexion": [80.0, float("inf"), -0.0004]}
    rows = angles_payloads(ts, postures, angles)
    assert rows == [
        angles_payload(t, p, {k: v[i] for k, v in angles.items()})
        for i, (t, p) in enumerate(zip(ts, postures, strict=True))
    ]
    assert rows[0]["angles"] == {"pelvic_tilt": -5.123, "hip_flexion": 80.0}
    assert rows[1]["angles"] == {"pelvic_tilt": None, "hip_flexion": None}
    assert list(rows[2]["angles"]) == ["pelvic_tilt", "hip_flexion"]  # the caller's order
    with pytest.raises(ValueError):
        angles_payloads(ts, postures, {"pelvic_tilt": [1.0]})


def test_topics_and_topic_parsing():
    topics = Topics("ann")
    assert topics.cmd("snooze") == "posturewatch/ann/cmd/snooze"
    assert split_topic("posturewatch/ann/angles") == ("ann", "angles")
    with pytest.raises(ValueError):
        Topics("a/b")
    with pytest.raises(ValueError):
        split_topic("other/ann/angles")
    with pytest.raises(ValueError):
        topics.cmd("reboot")

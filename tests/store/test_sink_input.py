"""The sink's input side: bad MQTT payloads are counted and skipped, never stored or fatal."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from servers import MqttCollector

from posturewatch.alerts.mqtt.link import MqttSettings
from posturewatch.alerts.mqtt.payloads import angles_payload, encode, status_payload
from posturewatch.store.from_mqtt import BadPayload, lines_for
from posturewatch.store.influx import InfluxSettings
from posturewatch.store.sink import SinkWorker

T0 = 1_709_553_600.0

# an angle name that, written unchecked as a field key, would end the line and start a second
# one in another user's series
INJECTED_ANGLE = "x=1 0\nangles,posture=sitting,user={victim} pelvic_tilt"
INJECTED_SENSOR = "pelvis\nsensor_status,location=pelvis,user={victim} connected"


def injected_angles(victim: str) -> bytes:
    return encode(angles_payload(T0, "sitting", {"pelvic_tilt": -3.0,
                                                 INJECTED_ANGLE.format(victim=victim): 1.0}))


def injected_status(victim: str) -> bytes:
    sensors = {"thigh": {"connected": True}, INJECTED_SENSOR.format(victim=victim): {"connected": True}}
    return encode(status_payload(T0, True, sensors))


@pytest.mark.parametrize(
    ("kind", "raw", "reason"),
    [
        ("angles", b"{nope", "bad_json"),
        ("angles", b"[]", "bad_json"),
        ("angles", b'{"v": 2, "ts_ms": 1}', "bad_version"),
        ("angles", b'{"v": 1, "ts_ms": 1, "posture": "flying", "angles": {}}', "bad_field"),
        ("angles", b'{"v": 1, "ts_ms": 1, "posture": "sitting", "angles": {"a": "x"}}', "bad_field"),
        ("angles", b'{"v": 1, "ts_ms": "soon", "posture": "sitting", "angles": {}}', "bad_field"),
        ("alerts", b'{"v": 1, "ts_ms": 1, "id": "x"}', "bad_field"),
        ("status", b'{"v": 1, "ts_ms": 1, "state": "online", "sensors": []}', "bad_field"),
        ("posture", b'{"v": 1}', "bad_topic"),
        ("angles", injected_angles("bob"), "bad_field"),
        ("angles", b'{"v": 1, "ts_ms": 1, "posture": "sitting", "angles": {"tilt": 1}}', "bad_field"),
        ("status", injected_status("bob"), "bad_field"),
        ("status", b'{"v": 1, "ts_ms": 1, "state": "online", "sensors": {"elbow": {}}}', "bad_field"),
    ],
)
def test_bad_payloads_name_a_reason(kind, raw, reason):
    with pytest.raises(BadPayload) as err:
        lines_for("u", kind, raw)
    assert err.value.reason == reason


def test_unknown_names_are_refused_by_name():
    with pytest.raises(BadPayload, match="unknown angle name") as err:
        lines_for("u", "angles", injected_angles("bob"))
    assert "user=bob" in str(err.value) and "\n" not in str(err.value)  # repr: one log line
    with pytest.raises(BadPayload, match="unknown sensor location"):
        lines_for("u", "status", injected_status("bob"))


def test_a_user_that_cannot_be_a_tag_is_a_bad_topic():
    good = encode(angles_payload(T0, "sitting", {"pelvic_tilt": -3.0}))
    with pytest.raises(BadPayload) as err:
        lines_for("u\nangles,user=bob", "angles", good)
    assert err.value.reason == "bad_topic"


def test_good_payloads_become_lines():
    (line,), _, ident = lines_for("u", "angles", encode(angles_payload(T0, "sitting", {"pelvic_tilt": -3.0})))
    assert line == f"angles,posture=sitting,user=u pelvic_tilt=-3.0,posture_code=2i {int(T0 * 1000)}"
    assert ident is None
    status = status_payload(T0, True, {"pelvis": {"connected": True, "battery_pct": 55}})
    lines, _, _ = lines_for("u", "status", encode(status))
    assert len(lines) == 2 and "location=pelvis" in lines[1] and "battery_pct=55.0" in lines[1]


def test_sink_survives_garbage_and_stores_the_good(mosquitto, victoria):
    user = f"g{uuid.uuid4().hex[:6]}"
    victim = f"{user}victim"
    sink = SinkWorker(
        MqttSettings(host=mosquitto.host, port=mosquitto.port, client_id=f"sink-{user}"),
        InfluxSettings(url=victoria.url), group=f"group-{user}",
    )
    assert sink.start(wait_s=10)
    pub = MqttCollector(mosquitto.host, mosquitto.port, ["unused/none"])
    try:
        base = f"posturewatch/{user}"
        for topic, body in [
            (f"{base}/angles", b"\x00\x01garbage"),
            (f"{base}/alerts", b'{"v": 1}'),
            (f"{base}/angles", injected_angles(victim)),
            (f"{base}/status", injected_status(victim)),
            (f"{base}/angles", encode(angles_payload(T0, "standing", {"pelvic_tilt": 1.5}))),
            (f"{base}/status", encode(status_payload(T0, True, {"thigh": {"connected": True}}))),
        ]:
            pub.client.publish(topic, body, qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 10
        while (sink.received["angles"] < 1 or sink.received["status"] < 1) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.05)
        assert sink.wait_idle(10)
        assert sink.rejected == 0  # the database refused nothing of what was let through
    finally:
        pub.close()
        sink.stop()
    assert sink.bad == {"bad_json": 1, "bad_field": 3}
    (series,) = victoria.export(f'{{__name__="angles_pelvic_tilt",user="{user}"}}')
    assert series["values"] == [1.5] and series["metric"]["posture"] == "standing"
    # nothing reached the other user's series (the same selector does find this user's)
    assert victoria.export(f'{{user="{victim}"}}') == [] and victoria.export(f'{{user="{user}"}}')
    (thigh,) = victoria.export(f'{{__name__="sensor_status_connected",user="{user}",location="thigh"}}')
    assert thigh["values"] == [1]
    assert json.dumps(sink.stats)

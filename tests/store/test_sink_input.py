"""The sink's input side: bad MQTT payloads are counted and skipped, never stored or fatal."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from servers import MqttCollector

from posturewatch.alerts.mqtt import MqttSettings
from posturewatch.alerts.payloads import angles_payload, encode, status_payload
from posturewatch.store.from_mqtt import BadPayload, lines_for
from posturewatch.store.influx import InfluxSettings
from posturewatch.store.sink import SinkWorker

T0 = 1_709_553_600.0


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
    ],
)
def test_bad_payloads_name_a_reason(kind, raw, reason):
    with pytest.raises(BadPayload) as err:
        lines_for("u", kind, raw)
    assert err.value.reason == reason


def test_good_payloads_become_lines():
    (line,), _, ident = lines_for("u", "angles", encode(angles_payload(T0, "sitting", {"pelvic_tilt": -3.0})))
    assert line == f"angles,posture=sitting,user=u pelvic_tilt=-3.0,posture_code=2i {int(T0 * 1000)}"
    assert ident is None
    status = status_payload(T0, True, {"pelvis": {"connected": True, "battery_pct": 55}})
    lines, _, _ = lines_for("u", "status", encode(status))
    assert len(lines) == 2 and "location=pelvis" in lines[1] and "battery_pct=55.0" in lines[1]


def test_sink_survives_garbage_and_stores_the_good(mosquitto, victoria, tmp_path):
    user = f"g{uuid.uuid4().hex[:6]}"
    sink = SinkWorker(
        MqttSettings(host=mosquitto.host, port=mosquitto.port, client_id=f"sink-{user}"),
        InfluxSettings(url=victoria.url), tmp_path / "sink.db",
    )
    assert sink.start(wait_s=10)
    pub = MqttCollector(mosquitto.host, mosquitto.port, ["unused/none"])
    try:
        base = f"posturewatch/{user}"
        for topic, body in [
            (f"{base}/angles", b"\x00\x01garbage"),
            (f"{base}/alerts", b'{"v": 1}'),
            (f"{base}/angles", encode(angles_payload(T0, "standing", {"pelvic_tilt": 1.5}))),
        ]:
            pub.client.publish(topic, body, qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 10
        while sink.received["angles"] < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sink.pump.wait_drained(10)
    finally:
        pub.close()
        sink.stop()
    assert sink.bad == {"bad_json": 1, "bad_field": 1}
    (series,) = victoria.export(f'{{__name__="angles_pelvic_tilt",user="{user}"}}')
    assert series["values"] == [1.5] and series["metric"]["posture"] == "standing"
    assert json.dumps(sink.stats)

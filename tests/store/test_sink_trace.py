"""`posturewatch sink --trace`: one timing line per stored angles message of the traced wearers."""

from __future__ import annotations

import json
import uuid

from servers import MqttCollector, wait_until
from sink_procs import SinkProcess

from posturewatch.alerts.mqtt.payloads import angles_payload, encode, status_payload

T0 = 1_709_553_600.0


def test_the_trace_times_each_traced_message_in_order(mosquitto, victoria, cleanup, tmp_path):
    tag = uuid.uuid4().hex[:6]
    traced, other, prefix = f"t{tag}", f"o{tag}", f"p{tag}"
    trace = tmp_path / "trace.jsonl"
    sink = SinkProcess(mosquitto.host, mosquitto.port, victoria.url, "--mqtt-user", "",
                       "--group", f"g{tag}", "--shard", tag, "--prefix", prefix,
                       "--trace", str(trace), "--trace-users", traced)
    cleanup.callback(sink.close)
    sink.wait_subscribed()
    pub = cleanup.enter_context(MqttCollector(mosquitto.host, mosquitto.port, ["unused/none"]))
    for user in (traced, other):
        for i in range(5):
            body = encode(angles_payload(T0 + i, "sitting", {"pelvic_tilt": -5.0 + i}))
            pub.client.publish(f"{prefix}/{user}/angles", body, qos=1).wait_for_publish(5)
        pub.client.publish(f"{prefix}/{user}/status", encode(status_payload(T0, True, {})),
                           qos=1).wait_for_publish(5)
    wait_until(lambda: trace.exists() and len(trace.read_text().splitlines()) >= 5, 20, "5 traced")
    assert sink.finish()["written"] == 12
    rows = [json.loads(line) for line in trace.read_text().splitlines()]
    # only the traced wearer's angles, each once, under the record's own timestamp
    assert sorted(r["ts_ms"] for r in rows) == [round((T0 + i) * 1000) for i in range(5)]
    assert {(r["user"], r["kind"]) for r in rows} == {(traced, "angles")}
    for r in rows:  # arrived, taken into a batch, written, acknowledged: in that order
        assert r["received"] <= r["taken"] <= r["write_start"] <= r["written"] <= r["acked"], r

"""`posturewatch sink` as a command: runs, stores what arrives, prints a summary; refuses a v5-less broker."""

from __future__ import annotations

import subprocess
import sys
import uuid

from servers import MqttCollector, require_binary
from sink_procs import SinkProcess

from posturewatch.alerts.mqtt.payloads import encode, status_payload

T0 = 1_709_553_600.0


def test_sink_command_stores_a_status(mosquitto, victoria, cleanup):
    user = f"cli{uuid.uuid4().hex[:6]}"
    prefix = f"p{user}"  # the broker is shared with other tests: only this test's topics
    sink = SinkProcess(mosquitto.host, mosquitto.port, victoria.url, "--mqtt-user", "",
                       "--group", f"g{user}", "--shard", user, "--prefix", prefix)
    cleanup.callback(sink.close)
    # a shared subscription gets no retained messages: publish once the worker has joined
    sink.wait_subscribed()
    pub = cleanup.enter_context(MqttCollector(mosquitto.host, mosquitto.port, ["unused/none"]))
    body = encode(status_payload(T0, True, {"thigh": {"connected": True, "rate_hz": 50}}))
    pub.client.publish(f"{prefix}/{user}/status", body, qos=1).wait_for_publish(5)
    sink.wait_output("written        1")
    figures = sink.finish()
    assert figures == {"received": 1, "written": 1, "acked": 1}, sink.output
    assert "0 left for redelivery" in sink.output
    rows = victoria.export(f'{{__name__="sensor_status_rate_hz",user="{user}"}}')
    assert [r["values"] for r in rows] == [[50.0]] and rows[0]["metric"]["location"] == "thigh"


def test_a_broker_without_v5_is_a_clear_error(amqtt_broker, victoria):
    proc = subprocess.run(
        [sys.executable, "-m", "posturewatch.app.cli", "sink", "--mqtt-host", amqtt_broker.host,
         "--mqtt-port", str(amqtt_broker.port), "--mqtt-user", "", "--influx-url", victoria.url,
         "--duration", "30"],
        capture_output=True, timeout=60, text=True,
    )
    assert proc.returncode == 3, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "refused MQTT v5" in last and "shared subscriptions" in last, proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_refused_login_is_a_clear_error(mosquitto_factory, victoria, tmp_path):
    passwd = require_binary("/usr/bin/mosquitto_passwd", "mosquitto")
    subprocess.run([passwd, "-c", "-b", str(tmp_path / "passwd"), "sink-a", "right"], check=True)
    broker = mosquitto_factory(password_file=tmp_path / "passwd")
    proc = subprocess.run(
        [sys.executable, "-m", "posturewatch.app.cli", "sink", "--mqtt-host", broker.host,
         "--mqtt-port", str(broker.port), "--mqtt-user", "sink-a", "--mqtt-password", "wrong",
         "--influx-url", victoria.url, "--duration", "30", "--quiet"],
        capture_output=True, timeout=60, text=True,
    )
    assert proc.returncode == 3, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "refused the login of sink-a" in last and "Traceback" not in proc.stderr

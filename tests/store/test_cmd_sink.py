"""`posturewatch sink` as a command: runs, stores what arrives, prints a summary."""

from __future__ import annotations

import subprocess
import sys
import uuid

from servers import MqttCollector

from posturewatch.alerts.mqtt.payloads import encode, status_payload

T0 = 1_709_553_600.0


def test_sink_command_stores_a_retained_status(mosquitto, victoria, tmp_path):
    user = f"cli{uuid.uuid4().hex[:6]}"
    pub = MqttCollector(mosquitto.host, mosquitto.port, ["unused/none"])
    body = encode(status_payload(T0, True, {"thigh": {"connected": True, "rate_hz": 50}}))
    pub.client.publish(f"posturewatch/{user}/status", body, qos=1, retain=True).wait_for_publish(5)
    pub.close()
    proc = subprocess.run(
        [sys.executable, "-m", "posturewatch.app.cli", "sink", "--mqtt-host", mosquitto.host,
         "--mqtt-port", str(mosquitto.port), "--mqtt-user", "", "--influx-url", victoria.url,
         "--outbox", str(tmp_path / "o.db"), "--client-id", f"sink-{user}", "--duration", "2"],
        capture_output=True, timeout=60, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    summary = proc.stderr.strip().splitlines()[-1]
    assert summary.startswith("sink: received") and "0 still queued" in summary
    assert "mqtt connected" in proc.stderr  # the progress line
    rows = victoria.export(f'{{__name__="sensor_status_rate_hz",user="{user}"}}')
    assert [r["values"] for r in rows] == [[50.0]] and rows[0]["metric"]["location"] == "thigh"

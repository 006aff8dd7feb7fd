"""deploy/mosquitto/posturewatch-fleet.conf on a real Mosquitto laid out like Debian's.

The snippet goes into a conf.d next to a main config with Debian's settings (persistence on,
pid file, include_dir); paths and ports are moved into the test's directory. Through it: a
`posturewatch sink` worker logs in on the TLS listener with a client certificate (its common
name is its user name), a wearer publishes with a password on the plain listener, and the data
reaches VictoriaMetrics.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import pytest
from servers import MOSQUITTO_BIN, MqttCollector, free_port, port_open, require_binary
from sink_procs import SinkProcess
from tls_certs import client_cert, make_certs

from posturewatch.accounts.mosquitto_files import MosquittoFiles
from posturewatch.accounts.registry import Account
from posturewatch.alerts.mqtt.payloads import encode, status_payload

SNIPPET = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "posturewatch-fleet.conf"
T0 = 1_709_553_600.0


@pytest.mark.slow
def test_snippet_in_a_debian_layout_serves_a_tls_sink(tmp_path, victoria, cleanup):
    binary = require_binary(MOSQUITTO_BIN, "mosquitto")
    accounts = tmp_path / "posturewatch"
    certs = accounts / "certs"
    certs.mkdir(parents=True)
    make_certs(certs)
    sink_crt, sink_key = client_cert(certs, "sink-a")
    passwd_bin = require_binary("/usr/bin/mosquitto_passwd", "mosquitto")
    files = MosquittoFiles(accounts, mosquitto_passwd=passwd_bin)
    user = f"w{uuid.uuid4().hex[:6]}"
    with files.editing() as registry:
        registry.add(Account(user, "wearer"))
        registry.add(Account("sink-a", "sink", group="fleet"))
        files.set_password(user, "wearer-secret")  # the sink has no password: its certificate
    plain, tls = free_port(), free_port()
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    snippet = (SNIPPET.read_text().replace("/etc/mosquitto/posturewatch", str(accounts))
               .replace("listener 1883", f"listener {plain} 127.0.0.1")
               .replace("listener 8883", f"listener {tls} 127.0.0.1"))
    (conf_d / "posturewatch-fleet.conf").write_text(snippet)
    main = tmp_path / "mosquitto.conf"
    main.write_text(  # Debian's main file, moved into the test directory
        f"pid_file {tmp_path}/mosquitto.pid\npersistence true\npersistence_location {tmp_path}/\n"
        f"log_dest stderr\ninclude_dir {conf_d}\nuser root\n"
    )
    log = open(tmp_path / "mosquitto.log", "wb")  # noqa: SIM115 - closed by cleanup
    cleanup.callback(log.close)
    broker = subprocess.Popen([binary, "-c", str(main)], stdout=log, stderr=subprocess.STDOUT)
    cleanup.callback(broker.wait, 10)
    cleanup.callback(broker.terminate)
    deadline = time.monotonic() + 10
    while not (port_open("127.0.0.1", plain) and port_open("127.0.0.1", tls)):
        assert broker.poll() is None, (tmp_path / "mosquitto.log").read_text()
        assert time.monotonic() < deadline, "broker not listening"
        time.sleep(0.05)

    sink = SinkProcess("127.0.0.1", tls, victoria.url, "--mqtt-user", "", "--ca-file",
                       str(certs / "ca.crt"), "--cert-file", str(sink_crt), "--key-file", str(sink_key),
                       "--group", "fleet", "--shard", user)
    cleanup.callback(sink.close)
    sink.wait_subscribed()
    wearer = MqttCollector("127.0.0.1", plain, [f"posturewatch/{user}/none"], username=user,
                           password="wearer-secret")
    cleanup.callback(wearer.close)
    body = encode(status_payload(T0, True, {"pelvis": {"connected": True, "battery_pct": 77}}))
    wearer.client.publish(f"posturewatch/{user}/status", body, qos=1).wait_for_publish(5)
    sink.wait_output("written        1")
    assert sink.finish() == {"received": 1, "written": 1, "acked": 1}
    (row,) = victoria.export(f'{{__name__="sensor_status_battery_pct",user="{user}"}}')
    assert row["values"] == [77.0]
    # without a client certificate the TLS listener refuses the worker
    refused = SinkProcess("127.0.0.1", tls, victoria.url, "--mqtt-user", "", "--ca-file",
                          str(certs / "ca.crt"), "--shard", user, "--duration", "3")
    cleanup.callback(refused.close)
    assert refused.finish(terminate=False)["received"] == 0
    assert "subscribed" not in refused.output

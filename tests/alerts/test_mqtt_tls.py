"""MqttLink over TLS to a real Mosquitto with a throw-away CA."""

from __future__ import annotations

import subprocess

from servers import free_port, require_binary

from posturewatch.alerts.mqtt.link import MqttLink, MqttSettings


def make_certs(d):
    openssl = require_binary("/usr/bin/openssl", "openssl")

    def run(*args):
        subprocess.run([openssl, *args], cwd=d, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", "ca.key", "-out", "ca.crt")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", "server.key", "-out", "server.csr")
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-extfile", "san.ext", "-out", "server.crt")
    return d / "ca.crt"


def test_tls_connection_verifies_the_broker(mosquitto_factory, tmp_path):
    ca = make_certs(tmp_path)
    tls_port = free_port()
    broker = mosquitto_factory(extra_config=(
        f"listener {tls_port} 127.0.0.1\n"
        f"cafile {ca}\ncertfile {tmp_path / 'server.crt'}\nkeyfile {tmp_path / 'server.key'}\n"
    ))
    good = MqttLink(MqttSettings(host=broker.host, port=tls_port, tls=True, ca_certs=str(ca)))
    try:
        assert good.start(wait_s=10) and good.protocol_version == 5
    finally:
        good.stop()
    # without our CA the system trust store rejects the self-signed broker
    untrusted = MqttLink(MqttSettings(host=broker.host, port=tls_port, tls=True))
    try:
        assert not untrusted.start(wait_s=1.5)
    finally:
        untrusted.stop()

"""MqttLink over TLS to a real Mosquitto with a throw-away CA."""

from __future__ import annotations

from servers import free_port
from tls_certs import make_certs

from posturewatch.alerts.mqtt.link import MqttLink, MqttSettings


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

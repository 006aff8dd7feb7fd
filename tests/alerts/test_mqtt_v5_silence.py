"""A broker that never answers an MQTT v5 CONNECT still gets a 3.1.1 client after a timeout."""

import socket
import threading

from posturewatch.alerts.mqtt import link as mqtt_module
from posturewatch.alerts.mqtt.link import MqttLink, MqttSettings, Will


def _silent_on_v5_broker() -> tuple[socket.socket, list[int]]:
    """Accepts TCP; answers a 3.1.1 CONNECT with CONNACK 0; stays silent on v5 (like amqtt can)."""
    server = socket.create_server(("127.0.0.1", 0))
    levels: list[int] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            data = conn.recv(1024)
            # fixed header (1 + remaining-length bytes), then protocol name "MQTT" (2 + 4), level
            i = 1
            while data[i] & 0x80:
                i += 1
            level = data[i + 1 + 6]
            levels.append(level)
            if level == 4:
                conn.sendall(bytes([0x20, 0x02, 0x00, 0x00]))
            threading.Thread(target=lambda c=conn: c.recv(1024), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return server, levels


def test_silence_to_v5_falls_back(monkeypatch):
    monkeypatch.setattr(mqtt_module, "V5_ANSWER_TIMEOUT_S", 0.5)
    server, levels = _silent_on_v5_broker()
    link = MqttLink(MqttSettings(host="127.0.0.1", port=server.getsockname()[1]),
                    will=Will("posturewatch/u/status", b"offline"))
    try:
        assert link.start(wait_s=10)
        assert link.fell_back and link.protocol_version == 4
        assert levels[:2] == [5, 4]
    finally:
        link.stop(timeout=1)
        server.close()

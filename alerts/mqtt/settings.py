"""What an MQTT connection (``alerts.mqtt.link.MqttLink``) is set up with and hands over:
broker settings, the last will, and a received message with what acknowledging it needs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Delivery:
    """One received message with what ``MqttLink.ack`` needs; ``session`` counts connections,
    ``received_at`` is the wall-clock time it arrived (for latency traces)."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    session: int
    received_at: float = 0.0


DeliveryHandler = Callable[[Delivery], None]


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """Broker address and credentials. ``protocol``: "auto" (v5, fall back), "5" or "3.1.1"."""

    host: str = "localhost"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_certs: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    tls_insecure: bool = False
    client_id: str = ""
    keepalive_s: int = 30
    protocol: str = "auto"
    clean_start: bool = True
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0
    max_inflight: int = 20
    subscriptions: tuple[tuple[str, int], ...] = field(default_factory=tuple)
    # how long the broker keeps a persistent session (and its queued messages) after a disconnect
    session_expiry_s: int = 7 * 86400
    # v5 Receive Maximum: how many unacknowledged QoS 1 messages the broker may send us at once
    # (0: the broker's own limit)
    receive_maximum: int = 0

    def __post_init__(self) -> None:
        if self.protocol not in ("auto", "5", "3.1.1"):
            raise ValueError(f"protocol must be 'auto', '5' or '3.1.1', got {self.protocol!r}")
        if not self.clean_start and not self.client_id:
            raise ValueError("a persistent session (clean_start = false) needs a client_id")


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True

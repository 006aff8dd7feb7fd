"""One MQTT connection (paho-mqtt 2.x): v5 with a clean fallback to 3.1.1, auth, TLS, LWT.

``MqttLink`` connects in the background and keeps reconnecting with backoff (paho's network
thread). With ``protocol="auto"`` it offers MQTT v5 first; a broker that refuses v5 in its CONNACK
(amqtt answers "unacceptable protocol version") gets a fresh 3.1.1 client, once, and v5-only
options (message expiry) are then simply left out. A broker that accepts the TCP connection but
never answers a v5 CONNECT (amqtt does this when the CONNECT carries a will) is treated the same
way after ``V5_ANSWER_TIMEOUT_S``; with ``protocol="5"`` a refusal is recorded in
``protocol_refused`` instead. Subscriptions are renewed on every connect and refusals in the
SUBACK recorded; acks (PUBACK for QoS 1) are reported to listeners so the outbox pump can drop
what arrived. With ``manual_ack`` a received message is acknowledged only when the receiver calls
``ack`` (after it has stored the message), so an unacknowledged one comes back after a crash.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from posturewatch.alerts.mqtt.settings import Delivery, DeliveryHandler, MqttSettings, Will

log = logging.getLogger(__name__)

# CONNACK answers meaning "this broker does not speak the protocol version offered"
_UNSUPPORTED_PROTOCOL = {132, 1}

# CONNACK answers meaning "these credentials are not welcome" (v5: 134, 135; 3.1.1: 4, 5)
LOGIN_REFUSED = {134, 135, 4, 5}

# how long an open socket may wait for the CONNACK to a v5 CONNECT before 3.1.1 is tried
V5_ANSWER_TIMEOUT_S = 5.0

MessageHandler = Callable[[str, bytes], None]


class MqttLink:
    """A self-reconnecting client; see the module docstring."""

    def __init__(
        self,
        settings: MqttSettings,
        *,
        will: Will | None = None,
        on_message: MessageHandler | None = None,
        on_delivery: DeliveryHandler | None = None,
        manual_ack: bool = False,
    ) -> None:
        """``manual_ack``: received QoS 1 messages are acknowledged by ``ack``, not when the
        handler returns (only for receivers that store what they get before acknowledging)."""
        self.settings = settings
        self.manual_ack = manual_ack
        self.will = will
        self.on_message = on_message
        self.on_delivery = on_delivery
        # set when the broker refused the protocol offered with protocol="5" (no fallback wanted)
        self.protocol_refused: str | None = None
        # the last CONNACK refusal for bad credentials (LOGIN_REFUSED), None once connected
        self.login_refused: str | None = None
        # "topic: reason" for every subscription the broker refused in its SUBACK
        self.subscribe_refusals: list[str] = []
        self.subscribed = threading.Event()
        self._unsubscribed: threading.Event | None = None
        self.fell_back = False
        self.connects = 0
        self.message_errors = 0
        self._ack_listeners: list[Callable[[int], None]] = []
        # mids of QoS 1 messages whose sender re-sends them itself after a reconnect (the outbox
        # pump): paho must not resend them too, see ``publish_raw``
        self._resent_by_caller: set[int] = set()
        self._connect_listeners: list[Callable[[], None]] = []
        self._connected = threading.Event()
        self._lock = threading.Lock()
        self._stopped = False
        self._v5 = settings.protocol in ("auto", "5")
        self._state = "idle"  # idle → connecting → connected; "down" while connects fail
        self.last_error = ""
        self.connect_failures = 0
        self._answered = False  # any CONNACK seen: the broker speaks the offered protocol
        self._client = self._make_client()

    # ---- public -------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def state(self) -> str:
        """"connected", "connecting" (first attempt or reconnecting), "down" (the broker cannot be
        reached or refused us: ``last_error`` says why) or "idle" (not started)."""
        return "connected" if self.connected else self._state

    @property
    def address(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    @property
    def protocol_version(self) -> int:
        """5 or 4 (= 3.1.1)."""
        return 5 if self._v5 else 4

    def add_ack_listener(self, listener: Callable[[int], None]) -> None:
        self._ack_listeners.append(listener)

    def add_connect_listener(self, listener: Callable[[], None]) -> None:
        self._connect_listeners.append(listener)

    def start(self, wait_s: float = 0.0) -> bool:
        """Begin connecting in the background; optionally wait for the first connection."""
        self._state = "connecting"
        with self._lock:
            self._client.connect_async(
                self.settings.host, self.settings.port, keepalive=self.settings.keepalive_s,
                **self._connect_kwargs(),
            )
            self._client.loop_start()
        return self.wait_connected(wait_s) if wait_s > 0 else self.connected

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def ack(self, delivery: Delivery) -> bool:
        """Acknowledge a message (``manual_ack``); False if its connection is gone: the broker
        then sends it again on the next connection of this persistent session."""
        if delivery.qos == 0:
            return True
        with self._lock:
            if delivery.session != self.connects or not self.connected:
                return False
            rc = self._client.ack(delivery.mid, delivery.qos)
        return rc == mqtt.MQTT_ERR_SUCCESS

    def unsubscribe(self, topics: list[str], timeout: float = 5.0) -> bool:
        """Drop subscriptions for good (also from a persistent session); True once the broker
        confirmed. They come back on the next connect unless the link is stopped first."""
        done = threading.Event()
        self._unsubscribed = done
        with self._lock:
            rc, _ = self._client.unsubscribe(topics)
        return rc == mqtt.MQTT_ERR_SUCCESS and done.wait(timeout)

    def publish_raw(
        self, topic: str, payload: bytes, qos: int = 1, retain: bool = False,
        expiry_s: int | None = None, *, caller_resends: bool = False,
    ) -> int | None:
        """Queue one message; returns its mid (acks name it), None if paho refused it.

        ``caller_resends``: the caller publishes the message again itself if no ack came on this
        connection (the outbox pump does, from its oldest unacknowledged item). paho resends its
        unacknowledged QoS 1 messages on every new connection too, and with both, a message the
        broker had already passed on reached the wearer's topic twice; such messages are dropped
        from paho's queue when a new connection is made, before paho would resend them."""
        properties = None
        if expiry_s is not None and self._v5:
            properties = Properties(PacketTypes.PUBLISH)
            properties.MessageExpiryInterval = int(expiry_s)
        with self._lock:
            info = self._client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
            if caller_resends and qos > 0 and info.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                self._resent_by_caller.add(info.mid)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            log.warning("publish to %s refused: %s", topic, mqtt.error_string(info.rc))
            return None
        return info.mid

    def stop(self, final: list[tuple[str, bytes, bool]] | None = None, timeout: float = 5.0) -> None:
        """Publish ``final`` (topic, payload, retain) messages at QoS 1, then disconnect cleanly."""
        self._stopped = True
        with self._lock:
            client = self._client
        if final and self.connected:
            infos = [client.publish(t, p, qos=1, retain=r) for t, p, r in final]
            for info in infos:
                try:
                    info.wait_for_publish(timeout)
                except (RuntimeError, ValueError):
                    break
        client.disconnect()
        client.loop_stop()
        self._connected.clear()

    # ---- paho plumbing ------------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        s = self.settings
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=s.client_id,
            protocol=mqtt.MQTTv5 if self._v5 else mqtt.MQTTv311,
            clean_session=None if self._v5 else s.clean_start,
            manual_ack=self.manual_ack,
        )
        if s.username is not None:
            client.username_pw_set(s.username, s.password)
        if s.tls:
            client.tls_set(
                ca_certs=s.ca_certs, certfile=s.certfile, keyfile=s.keyfile,
                cert_reqs=ssl.CERT_NONE if s.tls_insecure else ssl.CERT_REQUIRED,
            )
            client.tls_insecure_set(s.tls_insecure)
        if self.will is not None:
            client.will_set(self.will.topic, self.will.payload, self.will.qos, self.will.retain)
        client.reconnect_delay_set(max(1, round(s.reconnect_min_s)), max(1, round(s.reconnect_max_s)))
        client.max_inflight_messages_set(s.max_inflight)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_socket_open = self._on_socket_open
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_unsubscribe = self._on_unsubscribe
        return client

    def _connect_kwargs(self) -> dict:
        if not self._v5:
            return {}
        props = Properties(PacketTypes.CONNECT)
        if not self.settings.clean_start:
            props.SessionExpiryInterval = int(self.settings.session_expiry_s)
        if self.settings.receive_maximum:
            props.ReceiveMaximum = int(self.settings.receive_maximum)
        return {"clean_start": self.settings.clean_start, "properties": props}

    def _on_socket_open(self, client, userdata, sock) -> None:
        if self._v5 and not self._answered:
            timer = threading.Timer(V5_ANSWER_TIMEOUT_S, self._no_answer, args=(client,))
            timer.daemon = True
            timer.start()

    def _no_answer(self, client: mqtt.Client) -> None:
        if client is not self._client or not self._v5 or self._answered or self._stopped:
            return
        if self.settings.protocol == "5":
            self.protocol_refused = f"no answer to an MQTT v5 CONNECT in {V5_ANSWER_TIMEOUT_S:.0f} s"
            log.warning("broker did not answer an MQTT v5 CONNECT in %.0f s", V5_ANSWER_TIMEOUT_S)
            return
        log.info("broker did not answer an MQTT v5 CONNECT in %.0f s: trying 3.1.1", V5_ANSWER_TIMEOUT_S)
        self._fall_back()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        self._answered = True
        if reason_code.is_failure:
            if (
                self._v5 and self.settings.protocol == "auto"
                and reason_code.value in _UNSUPPORTED_PROTOCOL
            ):
                log.info("broker refused MQTT v5 (%s): falling back to 3.1.1", reason_code)
                # the network thread cannot stop itself: swap clients from another thread
                threading.Thread(target=self._fall_back, daemon=True).start()
            elif self._v5 and reason_code.value in _UNSUPPORTED_PROTOCOL:
                self.protocol_refused = str(reason_code)
                log.warning("broker refused MQTT v5: %s", reason_code)
            else:
                if reason_code.value in LOGIN_REFUSED:
                    self.login_refused = str(reason_code)
                self._went_down(f"connection refused: {reason_code}")
            return
        self.login_refused = None
        if self._state == "down":
            log.warning("MQTT broker %s reachable again", self.address)
        self._forget_resent_by_caller(client)
        self._state = "connected"
        self.connects += 1
        if not self.settings.clean_start and not flags.session_present and self.connects > 1:
            log.warning("MQTT broker %s had lost this client's session: subscribing anew", self.address)
        # always subscribe, also to a session the broker kept: Mosquitto 2.0 restores the
        # session after a restart but not its shared subscriptions
        if self.settings.subscriptions:
            client.subscribe(list(self.settings.subscriptions))
        # listeners (status "online", discovery) run before anyone sees "connected", so
        # nothing a caller publishes after waiting for the connection can be overtaken by them
        for listener in self._connect_listeners:
            try:
                listener()
            except Exception:
                log.exception("connect listener failed")
        self._connected.set()

    def _forget_resent_by_caller(self, client: mqtt.Client) -> None:
        """Drop from paho's queue what its caller re-sends itself (``publish_raw``). paho calls
        ``on_connect`` before it resends its unacknowledged messages on a new connection; its
        queue has no public interface, hence the private names (checked by the fault tests)."""
        with self._lock:
            mids, self._resent_by_caller = self._resent_by_caller, set()
        if not mids:
            return
        lock, queued = getattr(client, "_out_message_mutex", None), getattr(client, "_out_messages", None)
        if lock is None or queued is None:  # another paho: it resends them too (a copy, not a loss)
            log.warning("this paho-mqtt has no _out_messages: messages may be resent twice")
            return
        with lock:
            for mid in mids:
                queued.pop(mid, None)

    def _fall_back(self) -> None:
        with self._lock:
            old = self._client
            old.loop_stop()
            if self._stopped:
                return
            self._v5 = False
            self.fell_back = True
            self._client = self._make_client()
            self._client.connect_async(
                self.settings.host, self.settings.port, keepalive=self.settings.keepalive_s
            )
            self._client.loop_start()

    def _on_connect_fail(self, client, userdata) -> None:
        self._went_down("cannot connect")

    def _went_down(self, why: str) -> None:
        """Said once per outage (a warning, no -v needed); repeats only count."""
        self.connect_failures += 1
        self.last_error = why
        if self._state != "down" and not self._stopped:
            log.warning("MQTT broker %s: %s; retrying, data waits in the outbox", self.address, why)
        self._state = "down"

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connected.clear()
        if self._stopped:
            return
        if self._state == "connected":
            self._state = "connecting"
            log.warning("MQTT disconnected from %s (%s); reconnecting", self.address, reason_code)
        else:  # a failed attempt (paho reports a refused socket as a disconnect too)
            self._went_down(f"disconnected: {reason_code}")

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        self._resent_by_caller.discard(mid)
        for listener in self._ack_listeners:
            listener(mid)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        topics = [t for t, _ in self.settings.subscriptions]
        refused = [
            f"{topic}: {code}" for topic, code in zip(topics, reason_codes, strict=False)
            if code.is_failure
        ]
        if refused:
            log.warning("broker refused subscription(s): %s", "; ".join(refused))
        self.subscribe_refusals = refused
        self.subscribed.set()

    def _on_unsubscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        if self._unsubscribed is not None:
            self._unsubscribed.set()

    def _on_message(self, client, userdata, message) -> None:
        try:
            if self.on_delivery is not None:
                self.on_delivery(Delivery(
                    message.topic, message.payload, message.mid, message.qos, self.connects, time.time()
                ))
            if self.on_message is None:
                return
            self.on_message(message.topic, message.payload)
        except Exception:  # a bad message must never kill the network thread
            self.message_errors += 1
            log.exception("handling a message on %s failed", message.topic)

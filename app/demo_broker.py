"""Where the demo publishes: an embedded amqtt broker on a free loopback port, or a given URL.

amqtt is a pure-Python MQTT 3.1.1 broker; it runs here on its own event loop in a daemon thread,
so the demo's synchronous main loop and paho's network thread talk to it over real TCP exactly
as they would to Mosquitto. ``parse_mqtt_url`` turns ``mqtt[s]://[user[:password]@]host[:port]``
into the ``MqttSettings`` the rest of the project uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import urllib.parse

from posturewatch.alerts.mqtt.link import MqttSettings

START_TIMEOUT_S = 20.0
PORT_ATTEMPTS = 5


class BrokerError(RuntimeError):
    """The embedded broker could not be started."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def parse_mqtt_url(url: str, client_id: str = "") -> MqttSettings:
    """``mqtt://host:1883``, ``mqtts://user:secret@host:8883`` → ``MqttSettings`` (ValueError if bad)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise ValueError(f"MQTT URL must start with mqtt:// or mqtts://, got {url!r}")
    if not parts.hostname:
        raise ValueError(f"MQTT URL has no host: {url!r}")
    if parts.path not in ("", "/"):
        raise ValueError(f"MQTT URL takes no path: {url!r}")
    tls = parts.scheme in ("mqtts", "ssl")
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError:
        raise ValueError(f"MQTT URL has a bad port: {url!r}") from None
    user = urllib.parse.unquote(parts.username) if parts.username else None
    password = urllib.parse.unquote(parts.password) if parts.password else None
    return MqttSettings(host=parts.hostname, port=port, username=user, password=password, tls=tls,
                        client_id=client_id)


class EmbeddedBroker:
    """amqtt on ``host:port`` (a free port unless given); ``start()`` returns once it listens."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self) -> None:
        # amqtt logs every client disconnect as a warning; the demo's view is the status, not that
        logging.getLogger("amqtt").setLevel(logging.ERROR)
        fixed = bool(self.port)
        last: BaseException | None = None
        for _ in range(1 if fixed else PORT_ATTEMPTS):
            if not fixed:
                self.port = free_port(self.host)
            try:
                self._start_on_port()
                return
            except OSError as exc:  # the port was taken between choosing and binding it
                last = exc
        raise BrokerError(f"embedded MQTT broker could not listen on {self.host}:{self.port}: {last}")

    def _start_on_port(self) -> None:
        from amqtt.broker import Broker

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        started = threading.Event()
        errors: list[BaseException] = []
        loop = asyncio.new_event_loop()

        async def boot() -> None:
            self._broker = Broker(config)
            await self._broker.start()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(boot())
            except BaseException as exc:  # handed to start()'s caller
                errors.append(exc)
                started.set()
                loop.close()
                return
            started.set()
            loop.run_forever()
            loop.close()

        thread = threading.Thread(target=serve, name="amqtt-broker", daemon=True)
        thread.start()
        if not started.wait(START_TIMEOUT_S):
            raise BrokerError("embedded MQTT broker did not start in time")
        if errors:
            exc = errors[0]
            if isinstance(exc, OSError):
                raise exc
            raise BrokerError(f"embedded MQTT broker failed to start: {exc!r}") from exc
        self._loop, self._thread = loop, thread

    def stop(self) -> None:
        if self._loop is None or self._broker is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop)
        with contextlib.suppress(Exception):
            future.result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._loop = self._thread = self._broker = None

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

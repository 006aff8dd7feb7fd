"""Private, restartable instances of the real servers the integration tests talk to.

Each server binds a free loopback port chosen once, so a fault test can stop it and start it
again on the SAME port (clients reconnect to where they were). Mosquitto and VictoriaMetrics run
as child processes from their Debian binaries (amqtt, the pure-Python broker, is the demo's own
``posturewatch.app.demo_broker.EmbeddedBroker``: see the ``amqtt_broker`` fixture). When a
binary is missing the test skips, except under ``CI=true`` where it fails with a message saying
what to install (DESIGN §6); ``require_binary`` does that for any tool a test runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from posturewatch.app.demo_broker import free_port

MOSQUITTO_BIN = os.environ.get("POSTUREWATCH_MOSQUITTO", "/usr/sbin/mosquitto")
VICTORIA_BIN = os.environ.get("POSTUREWATCH_VICTORIA", "/usr/bin/victoria-metrics")
START_TIMEOUT_S = 20.0


def require_binary(path: str, debian_package: str) -> str:
    """Return ``path`` if executable; otherwise skip the test (fail under CI=true)."""
    found = path if os.access(path, os.X_OK) else shutil.which(Path(path).name)
    if found:
        return found
    message = (
        f"{path} not found: install the Debian package '{debian_package}' "
        "(`make system-deps` does it as root)"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
    raise AssertionError("unreachable")


def port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


class _ProcessServer:
    """Shared start/stop/restart logic of a server run as a child process."""

    name = "server"

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_path = self.workdir / f"{self.name}.log"

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _ready(self) -> bool:
        return port_open(self.host, self.port)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> None:
        if self.running:
            return
        log = open(self._log_path, "ab")  # noqa: SIM115 - handed to the child, closed in stop()
        self._proc = subprocess.Popen(
            self._command(), stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir
        )
        self._log = log
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start; log:\n{self.log_tail()}")
            if self._ready():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} not ready on port {self.port}; log:\n{self.log_tail()}")

    def stop(self) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        self._proc = None
        self._log.close()
        # the port must be free again before a restart may bind it
        deadline = time.monotonic() + 5
        while port_open(self.host, self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self._log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class MosquittoServer(_ProcessServer):
    """A private Mosquitto on a loopback port, optionally with a password file and an ACL.

    ``extra_config`` lines are appended to the generated mosquitto.conf (e.g. TLS listeners).
    Persistence is on, in the work dir, so retained messages survive a restart like in production.
    """

    name = "mosquitto"

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        *,
        password_file: Path | None = None,
        acl_file: Path | None = None,
        extra_config: str = "",
    ) -> None:
        super().__init__(workdir, port)
        self.binary = require_binary(MOSQUITTO_BIN, "mosquitto")
        self.password_file = password_file
        self.acl_file = acl_file
        self.extra_config = extra_config
        self.conf_path = self.workdir / "mosquitto.conf"

    def _write_config(self) -> None:
        lines = [
            f"listener {self.port} {self.host}",
            f"allow_anonymous {'false' if self.password_file else 'true'}",
            "persistence true",
            f"persistence_location {self.workdir}/",
            # as in deploy/mosquitto: the default (1000) silently drops QoS 1 messages queued
            # for a subscriber that falls behind after an outage
            "max_queued_messages 100000",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            # as root mosquitto would switch to the 'mosquitto' user, which cannot read tmp dirs
            "user root",
        ]
        if self.password_file:
            lines.append(f"password_file {self.password_file}")
        if self.acl_file:
            lines.append(f"acl_file {self.acl_file}")
        self.conf_path.write_text("\n".join(lines) + "\n" + self.extra_config)

    def _command(self) -> list[str]:
        self._write_config()
        return [self.binary, "-c", str(self.conf_path)]


class VictoriaMetricsServer(_ProcessServer):
    """A private VictoriaMetrics accepting the InfluxDB v2 write API at ``/api/v2/write``.

    Deduplication at 1 ms gives InfluxDB's rule that a point with the same series and timestamp
    overwrites the earlier one (DESIGN §4), so replays are checked the way production behaves.
    """

    name = "victoria-metrics"

    def __init__(self, workdir: Path, port: int | None = None, *, dedup: bool = True) -> None:
        super().__init__(workdir, port)
        self.binary = require_binary(VICTORIA_BIN, "victoria-metrics")
        self.dedup = dedup

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _command(self) -> list[str]:
        cmd = [
            self.binary,
            f"-httpListenAddr={self.host}:{self.port}",
            f"-storageDataPath={self.workdir / 'data'}",
            "-retentionPeriod=100y",
            "-loggerLevel=ERROR",
        ]
        if self.dedup:
            cmd.append("-dedup.minScrapeInterval=1ms")
        return cmd

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=0.5) as resp:
                return resp.status == 200
        except OSError:
            return False

    def flush(self) -> None:
        """Make everything written so far visible to reads."""
        with urllib.request.urlopen(self.url + "/internal/force_flush", timeout=10):
            pass

    def export(self, match: str) -> list[dict]:
        """All raw samples of the series matching ``match`` (a PromQL series selector)."""
        self.flush()
        body = urllib.parse.urlencode({"match[]": match, "start": "0"}).encode()
        with urllib.request.urlopen(self.url + "/api/v1/export", data=body, timeout=30) as resp:
            return [json.loads(line) for line in resp.read().decode().splitlines() if line]


class MqttCollector:
    """A plain paho subscriber that records (topic, payload, retain) for assertions."""

    def __init__(
        self, host: str, port: int, topics: list[str], *, username: str | None = None,
        password: str | None = None, protocol: str = "3.1.1", client_id: str = "",
        clean: bool = True, timeout: float = 10.0,
    ) -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, bytes, bool]] = []
        # the DUP flag of each message, in the same order: set when the broker sends a message to
        # this client again (its own redelivery), clear for a message the broker got twice
        self.dup_flags: list[bool] = []
        self._closed = False
        self.granted: list[int] = []
        self._cond = threading.Condition()
        proto = mqtt.MQTTv5 if protocol == "5" else mqtt.MQTTv311
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=proto,
            clean_session=None if proto == mqtt.MQTTv5 else clean,
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        self._topics = topics
        self._subscribed = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.connect(host, port)
        self.client.loop_start()
        if not self._subscribed.wait(timeout):
            self.close()
            raise RuntimeError("collector could not subscribe")

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if not reason_code.is_failure:
            client.subscribe([(t, 1) for t in self._topics])

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        self.granted = [rc.value for rc in reason_codes]
        self._subscribed.set()

    def _on_message(self, client, userdata, message) -> None:
        with self._cond:
            self.messages.append((message.topic, message.payload, bool(message.retain)))
            self.dup_flags.append(bool(message.dup))
            self._cond.notify_all()

    def wait_for(self, predicate, timeout: float = 10.0) -> list[tuple[str, bytes, bool]]:
        """Wait until ``predicate(messages)`` is true; returns the matching snapshot."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.messages):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out; got {len(self.messages)} messages")
                self._cond.wait(left)
            return list(self.messages)

    def json_on(self, topic: str) -> list[dict]:
        with self._cond:
            return [json.loads(p) for t, p, _ in self.messages if t == topic and p]

    def close(self) -> None:
        """Disconnect (again is harmless, so a test's cleanup may close it too)."""
        if self._closed:
            return
        self._closed = True
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> MqttCollector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wait_until(predicate, timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``predicate()`` until true; AssertionError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)

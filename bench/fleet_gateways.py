"""Many simulated gateways in one process, for ``bench/fleet.py``: cheap per wearer, real rates.

Each wearer still has its own MQTT connection (client id ``gw-<user>``, as a real gateway), but
no thread of its own: one selector loop drives every paho client of the process through paho's
external-loop calls (``loop_read`` when its socket is readable, ``loop_write`` while it has
bytes queued, ``loop_misc`` once a second for keep-alives). The payloads come from numpy
blocks, a second ahead: per wearer a random walk of the three angles, turned into the daemon's
own angle payloads column by column (``alerts.mqtt.payloads.angles_payloads``).

Per wearer, as a real gateway: angles at 1 Hz, a status every 60 s, an episode end and its alert
every 180 s, all QoS 1 (optionally a 1 kB raw block per second, QoS 0). Wearers are spread evenly
over each second (gateways are not synchronised), and every payload is stamped with the moment
it is due, so lateness of this process shows up in the measured latency instead of hiding.

    python bench/fleet_gateways.py --port P --users a,b,c --duration 60 --start-at T

prints one JSON line: messages published and acknowledged, how late the loop ran, CPU seconds,
and for the ``--trace-users`` each angles message's due time, when ``publish`` was called and
when its bytes were handed to the socket.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import sys
import time

import numpy as np
import paho.mqtt.client as mqtt

from posturewatch.alerts.mqtt.payloads import (
    alert_payload,
    angles_payloads,
    encode,
    episode_payload,
    status_payload,
)
from posturewatch.alerts.records import Alert
from posturewatch.analytics.records import Episode, EpisodeEvent

NAMES = ("pelvic_tilt", "trunk_inclination", "thigh_inclination")
STATUS_EVERY_S, EPISODE_EVERY_S = 60, 180


class Fleet:
    """The paho clients of this process and the loop that drives them."""

    def __init__(self, port: int, users: list[str], raw: bool, traced: set[str] | None = None) -> None:
        self.users, self.raw = users, raw
        # per traced wearer's angles: [user, ts_ms, publish called, bytes handed to the socket]
        self.trace: list[list] = []
        self._unsent: dict[mqtt.Client, list[list]] = {}
        self._traced = {i for i, u in enumerate(users) if traced and u in traced}
        self.selector = selectors.DefaultSelector()
        self.clients: list[mqtt.Client] = []
        self.published = self.acked = self.refused = 0
        self.writers: set[mqtt.Client] = set()
        for user in users:
            c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"gw-{user}",
                            protocol=mqtt.MQTTv311, clean_session=True)
            c.max_inflight_messages_set(100)
            c.on_publish = self._on_publish
            c.connect("127.0.0.1", port, keepalive=60)
            self.selector.register(c.socket(), selectors.EVENT_READ, c)
            self.clients.append(c)
        self.raw_block = os.urandom(1024)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        self.acked += 1

    def pump(self, timeout: float) -> None:
        """One turn of the loop: read what arrived, write what is queued."""
        for key, _ in self.selector.select(timeout):
            key.data.loop_read()
        for c in list(self.writers):
            c.loop_write()
            if not c.want_write():
                self.writers.discard(c)
                if waiting := self._unsent.pop(c, None):
                    sent = time.time()
                    for entry in waiting:
                        entry[3] = sent

    def publish(self, i: int, topic: str, payload: bytes, qos: int = 1, ts_ms: int | None = None) -> None:
        c = self.clients[i]
        called = time.time()
        info = c.publish(f"posturewatch/{self.users[i]}/{topic}", payload, qos=qos)
        if ts_ms is not None and i in self._traced:
            entry = [self.users[i], ts_ms, called, called if not c.want_write() else 0.0]
            self.trace.append(entry)
            if c.want_write():
                self._unsent.setdefault(c, []).append(entry)
        if info.rc == mqtt.MQTT_ERR_SUCCESS:
            self.published += 1
        else:
            self.refused += 1
        if c.want_write():
            self.writers.add(c)

    def keepalive(self) -> None:
        for c in self.clients:
            c.loop_misc()

    @property
    def connected(self) -> int:
        return sum(c.is_connected() for c in self.clients)


def second_payloads(users: list[str], walk: np.ndarray, second: int, due: np.ndarray) -> list[bytes]:
    """The angle payloads of every wearer for one second (``due``: each wearer's send time)."""
    rows = angles_payloads(due, ["sitting"] * len(users),
                           {name: walk[:, second % walk.shape[1], k] for k, name in enumerate(NAMES)})
    return [encode(row) for row in rows]


def events(fleet: Fleet, i: int, second: int, now: float) -> None:
    """The wearer's occasional messages: status, and an episode with its alert."""
    phase = (second + i) % EPISODE_EVERY_S
    if (second + i) % STATUS_EVERY_S == 0:
        fleet.publish(i, "status", encode(status_payload(now, True, {
            "pelvis": {"connected": True, "battery_pct": 80.0, "rate_hz": 52.0, "loss_pct": 0.1}})))
    if phase == EPISODE_EVERY_S // 2:
        ep = Episode("posterior_tilt", now - 90, now - 30, now - 1, -20.0, -17.0)
        fleet.publish(i, "episodes", encode(episode_payload(EpisodeEvent("end", ep, now))))
        alert = Alert(f"{ep.id}-a0", ep.kind, "t", "m", "warning", now - 30, ep.id, ep.start)
        fleet.publish(i, "alerts", encode(alert_payload(alert)))
    if fleet.raw:
        fleet.publish(i, "raw", fleet.raw_block, qos=0)


def run(port: int, users: list[str], duration: float, start_at: float, raw: bool, seed: int,
        traced: set[str] | None = None) -> dict:
    fleet = Fleet(port, users, raw, traced)
    n = len(users)
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.normal(0.0, 0.5, (n, 600, 3)), axis=1) + np.array([-5.0, 3.0, 85.0])
    offsets = np.arange(n) / n  # wearers spread evenly over each second
    while time.time() < start_at - 0.5:
        fleet.pump(0.05)
    next_misc = time.time() + 1.0
    cpu0 = time.process_time()
    worst_late = 0.0
    seconds = int(duration)
    payloads = second_payloads(users, walk, 0, start_at + offsets)
    for second in range(seconds):
        due = start_at + second + offsets
        due_ms = np.round(due * 1000)  # the payload's ts_ms (the database's timestamp)
        upcoming = None
        for i in range(n):
            while (wait := due[i] - time.time()) > 0:
                if upcoming is None and i > n // 2 and second + 1 < seconds:  # next block while idle
                    upcoming = second_payloads(users, walk, second + 1, due + 1.0)
                    continue
                fleet.pump(min(wait, 0.01))
            worst_late = max(worst_late, -wait)
            fleet.publish(i, "angles", payloads[i], ts_ms=int(due_ms[i]))
            events(fleet, i, second, float(due[i]))
            if time.time() >= next_misc:
                fleet.keepalive()
                next_misc += 1.0
        fleet.pump(0)
        payloads = upcoming if upcoming is not None else second_payloads(users, walk, second + 1, due + 1.0)
    late = time.time() - (start_at + seconds)
    cpu = time.process_time() - cpu0
    deadline = time.time() + 30  # the last acknowledgements
    while fleet.acked < fleet.published - n * raw * seconds and time.time() < deadline:
        fleet.pump(0.05)
    unconnected = n - fleet.connected
    for c in fleet.clients:
        c.disconnect()
    fleet.pump(0.1)
    return {"published": fleet.published, "acked": fleet.acked, "refused": fleet.refused,
            "angles": n * seconds, "late_s": late, "worst_late_s": worst_late, "cpu_s": cpu,
            "unconnected": unconnected, "trace": fleet.trace}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--users", required=True)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--start-at", type=float, required=True)
    p.add_argument("--raw", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--trace-users", default="", help="wearers whose angles publishes are timed")
    a = p.parse_args(argv)
    traced = set(a.trace_users.split(",")) - {""}
    print(json.dumps(run(a.port, a.users.split(","), a.duration, a.start_at, a.raw, a.seed, traced)),
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

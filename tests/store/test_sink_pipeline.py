"""End to end on real servers: hub → outbox → Mosquitto → sink → VictoriaMetrics, with faults.

Outages are a few seconds standing in for minutes (``OUTAGE_S``). Afterwards nothing accepted
is missing and nothing is duplicated: every second, episode and alert is in the database once,
and the alert ids seen on MQTT are exactly the expected ones.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from servers import MqttCollector
from synthetic_stream import (
    SNOOZE_AT_S,
    SNOOZE_KINDS,
    SNOOZE_MIN,
    T0,
    blocks,
    episodes,
    expected_alert_episode_ids,
    expected_seconds,
)

from posturewatch.alerts.monitor import MonitorStep
from posturewatch.alerts.mqtt.commands import CommandService
from posturewatch.alerts.mqtt.link import MqttSettings
from posturewatch.alerts.mqtt.payloads import Topics
from posturewatch.alerts.mqtt.service import UserMqttService
from posturewatch.alerts.policy import AlertPolicy
from posturewatch.store.hub import OutputHub
from posturewatch.store.influx import InfluxSettings
from posturewatch.store.outbox import Outbox
from posturewatch.store.pumps import MqttPump
from posturewatch.store.sink import SinkWorker
from posturewatch.store.sqlite import SqliteStore

pytestmark = pytest.mark.slow  # end to end over minutes of data; `-m 'not slow'` skips it

OUTAGE_S = 2.0
DURATION_S = 2400


def series_samples(server, name: str, user: str) -> dict[int, float]:
    out: dict[int, float] = {}
    for series in server.export(f'{{__name__="{name}",user="{user}"}}'):
        for ts, v in zip(series["timestamps"], series["values"], strict=True):
            assert ts not in out, f"{name}: two samples at {ts}"
            out[ts] = v
    return out


def check_database(server, user: str) -> None:
    seconds = series_samples(server, "angles_posture_code", user)
    assert sorted(seconds) == [s * 1000 for s in expected_seconds(DURATION_S)]
    durations = series_samples(server, "episodes_duration_s", user)
    assert durations == {round(e.start * 1000): e.end - e.start for e in episodes()}
    alerts = series_samples(server, "alerts_delay_s", user)
    assert sorted(alerts.values()) == [60.0] * len(expected_alert_episode_ids())


def alert_ids(collector: MqttCollector, topic: str) -> list[str]:
    return [m["episode_id"] for m in collector.json_on(topic)]


def test_stream_survives_broker_and_database_outages(
    mosquitto_factory, victoria_factory, tmp_path, cleanup
):
    broker = mosquitto_factory()
    db = victoria_factory()
    user = "carol"
    topics = Topics(user)
    watcher = cleanup.enter_context(MqttCollector(
        broker.host, broker.port, [topics.alerts, topics.episodes], client_id="watcher", clean=False
    ))
    outbox = Outbox(tmp_path / "device-outbox.db", synchronous="NORMAL")
    policy = AlertPolicy()
    hub = OutputHub(user, outbox, influx=False,
                    sqlite=SqliteStore(tmp_path / "device.db"))
    # stopped in reverse order (service, pump, sink) when the stream is done or a check fails
    with contextlib.ExitStack() as running:
        sink = SinkWorker(
            MqttSettings(host=broker.host, port=broker.port),
            # one worker on a plain subscription: Mosquitto restores it after the restart below
            # (a shared one it does not: see store.sink)
            InfluxSettings(url=db.url, timeout_s=2), backoff_max_s=0.5, group="",
        )
        running.callback(sink.stop)
        assert sink.start(wait_s=10)
        service = UserMqttService(MqttSettings(host=broker.host, port=broker.port), topics,
                                  CommandService(policy))
        pump = MqttPump(outbox, service.link)
        running.callback(pump.stop)
        running.callback(service.close)
        pump.start()
        assert service.start(wait_s=10)
        all_blocks = list(blocks(DURATION_S))
        third = len(all_blocks) // 3
        for block in all_blocks:
            if block.index == third:  # the broker goes away mid-stream
                broker.stop()
            if block.index == third + 20:
                time.sleep(OUTAGE_S)
                assert outbox.pending("mqtt") > 0  # accepted, held while the broker is down
                broker.start()
            if block.index == 2 * third:  # then the database
                db.stop()
            if block.index == 2 * third + 20:
                time.sleep(OUTAGE_S)
                db.start()
            if block.now > T0 + SNOOZE_AT_S and policy._snooze_until < 0:
                policy.snooze(T0 + SNOOZE_AT_S, minutes=SNOOZE_MIN, kinds=SNOOZE_KINDS)
            alerts = policy.advance(block.events, block.now, hub.posture)
            hub.process(MonitorStep.of(block.t, block.angles, block.posture, block.events, alerts,
                                   complete_before=block.now))
        assert pump.wait_drained(60), f"{outbox.pending('mqtt')} messages still queued"
        want = {"angles": DURATION_S, "episodes": 2 * len(episodes()),
                "alerts": len(expected_alert_episode_ids())}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(
            sink.received[k] < n for k, n in want.items()
        ):
            time.sleep(0.1)
        assert sink.wait_idle(60)
    assert sink.stats["bad"] == 0
    assert sum(policy.suppressed.values()) >= 2
    assert policy.suppressed["cooldown"] >= 1 and policy.suppressed["snoozed"] >= 1
    check_database(db, user)
    # over MQTT: every expected alert arrived, nothing else (redeliveries carry the same id)
    ids = alert_ids(watcher, topics.alerts)
    assert set(ids) == expected_alert_episode_ids()
    local = SqliteStore(tmp_path / "device.db").alerts_on(user, "2024-03-04")
    assert sorted(a["episode_id"] for a in local) == sorted(expected_alert_episode_ids())


def test_writer_killed_with_sigkill_resumes_without_loss_or_duplicates(
    mosquitto_factory, victoria_factory, tmp_path, cleanup
):
    broker = mosquitto_factory()
    db = victoria_factory()
    user = "dave"
    topics = Topics(user)
    watcher = cleanup.enter_context(
        MqttCollector(broker.host, broker.port, [topics.alerts], client_id="w2", clean=False)
    )
    script = Path(__file__).with_name("writer_proc.py")
    common = [sys.executable, str(script), "--user", user, "--dir", str(tmp_path),
              "--mqtt-port", str(broker.port), "--influx-url", db.url,
              "--duration", str(DURATION_S)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    first = cleanup.enter_context(
        subprocess.Popen([*common, "--block-delay", "0.01"], stdout=subprocess.PIPE, env=env)
    )
    cleanup.callback(first.kill)  # runs before the Popen exit waits for it: no orphan on failure
    last = -1
    for line in first.stdout:
        last = int(line.split()[1])
        if last >= 60:  # a minute or so of data accepted: kill it mid-stream
            os.kill(first.pid, signal.SIGKILL)
            break
    rest = first.stdout.read().decode().split()
    first.wait()
    accepted = [int(x) for x in rest if x.isdigit()]
    last = max([last, *accepted])
    assert first.returncode == -signal.SIGKILL and last < DURATION_S // 5 - 1
    second = subprocess.run([*common, "--resume", str(last + 1)], capture_output=True, timeout=300,
                            env=env)
    assert second.returncode == 0, second.stdout.decode()[-500:] + second.stderr.decode()[-2000:]
    assert second.stdout.decode().split()[-1] == "drained"
    check_database(db, user)
    watcher.wait_for(lambda m: len(m) >= len(expected_alert_episode_ids()))
    time.sleep(0.5)
    ids = alert_ids(watcher, topics.alerts)
    assert set(ids) == expected_alert_episode_ids()
    payloads = {}
    for message in watcher.json_on(topics.alerts):
        payloads.setdefault(message["id"], message)
        assert payloads[message["id"]] == message  # a redelivery is the same message
    store = SqliteStore(tmp_path / "store.db")
    rows = store.episodes_on(user, "2024-03-04")
    assert sorted(r["id"] for r in rows) == sorted(e.id for e in episodes())
    assert len(store.angles_on(user, "2024-03-04")) == DURATION_S

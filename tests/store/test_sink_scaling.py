"""Sink workers on one shared subscription, on real Mosquitto and VictoriaMetrics.

A stream of angle messages (one per second of three wearers, the value = its index so a mix-up
shows) goes through 2 or 3 `posturewatch sink` processes of one group. The checks: every message
is in the database exactly once, the workers split the stream and together received each message
once; a worker SIGKILLed mid-stream and restarted under its id loses nothing; a database outage
holds the acknowledgements back and then writes every message once. Sizes and the outage length
are parameters, kept small for CI.
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from signal import SIGTERM, SIGUSR1

import pytest
from servers import MqttCollector
from sink_procs import SinkProcess

from posturewatch.alerts.mqtt.link import MqttSettings
from posturewatch.alerts.mqtt.payloads import angles_payload, encode
from posturewatch.store.influx import InfluxSettings
from posturewatch.store.sink import SinkWorker

T0 = 1_709_553_600.0
USERS = 3
# the fault suite's scale (tests/faults/faultkit.py): 1 in CI, larger in a bench run
SCALE = float(os.environ.get("POSTUREWATCH_FAULT_SCALE", "1"))
STREAM_MESSAGES = int(600 * SCALE)  # per test; each is one (wearer, second)
OUTAGE_S = 3.0 * SCALE


def stream(tag: str, n: int) -> list[tuple[str, bytes, int]]:
    """(topic, payload, timestamp ms) of message i: wearer i % USERS, second i // USERS."""
    out = []
    for i in range(n):
        user, second = f"{tag}u{i % USERS}", i // USERS
        ts = T0 + second
        out.append((f"posturewatch/{user}/angles",
                    encode(angles_payload(ts, "sitting", {"pelvic_tilt": float(i)})),
                    round(ts * 1000)))
    return out


def publish(
    broker, messages, pause_every: int = 0, pause_s: float = 0.0,
    third_sent: threading.Event | None = None,
) -> None:
    pub = MqttCollector(broker.host, broker.port, ["unused/none"])
    try:
        infos = []
        for i, (topic, body, _) in enumerate(messages):
            infos.append(pub.client.publish(topic, body, qos=1))
            if pause_every and i % pause_every == pause_every - 1:
                time.sleep(pause_s)
            if third_sent is not None and i == len(messages) // 3:
                third_sent.set()
        for info in infos:
            info.wait_for_publish(30)
    finally:
        pub.close()


def stored(db, tag: str) -> dict[tuple[str, int], list[float]]:
    """(user, timestamp ms) → every value stored there (more than one = a duplicate)."""
    out: dict[tuple[str, int], list[float]] = {}
    for series in db.export(f'{{__name__="angles_pelvic_tilt",user=~"{tag}u.*"}}'):
        user = series["metric"]["user"]
        for ts, value in zip(series["timestamps"], series["values"], strict=True):
            out.setdefault((user, ts), []).append(value)
    return out


def expected(tag: str, messages) -> dict[tuple[str, int], list[float]]:
    return {
        (f"{tag}u{i % USERS}", ts): [float(i)] for i, (_, _, ts) in enumerate(messages)
    }


def wait_stored(db, tag: str, n: int, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        got = stored(db, tag)
        if sum(len(v) for v in got.values()) >= n or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


def start_workers(broker, db, tag: str, indexes, cleanup, *extra: str) -> dict[int, SinkProcess]:
    workers = {}
    for i in indexes:
        workers[i] = start_worker(broker, db, tag, i, cleanup, *extra)
    for worker in workers.values():
        worker.wait_subscribed()
    return workers


def start_worker(broker, db, tag, index, cleanup, *extra) -> SinkProcess:
    worker = SinkProcess(broker.host, broker.port, db.url, "--mqtt-user", "", "--group", f"g{tag}",
                         "--shard", tag, "--worker", str(index), *extra)
    cleanup.callback(worker.close)
    return worker


@pytest.mark.parametrize("n_workers", [2, 3])
def test_workers_split_the_stream_with_nothing_lost_or_doubled(
    n_workers, mosquitto_factory, victoria_factory, cleanup
):
    broker = mosquitto_factory()
    db = victoria_factory(dedup=False)  # a second write of a point would show as a second sample
    tag = f"s{uuid.uuid4().hex[:6]}"
    messages = stream(tag, STREAM_MESSAGES)
    workers = start_workers(broker, db, tag, range(n_workers), cleanup)
    publish(broker, messages)
    got = wait_stored(db, tag, len(messages))
    figures = [w.finish() for w in workers.values()]
    assert got == expected(tag, messages)
    received = [f["received"] for f in figures]
    print(f"{n_workers} workers received {received} of {len(messages)}")
    assert sum(received) == len(messages)  # each message went to exactly one worker
    assert all(r > 0 for r in received)  # and every worker took part
    assert [f["acked"] for f in figures] == received


@pytest.mark.slow
def test_a_killed_worker_restarted_under_its_id_loses_nothing(
    mosquitto_factory, victoria_factory, cleanup
):
    broker = mosquitto_factory()
    db = victoria_factory()  # as in production: a redelivered point overwrites itself
    tag = f"k{uuid.uuid4().hex[:6]}"
    messages = stream(tag, 2 * STREAM_MESSAGES)
    workers = start_workers(broker, db, tag, [0, 2], cleanup)
    # worker 1 waits long to fill its batch: when it is killed, all it received is unacknowledged
    workers[1] = start_workers(broker, db, tag, [1], cleanup, "--linger", "60", "--batch", "5000")[1]
    third_sent = threading.Event()
    publisher = threading.Thread(target=publish, args=(broker, messages, 20, 0.05, third_sent))
    publisher.start()
    cleanup.callback(publisher.join)
    assert third_sent.wait(60)
    deadline = time.monotonic() + 30
    while progress(workers[1])[0] < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    workers[1].kill()  # SIGKILL mid-stream
    held, written = progress(workers[1])
    assert held >= 20 and written == 0, workers[1].output[-300:]
    time.sleep(1.0)  # the stream goes on without it; its share waits in its session
    restarted = start_worker(broker, db, tag, 1, cleanup)
    publisher.join()
    got = wait_stored(db, tag, len(messages))
    figures = [workers[0].finish(), restarted.finish(), workers[2].finish()]
    missing = set(expected(tag, messages)) - set(got)
    assert not missing, f"{len(missing)} messages lost, e.g. {sorted(missing)[:5]}"
    assert got == expected(tag, messages)
    received = [f["received"] for f in figures]
    print(f"killed worker held {held} unacknowledged; then received {received} "
          f"(survivors and the restarted worker) of {len(messages)}")
    # what the killed worker held came back to its successor once, and nothing else twice
    assert sum(received) == len(messages) and received[1] >= held


def progress(worker: SinkProcess) -> tuple[int, int]:
    """(received, written) from the worker's last progress line; (0, 0) before the first."""
    found = re.findall(r"received\s+(\d+)\s+written\s+(\d+)", worker.output)
    return (int(found[-1][0]), int(found[-1][1])) if found else (0, 0)


def test_database_outage_holds_acks_then_writes_once(
    mosquitto_factory, victoria_factory, cleanup, outage_s=OUTAGE_S
):
    broker = mosquitto_factory()
    db = victoria_factory(dedup=False)
    tag = f"d{uuid.uuid4().hex[:6]}"
    messages = stream(tag, STREAM_MESSAGES // 2)
    sink = SinkWorker(
        MqttSettings(host=broker.host, port=broker.port, client_id=f"sink-{tag}-0"),
        InfluxSettings(url=db.url, timeout_s=1), group=f"g{tag}", backoff_max_s=0.5,
    )
    cleanup.callback(sink.stop)
    assert sink.start(wait_s=10)
    first, rest = messages[:30], messages[30:]
    publish(broker, first)
    assert sink.wait_idle(30) and sink.acked == len(first)
    db.stop()
    publish(broker, rest)
    time.sleep(outage_s)
    during = dict(sink.stats)
    print(f"during a {outage_s} s outage: {during['pending']} of {len(rest)} held unacknowledged, "
          f"{during['write_retries']} write attempts")
    assert during["acked"] == len(first)  # nothing acknowledged while nothing could be written
    assert during["pending"] > 0 and during["write_retries"] > 0
    db.start()
    assert sink.wait_idle(60)
    assert sink.acked == len(messages) and sink.written_messages == len(messages)
    got = stored(db, tag)
    assert got == expected(tag, messages)  # every one there, each written once


@pytest.mark.parametrize("leave_option, signal, status", [
    (["--leave"], SIGTERM, 0),  # leaves on any exit
    ([], SIGUSR1, 4),  # leaves when told to: exit 4, which systemd does not restart
])
def test_a_worker_that_leaves_hands_its_share_to_the_others(
    leave_option, signal, status, mosquitto_factory, victoria_factory, cleanup
):
    broker = mosquitto_factory()
    db = victoria_factory(dedup=False)
    tag = f"l{uuid.uuid4().hex[:6]}"
    messages = stream(tag, STREAM_MESSAGES)
    half = len(messages) // 2
    staying = start_workers(broker, db, tag, [0], cleanup)[0]
    leaving = start_workers(broker, db, tag, [1], cleanup, *leave_option)[1]
    publish(broker, messages[:half])
    wait_stored(db, tag, half)
    # scaled down for good: its session must not collect a share any more
    left = leaving.finish(sig=signal, status=status)
    publish(broker, messages[half:])
    got = wait_stored(db, tag, len(messages))
    stayed = staying.finish()
    assert got == expected(tag, messages)
    assert 0 < left["received"] <= half and left["acked"] == left["received"]
    assert stayed["received"] + left["received"] == len(messages)

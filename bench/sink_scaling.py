"""Throughput of the central sink with 1, 2 and 3 workers on one shared subscription.

Starts a private Mosquitto and VictoriaMetrics (the Debian binaries, as the tests do), then for
each worker count: starts that many `posturewatch sink` processes in one group, publishes
``--messages`` angle messages as fast as one QoS 1 publisher can, and times until the workers
report every message written (synchronous writes, acknowledged after each batch). The reference,
measured in the same run, is the publisher alone against the same broker with no subscriber: the
printed ratios say how close the sink comes to what the broker accepts, and what each added
worker buys on this machine (on a machine whose cores are shared, expect little).

    .venv/bin/python bench/sink_scaling.py --messages 20000
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
import uuid
from pathlib import Path

# the private-server helpers live with the tests
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from servers import MosquittoServer, MqttCollector, VictoriaMetricsServer  # noqa: E402
from sink_procs import SinkProcess  # noqa: E402

from posturewatch.alerts.mqtt.payloads import angles_payload, encode  # noqa: E402

T0 = 1_709_553_600.0
WRITTEN = re.compile(r"written\s+(\d+)")


def messages(tag: str, n: int) -> list[tuple[str, bytes]]:
    return [(f"posturewatch/{tag}u{i % 50}/angles",
             encode(angles_payload(T0 + i // 50, "sitting", {"pelvic_tilt": float(i % 90)})))
            for i in range(n)]


def publish(broker, batch) -> float:
    pub = MqttCollector(broker.host, broker.port, ["unused/none"])
    started = time.perf_counter()
    infos = [pub.client.publish(topic, body, qos=1) for topic, body in batch]
    for info in infos:
        info.wait_for_publish(120)
    elapsed = time.perf_counter() - started
    pub.close()
    return elapsed


def written(worker: SinkProcess) -> int:
    found = WRITTEN.findall(worker.output)
    return int(found[-1]) if found else 0


def run_workers(broker, db, count: int, n: int) -> float:
    tag = f"b{uuid.uuid4().hex[:6]}"
    workers = [SinkProcess(broker.host, broker.port, db.url, "--mqtt-user", "", "--group", tag,
                           "--shard", tag, "--worker", str(i), "--batch", "1000") for i in range(count)]
    try:
        for worker in workers:
            worker.wait_subscribed()
        started = time.perf_counter()
        publish(broker, messages(tag, n))
        while sum(written(w) for w in workers) < n:
            time.sleep(0.05)
        return time.perf_counter() - started
    finally:
        for worker in workers:
            worker.finish()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, \
            MosquittoServer(Path(tmp) / "mosquitto") as broker, \
            VictoriaMetricsServer(Path(tmp) / "victoria") as db:
        reference = publish(broker, messages("ref", args.messages))
        print(f"reference: one publisher, no subscriber: {args.messages / reference:8.0f} msg/s")
        first = None
        for count in args.workers:
            elapsed = run_workers(broker, db, count, args.messages)
            rate = args.messages / elapsed
            first = first or rate
            print(f"{count} worker(s): {rate:8.0f} msg/s stored  = {rate * reference / args.messages:.2f}"
                  f" × reference, {rate / first:.2f} × one worker")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`posturewatch sink`: the central worker that stores every wearer's MQTT data in InfluxDB.

Secrets can come from the environment instead of the command line:
``POSTUREWATCH_MQTT_PASSWORD`` and ``POSTUREWATCH_INFLUX_TOKEN``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time

HELP = "central worker: MQTT → InfluxDB"


def configure(parser: argparse.ArgumentParser) -> None:
    mq = parser.add_argument_group("MQTT")
    mq.add_argument("--mqtt-host", default="localhost")
    mq.add_argument("--mqtt-port", type=int, default=1883)
    mq.add_argument("--mqtt-user", default="posturewatch-sink")
    mq.add_argument("--mqtt-password", default=os.environ.get("POSTUREWATCH_MQTT_PASSWORD"))
    mq.add_argument("--mqtt-protocol", choices=("auto", "5", "3.1.1"), default="auto")
    mq.add_argument("--tls", action="store_true", help="connect with TLS")
    mq.add_argument("--ca-file", help="CA certificate to verify the broker")
    mq.add_argument("--client-id", default="posturewatch-sink", help="persistent session id")
    mq.add_argument("--prefix", default="posturewatch", help="topic prefix")
    db = parser.add_argument_group("InfluxDB")
    db.add_argument("--influx-url", default="http://localhost:8086")
    db.add_argument("--influx-token", default=os.environ.get("POSTUREWATCH_INFLUX_TOKEN", ""))
    db.add_argument("--org", default="posturewatch")
    db.add_argument("--bucket", default="posturewatch")
    parser.add_argument(
        "--outbox", default=os.path.expanduser("~/.local/state/posturewatch/sink-outbox.db"),
        help="durable queue in front of InfluxDB (default: %(default)s)",
    )
    parser.add_argument(
        "--duration", type=float, default=0.0, help="stop after this many seconds (0 = run until signalled)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress line")


def run(args: argparse.Namespace) -> int:
    from posturewatch.alerts.mqtt.link import MqttSettings
    from posturewatch.store.influx import InfluxSettings
    from posturewatch.store.sink import SinkWorker

    worker = SinkWorker(
        MqttSettings(
            host=args.mqtt_host, port=args.mqtt_port, username=args.mqtt_user or None,
            password=args.mqtt_password, tls=args.tls or bool(args.ca_file), ca_certs=args.ca_file,
            client_id=args.client_id, protocol=args.mqtt_protocol,
        ),
        InfluxSettings(url=args.influx_url, token=args.influx_token, org=args.org, bucket=args.bucket),
        args.outbox,
        prefix=args.prefix,
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    worker.start()
    started = time.monotonic()
    try:
        while not stop.wait(1.0):
            if not args.quiet:
                _progress(worker, time.monotonic() - started)
            if args.duration and time.monotonic() - started >= args.duration:
                break
    finally:
        worker.stop()
    s = worker.stats
    if not args.quiet:
        print(file=sys.stderr)
    print(
        f"sink: received {s['received']} messages, wrote {s['written_lines']} lines, "
        f"{s['duplicates']} duplicates skipped, {s['bad']} bad ({dict(worker.bad)}), "
        f"{s['pending']} still queued in {args.outbox}",
        file=sys.stderr,
    )
    return 0


def _progress(worker, elapsed: float) -> None:
    s = worker.stats
    state = "connected" if worker.link.connected else "connecting"
    print(
        f"\rsink {elapsed:7.0f}s  mqtt {state:10s} received {s['received']:8d}  "
        f"written {s['written_lines']:8d}  queued {s['pending']:6d}  bad {s['bad']:4d}",
        end="", file=sys.stderr, flush=True,
    )
